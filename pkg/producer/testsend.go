package producer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/source"
)

// TestTag is the SES EmailTag of every test send (test=true), so that its
// events and metrics can be told from the campaign's.
const TestTag = "test"

// TestSendSES is what test-send asks SES; *ses.Client has it.
type TestSendSES interface {
	Render(ctx context.Context, template, templateData string) (string, error)
	Send(ctx context.Context, m ses.Message) (string, error)
}

// TestSendResult is one test send.
type TestSendResult struct {
	Row       int
	Job       *job.Job // the user's job, as publish would build it
	To        string   // where the test email went instead of Job.Email
	MessageID string
}

// TestSend finds userID in src, builds its job exactly as Publish would,
// renders it (TestRenderEmailTemplate, so that a template that does not
// render fails here rather than asynchronously in SES) and sends it to to
// instead of the user's address, tagged test=true. It goes around the
// fence and the ledger: the user can still be sent the campaign.
func TestSend(ctx context.Context, cfg PublishConfig, src source.Reader, userID, to string, api TestSendSES) (TestSendResult, error) {
	row, j, err := findUser(ctx, &cfg, src, userID)
	if err != nil {
		return TestSendResult{}, err
	}
	data := orEmpty(j.Data)
	if _, err := api.Render(ctx, cfg.Template, data); err != nil {
		return TestSendResult{}, fmt.Errorf("rendering template %q for user %q (does it exist, and does the row have every variable it uses? see producer preview): %w", cfg.Template, userID, err)
	}
	id, err := api.Send(ctx, ses.Message{
		From: cfg.From, To: to, Template: cfg.Template, TemplateData: data,
		ConfigurationSet: cfg.ConfigurationSet, Headers: j.Headers,
		Tags: map[string]string{"campaign": cfg.Campaign, TestTag: "true"},
	})
	if err != nil {
		return TestSendResult{}, fmt.Errorf("sending the test email of user %q to %s: %w", userID, to, err)
	}
	return TestSendResult{Row: row.Num, Job: j, To: to, MessageID: id}, nil
}

// findUser reads src up to userID's row and builds its job.
func findUser(ctx context.Context, cfg *PublishConfig, src source.Reader, userID string) (source.Row, *job.Job, error) {
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return source.Row{}, nil, fmt.Errorf("%w: no row of %s has user_id %q", ErrUserNotFound, cfg.Source, userID)
		}
		if err != nil {
			return source.Row{}, nil, fmt.Errorf("reading source %s: %w", cfg.Source, err)
		}
		if row.Err != nil || row.UserID != userID {
			continue
		}
		if reason, detail := CheckRow(&row); reason != "" {
			return source.Row{}, nil, fmt.Errorf("row %d of user %q would be rejected (%s): %s", row.Num, userID, reason, detail)
		}
		return row, newBuilder(cfg, time.Now()).build(&row), nil
	}
}

// WriteText prints what was sent where, and the message id.
func (r TestSendResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "test email of user %s (row %d, campaign %s, template %s) sent to %s, tagged %s=true\nmessage id: %s\n",
		r.Job.UserID, r.Row, r.Job.Campaign, r.Job.Template, r.To, TestTag, r.MessageID)
	return err
}

// TestSendCommand is the configuration of `producer test-send`.
type TestSendCommand struct {
	Common config.Common
	PublishConfig
	Source     SourceFlags
	User       string
	To         string
	Timeout    time.Duration
	SESTimeout time.Duration

	// UnsubscribeKeyFile signs the {{token}} of --unsubscribe-url.
	UnsubscribeKeyFile string
}

// RegisterFlags binds every flag of test-send.
func (c *TestSendCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	c.Source.RegisterFlags(fs)
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id (tagged on the test email)")
	fs.StringVar(&c.Template, "template", "", "SES template name")
	fs.StringVar(&c.User, "user", "", "user_id of the row whose email to send")
	fs.StringVar(&c.To, "to", "", "address that receives the test email instead of the user's")
	fs.StringVar(&c.From, "from", "", "From address, as on publish")
	fs.StringVar(&c.ConfigurationSet, "configuration-set", "", "SES configuration set, as on publish (empty: none)")
	fs.StringVar(&c.UnsubscribeURL, "unsubscribe-url", "", "one-click unsubscribe URL template, as on publish")
	fs.StringVar(&c.UnsubscribeKeyFile, "unsubscribe-key-file", "", "key of the {{token}} of --unsubscribe-url, as on publish")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "how long to look for the user, render and send")
	fs.DurationVar(&c.SESTimeout, "ses-timeout", 10*time.Second, "timeout of each SES call")
}

// Validate names the flag that is wrong.
func (c *TestSendCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Source.Validate(); err != nil {
		return err
	}
	if c.User == "" {
		return errors.New("--user is required: the user_id whose email to send")
	}
	if c.To == "" {
		return errors.New("--to is required: the address that receives the test email")
	}
	to, err := mail.ParseAddress(c.To)
	if err != nil {
		return fmt.Errorf("--to %q is not an email address: %w", c.To, err)
	}
	c.To = to.Address
	if c.Timeout <= 0 || c.SESTimeout <= 0 {
		return errors.New("--timeout and --ses-timeout must be positive")
	}
	return renderConfig(&c.PublishConfig, c.Common, c.Source, c.UnsubscribeKeyFile)
}
