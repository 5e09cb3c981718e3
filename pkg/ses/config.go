package ses

import (
	"errors"
	"log/slog"
	"time"
)

// DefaultTimeout is the per-call timeout when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	// Timeout bounds each SES call (one SendEmail, one GetAccount...).
	// A SendEmail that times out after its request was written is
	// ambiguous. Default DefaultTimeout.
	Timeout time.Duration
	// Log receives the AWS SDK's own log lines (component=aws); nil:
	// slog.Default().
	Log *slog.Logger
}

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	if c.Timeout < 0 {
		return errors.New("ses: timeout must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}
