package producer

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/pseudonym"
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
	// PlaceholderToken is pseudonym.UnsubscribeToken(key, campaign, user
	// id): the unsubscribe endpoint checks it, so that a link cannot be
	// made up for a guessable user id (--unsubscribe-key-file).
	PlaceholderToken = "{{token}}"
	// PlaceholderCampaign is the campaign id, so that one endpoint can
	// verify the {{token}} of every campaign (a date-named campaign,
	// --campaign-from-date, is not known when the URL is written).
	PlaceholderCampaign = "{{campaign}}"
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
			HeaderListUnsubscribe:     "<" + unsubscribeLink(b.cfg, row.UserID, row.Email) + ">",
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

// unsubscribeLink is the user's unsubscribe URL, {{token}} included.
func unsubscribeLink(cfg *PublishConfig, userID, email string) string {
	u := UnsubscribeURL(cfg.UnsubscribeURL, userID, email)
	u = strings.ReplaceAll(u, PlaceholderCampaign, urlEscape(cfg.Campaign))
	if strings.Contains(u, PlaceholderToken) {
		u = strings.ReplaceAll(u, PlaceholderToken, pseudonym.UnsubscribeToken(cfg.UnsubscribeKey, cfg.Campaign, userID))
	}
	return u
}

// UnsubscribeWarning is the warning to log for an --unsubscribe-url without
// {{token}}, or "".
func UnsubscribeWarning(cfg *PublishConfig) string {
	if cfg.UnsubscribeURL == "" || strings.Contains(cfg.UnsubscribeURL, PlaceholderToken) {
		return ""
	}
	return "--unsubscribe-url has no {{token}}: anyone can unsubscribe a guessable user id; add {{token}} and --unsubscribe-key-file, and check the token at the endpoint"
}

// checkUnsubscribeURL says what is wrong with an --unsubscribe-url template;
// haveKey says whether --unsubscribe-key-file was given.
func checkUnsubscribeURL(tmpl string, haveKey bool) error {
	hasToken := strings.Contains(tmpl, PlaceholderToken)
	switch {
	case hasToken && !haveKey:
		return fmt.Errorf("--unsubscribe-url %q has %s: give the key that signs it with --unsubscribe-key-file (or SENDONCE_UNSUBSCRIBE_KEY_FILE)", tmpl, PlaceholderToken)
	case haveKey && !hasToken:
		return fmt.Errorf("--unsubscribe-key-file is set but --unsubscribe-url %q has no %s: add it, so that the endpoint can check who unsubscribes", tmpl, PlaceholderToken)
	}
	if !strings.Contains(tmpl, PlaceholderUserID) && !strings.Contains(tmpl, PlaceholderEmail) {
		return fmt.Errorf("--unsubscribe-url %q must contain %s or %s, so that the one-click POST says who unsubscribes", tmpl, PlaceholderUserID, PlaceholderEmail)
	}
	u, err := url.Parse(strings.ReplaceAll(UnsubscribeURL(tmpl, "u", "u@example.com"), PlaceholderCampaign, "c"))
	if err != nil {
		return fmt.Errorf("--unsubscribe-url %q: %w", tmpl, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--unsubscribe-url %q must be an absolute https:// URL (mailbox providers require https for one-click unsubscribe)", tmpl)
	}
	if strings.ContainsAny(tmpl, "<>\r\n ") {
		return fmt.Errorf("--unsubscribe-url %q must not contain spaces, angle brackets or line breaks", tmpl)
	}
	return nil
}
