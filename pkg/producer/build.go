package producer

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/source"
)

// Email headers the producer sets for one-click unsubscribe (RFC 8058).
const (
	HeaderListUnsubscribe     = "List-Unsubscribe"
	HeaderListUnsubscribePost = "List-Unsubscribe-Post"
	OneClickValue             = "List-Unsubscribe=One-Click"
)

// Placeholders of --unsubscribe-url, replaced URL-escaped per user.
const (
	PlaceholderUserID = "{{user_id}}"
	PlaceholderEmail  = "{{email}}"
)

// builder makes the job of a valid row; everything but the row is fixed for
// the run.
type builder struct {
	cfg     *PublishConfig
	created time.Time
	expires *time.Time
}

func newBuilder(cfg *PublishConfig, now time.Time) *builder {
	b := &builder{cfg: cfg, created: now.UTC()}
	if !cfg.ExpiresAt.IsZero() {
		e := cfg.ExpiresAt.UTC()
		b.expires = &e
	}
	return b
}

func (b *builder) build(row *source.Row) *job.Job {
	j := &job.Job{
		Version:          job.SchemaVersion,
		Campaign:         b.cfg.Campaign,
		UserID:           row.UserID,
		Email:            row.Email,
		Template:         b.cfg.Template,
		Data:             row.Data,
		From:             b.cfg.From,
		ConfigurationSet: b.cfg.ConfigurationSet,
		CreatedAt:        b.created,
		ExpiresAt:        b.expires,
	}
	if b.cfg.UnsubscribeURL != "" {
		j.Headers = map[string]string{
			HeaderListUnsubscribe:     "<" + UnsubscribeURL(b.cfg.UnsubscribeURL, row.UserID, row.Email) + ">",
			HeaderListUnsubscribePost: OneClickValue,
		}
	}
	return j
}

// UnsubscribeURL fills the placeholders of tmpl with the user's id and
// email, escaped so that they are safe in a path segment or a query value.
func UnsubscribeURL(tmpl, userID, email string) string {
	s := strings.ReplaceAll(tmpl, PlaceholderUserID, urlEscape(userID))
	return strings.ReplaceAll(s, PlaceholderEmail, urlEscape(email))
}

// urlEscape escapes everything but unreserved characters; a space is %20,
// which means a space in a path and in a query alike.
func urlEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// checkUnsubscribeURL says what is wrong with an --unsubscribe-url template.
func checkUnsubscribeURL(tmpl string) error {
	if !strings.Contains(tmpl, PlaceholderUserID) && !strings.Contains(tmpl, PlaceholderEmail) {
		return fmt.Errorf("--unsubscribe-url %q must contain %s or %s, so that the one-click POST says who unsubscribes", tmpl, PlaceholderUserID, PlaceholderEmail)
	}
	u, err := url.Parse(UnsubscribeURL(tmpl, "u", "u@example.com"))
	if err != nil {
		return fmt.Errorf("--unsubscribe-url %q: %w", tmpl, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--unsubscribe-url %q must be an absolute https:// URL (mailbox providers require https for one-click unsubscribe)", tmpl)
	}
	if strings.ContainsAny(tmpl, "<>\r\n ") {
		return fmt.Errorf("--unsubscribe-url %q must not contain spaces, angle brackets or line breaks", tmpl)
	}
	return nil
}
