package producer

import (
	"errors"
	"flag"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
)

// EraseCommand is the configuration of `producer erase`.
type EraseCommand struct {
	Common config.Common
	EraseConfig
	RetryTiers string
	JSON       bool
	Timeout    time.Duration
}

// RegisterFlags binds every flag of erase.
func (c *EraseCommand) RegisterFlags(fs *flag.FlagSet) {
	config.RegisterCommon(fs, &c.Common, "")
	fs.StringVar(&c.UserID, "user", "", "user_id to erase (required)")
	fs.StringVar(&c.Campaign, "campaign", "", "erase only this campaign's data of the user (empty: every campaign)")
	fs.StringVar(&c.RetryTiers, "retry-tiers", retry.FormatTiers(retry.DefaultTiers), "retry tiers whose topics are searched for copies of the user's jobs")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object instead of text")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "how long to read the topics and write the tombstones")
}

// Validate names the flag that is wrong.
func (c *EraseCommand) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	ts, err := retry.ParseTiers(c.RetryTiers)
	if err != nil {
		return err
	}
	c.Tiers = ts
	c.Topics = kafka.Topics{Prefix: c.Common.TopicPrefix}
	c.FencePrefix = c.Common.TopicPrefix
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return c.EraseConfig.Validate()
}
