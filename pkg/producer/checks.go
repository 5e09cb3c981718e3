package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/source"
)

// CheckSES is what the pre-flight checks of publish ask SES; *ses.Client
// has it.
type CheckSES interface {
	// Template returns an error wrapping ses.ErrTemplateNotFound when the
	// template does not exist.
	Template(ctx context.Context, name string) error
	// Render renders the template with templateData (TestRenderEmailTemplate).
	Render(ctx context.Context, template, templateData string) (string, error)
	// IdentityVerified says whether the address or its domain is verified
	// for sending; ses.ErrNotImplemented when the endpoint cannot say.
	IdentityVerified(ctx context.Context, from string) (bool, error)
}

// ErrCheckFailed wraps the error of every failed pre-flight check: nothing
// was published.
var ErrCheckFailed = errors.New("pre-flight check failed, nothing published")

// CheckOptions adjust the pre-flight checks.
type CheckOptions struct {
	// SkipIdentity skips the From identity check (--skip-identity-check),
	// for a role without ses:GetEmailIdentity.
	SkipIdentity bool
	// MaxPeek bounds the rows read to find the first valid one (default
	// 1000); with none among them the render check is skipped, with a
	// warning.
	MaxPeek int
	Log     *slog.Logger // nil: discard
}

// Check runs publish's pre-flight checks, before anything is published:
// the template exists (GetEmailTemplate), the From address or its domain is
// verified for sending (GetEmailIdentity), and the template renders for the
// first valid row of src with that row's variables (TestRenderEmailTemplate).
//
// It reads src up to its first valid row and returns a reader that yields
// every row again from the first, so that the caller publishes all of them;
// use it instead of src. A failed check wraps ErrCheckFailed and names the fix.
func Check(ctx context.Context, cfg *PublishConfig, src source.Reader, api CheckSES, o CheckOptions) (source.Reader, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.MaxPeek <= 0 {
		o.MaxPeek = 1000
	}
	if err := api.Template(ctx, cfg.Template); err != nil {
		if errors.Is(err, ses.ErrTemplateNotFound) {
			return src, fmt.Errorf("%w: --template %q does not exist in SES (this account and region): create it (aws sesv2 create-email-template) or fix --template: %w", ErrCheckFailed, cfg.Template, err)
		}
		return src, fmt.Errorf("%w: looking up --template %q in SES (check AWS_REGION and the credentials, and that the producer may call ses:GetEmailTemplate; or pass --skip-ses-checks): %w", ErrCheckFailed, cfg.Template, err)
	}
	identity, err := checkIdentity(ctx, cfg, api, o.SkipIdentity, log)
	if err != nil {
		return src, err
	}

	rs := &replaySource{Reader: src}
	row, found, err := rs.peekValid(ctx, o.MaxPeek)
	if err != nil {
		return rs, fmt.Errorf("reading source %s: %w", cfg.Source, err)
	}
	if !found {
		log.Warn("no valid row among the first rows of the source: the template was not test-rendered", "rows_read", len(rs.rows))
		return rs, nil
	}
	j := newBuilder(cfg, time.Now()).build(&row)
	if _, err := api.Render(ctx, cfg.Template, orEmpty(j.Data)); err != nil {
		return rs, fmt.Errorf("%w: --template %q does not render for row %d (user %q) with its variables %s: add the missing column to the source or fix the template (see producer preview): %w",
			ErrCheckFailed, cfg.Template, row.Num, truncateID(row.UserID), variableNames(j.Data), err)
	}
	log.Info("pre-flight checks passed: the template exists and renders", "template", cfg.Template, "rendered_row", row.Num, "from_identity", identity)
	return rs, nil
}

// checkIdentity checks the From identity and says what it found: verified,
// or not checked (skipped, or the endpoint cannot say).
func checkIdentity(ctx context.Context, cfg *PublishConfig, api CheckSES, skip bool, log *slog.Logger) (string, error) {
	const unchecked = "not checked"
	if skip {
		log.Warn("--skip-identity-check: the From identity was not checked; an unverified one fails every send")
		return unchecked, nil
	}
	addr, err := mail.ParseAddress(cfg.From)
	if err != nil { // Validate parsed it already
		return "", fmt.Errorf("%w: --from %q: %w", ErrCheckFailed, cfg.From, err)
	}
	ok, err := api.IdentityVerified(ctx, addr.Address)
	switch {
	case errors.Is(err, ses.ErrNotImplemented):
		log.Warn("the SES endpoint does not implement GetEmailIdentity (the local emulator aws-ses-v2-local does not): the From identity was not checked", "err", err)
		return unchecked, nil
	case err != nil:
		return "", fmt.Errorf("%w: checking the From identity %q in SES: give the producer's role ses:GetEmailIdentity, or pass --skip-identity-check: %w", ErrCheckFailed, addr.Address, err)
	case !ok:
		return "", fmt.Errorf("%w: the From address %q and its domain are not verified for sending in SES (this account and region): verify one of them (aws sesv2 create-email-identity) or fix --from", ErrCheckFailed, addr.Address)
	}
	return "verified", nil
}

// variableNames lists the keys of the template data, for the message of a
// failed render.
func variableNames(data []byte) string {
	var m map[string]json.RawMessage
	if len(data) == 0 || json.Unmarshal(data, &m) != nil {
		return "{}"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return "{" + strings.Join(names, ", ") + "}"
}

// replaySource hands out the rows read ahead, then the rest of the source.
type replaySource struct {
	source.Reader
	rows []source.Row
	end  error // what the source returned when the read-ahead stopped
}

// peekValid reads ahead until the first row that CheckRow accepts, at most
// max rows.
func (r *replaySource) peekValid(ctx context.Context, max int) (source.Row, bool, error) {
	for len(r.rows) < max {
		row, err := r.Reader.Next(ctx)
		if errors.Is(err, io.EOF) {
			r.end = err
			return source.Row{}, false, nil
		}
		if err != nil {
			return source.Row{}, false, err
		}
		r.rows = append(r.rows, row)
		if reason, _ := CheckRow(&row); reason == "" {
			return row, true, nil
		}
	}
	return source.Row{}, false, nil
}

func (r *replaySource) Next(ctx context.Context) (source.Row, error) {
	if len(r.rows) > 0 {
		row := r.rows[0]
		r.rows = r.rows[1:]
		return row, nil
	}
	if r.end != nil {
		return source.Row{}, r.end
	}
	return r.Reader.Next(ctx)
}
