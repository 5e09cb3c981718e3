package producer

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"time"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
)

// PublishConfig is what one publish run needs besides its dependencies.
type PublishConfig struct {
	Campaign         string
	Template         string // SES template name
	From             string // From address, "Name <addr>" allowed
	ConfigurationSet string
	// Priority "high" publishes to the priority lane (<prefix>.jobs.priority),
	// which senders consume beside the jobs topic: a small urgent campaign
	// does not wait behind a large one's backlog. "" or "normal": the jobs
	// topic.
	Priority string
	// Source is the source spec, recorded in the campaign record.
	Source string
	// ExpiresAt is when the jobs must no longer be sent; zero: never.
	ExpiresAt time.Time
	// UnsubscribeURL, when set, adds List-Unsubscribe (this https URL with
	// {{user_id}}, {{email}} and {{token}} filled in) and
	// List-Unsubscribe-Post.
	UnsubscribeURL string
	// UnsubscribeKey signs the {{token}} of UnsubscribeURL (HMAC-SHA256 of
	// campaign and user id; pkg/pseudonym).
	UnsubscribeKey []byte
	// MaxRejects makes the run fail (after publishing every valid row) when
	// more rows than this are rejected; -1 means no limit. Duplicates do not
	// count.
	MaxRejects int
	Topics     kafka.Topics
	// FlushTimeout bounds the wait for buffered jobs at the end or after an
	// interrupt (default 1m).
	FlushTimeout time.Duration
	// ProgressEvery is the interval of progress log lines when not on a
	// terminal (default 5s).
	ProgressEvery time.Duration
	// SentCountTimeout bounds reading the ledger for the "already sent"
	// count of the summary (default 2m); a failure there is only a warning.
	SentCountTimeout time.Duration
}

func (c *PublishConfig) defaults() {
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = time.Minute
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5 * time.Second
	}
	if c.SentCountTimeout <= 0 {
		c.SentCountTimeout = 2 * time.Minute
	}
}

// Errors returned by the Validate methods.
var (
	ErrCampaignID   = errors.New("invalid --campaign: use 1 to 64 letters, digits, '.', '_' or '-'")
	ErrTemplateName = errors.New("invalid --template: use the SES template name, 1 to 64 letters, digits, '_' or '-'")
)

var (
	campaignRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	templateRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ValidateCampaignID checks a campaign id (it is part of ledger keys and
// topic record keys, so it has no colon).
func ValidateCampaignID(id string) error {
	if !campaignRE.MatchString(id) {
		return fmt.Errorf("%w (got %q)", ErrCampaignID, id)
	}
	return nil
}

// Validate names the flag that is wrong.
func (c *PublishConfig) Validate() error {
	if err := ValidateCampaignID(c.Campaign); err != nil {
		return err
	}
	switch c.Priority {
	case "", PriorityNormal, PriorityHigh:
	default:
		return fmt.Errorf("--priority must be normal or high (got %q)", c.Priority)
	}
	if !templateRE.MatchString(c.Template) {
		return fmt.Errorf("%w (got %q)", ErrTemplateName, c.Template)
	}
	if c.From == "" {
		return errors.New("--from is required: the sender address, e.g. news@example.com or \"Example <news@example.com>\"")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("--from %q is not an email address: %w", c.From, err)
	}
	if err := job.CheckAddress(from.Address); err != nil {
		return fmt.Errorf("--from %q: %w (the sender would refuse every job)", c.From, err)
	}
	if c.UnsubscribeURL != "" {
		if err := checkUnsubscribeURL(c.UnsubscribeURL, len(c.UnsubscribeKey) > 0); err != nil {
			return err
		}
	}
	if c.MaxRejects < -1 {
		return fmt.Errorf("--max-rejects must be -1 (no limit) or at least 0 (got %d)", c.MaxRejects)
	}
	if c.Topics.Prefix == "" {
		return errors.New("--topic-prefix is empty")
	}
	return nil
}

// The values of PublishConfig.Priority (--priority).
const (
	PriorityNormal = "normal"
	PriorityHigh   = "high"
)

// jobsTopic is where the campaign's jobs go: the priority lane or the
// jobs topic.
func (c *PublishConfig) jobsTopic() string {
	if c.Priority == PriorityHigh {
		return c.Topics.PriorityJobs()
	}
	return c.Topics.Jobs()
}
