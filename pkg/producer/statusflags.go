package producer

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/kafka"
)

// StatusViewFlags are the flags of `producer status` beside StatusCommand's:
// one user's lookup, or a watch that repaints.
type StatusViewFlags struct {
	User     string
	Watch    bool
	Interval time.Duration
}

// RegisterFlags binds the flags.
func (c *StatusViewFlags) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.User, "user", "", "show one user: state, attempts, message id, reason, times, ledger history and fence key (exit 3 when unknown)")
	fs.BoolVar(&c.Watch, "watch", false, "read the status again every --interval until the campaign is complete: repaints on a terminal, one line per read otherwise")
	fs.DurationVar(&c.Interval, "interval", 5*time.Second, "time between two reads of --watch")
}

// Validate names the flag that is wrong.
func (c *StatusViewFlags) Validate() error {
	if c.Watch && c.User != "" {
		return errors.New("--watch and --user cannot be used together")
	}
	if c.Interval <= 0 {
		return fmt.Errorf("--interval must be positive (got %s)", c.Interval)
	}
	return nil
}

// ReportCommand is the configuration of `producer report`.
type ReportCommand struct {
	Common   config.Common
	Campaign string
	Format   string
	Timeout  time.Duration
}

// RegisterFlags binds every flag of report.
func (c *ReportCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	fs.StringVar(&c.Campaign, "campaign", "", "campaign id")
	fs.StringVar(&c.Format, "format", FormatCSV, "csv or jsonl: one row per user (user_id, state, message_id, reason, at) on stdout")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "how long to read the membership and the ledger")
}

// Validate names every flag that is wrong.
func (c *ReportCommand) Validate() error {
	var errs []error
	if err := c.Common.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Campaign == "" {
		errs = append(errs, errors.New("--campaign is required"))
	} else if err := ValidateCampaignID(c.Campaign); err != nil {
		errs = append(errs, err)
	}
	if c.Format != FormatCSV && c.Format != FormatJSONL {
		errs = append(errs, fmt.Errorf("--format must be %s or %s (got %q)", FormatCSV, FormatJSONL, c.Format))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Topics are the topics of the common --topic-prefix.
func (c *ReportCommand) Topics() kafka.Topics { return kafka.Topics{Prefix: c.Common.TopicPrefix} }
