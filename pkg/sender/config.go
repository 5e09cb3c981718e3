package sender

import (
	"errors"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
)

// Config is the sender's behaviour; connections are built by the caller.
type Config struct {
	Topics kafka.Topics
	Policy retry.Policy
	// Concurrency bounds the jobs in flight in this instance.
	Concurrency int
	// OnAmbiguous is what to do when SES may have accepted an email whose
	// outcome we never saw: hold (report it, send nothing) or resend.
	OnAmbiguous fence.AbandonPolicy
	// DrainTimeout bounds how long a shutdown or a revocation waits for
	// in-flight sends.
	DrainTimeout time.Duration
	// MaxSendRate is the emails/s ceiling shared by all senders; 0 takes
	// SES GetAccount MaxSendRate × RateFraction.
	MaxSendRate  float64
	RateFraction float64
	// AccountRefresh is how often SES GetAccount is read again (rate
	// ceiling, quota, whether sending is enabled).
	AccountRefresh time.Duration
	// InfraBackoff is the wait before trying a Redis or Kafka step again.
	InfraBackoff time.Duration
	// CommitInterval is how often finished offsets are committed.
	CommitInterval time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Topics:         kafka.Topics{Prefix: "sendonce"},
		Policy:         retry.DefaultPolicy(),
		Concurrency:    64,
		OnAmbiguous:    fence.Hold,
		DrainTimeout:   25 * time.Second,
		RateFraction:   0.9,
		AccountRefresh: time.Minute,
		InfraBackoff:   500 * time.Millisecond,
		CommitInterval: 500 * time.Millisecond,
	}
}

// Errors returned by Validate.
var (
	ErrConcurrency  = errors.New("--concurrency must be at least 1")
	ErrOnAmbiguous  = errors.New("--on-ambiguous must be hold or resend")
	ErrRate         = errors.New("--max-send-rate must be 0 (from SES) or positive")
	ErrRateFraction = errors.New("--rate-fraction must be within (0, 1]")
	ErrDrain        = errors.New("--drain-timeout must be positive")
)

// Validate says what is wrong, in words.
func (c *Config) Validate() error {
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("retry policy: %w", err)
	}
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("%w (got %d)", ErrConcurrency, c.Concurrency)
	case c.OnAmbiguous != fence.Hold && c.OnAmbiguous != fence.Resend:
		return fmt.Errorf("%w (got %q)", ErrOnAmbiguous, c.OnAmbiguous)
	case c.MaxSendRate < 0:
		return fmt.Errorf("%w (got %g)", ErrRate, c.MaxSendRate)
	case c.RateFraction <= 0 || c.RateFraction > 1:
		return fmt.Errorf("%w (got %g)", ErrRateFraction, c.RateFraction)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("%w (got %s)", ErrDrain, c.DrainTimeout)
	}
	if c.AccountRefresh <= 0 {
		c.AccountRefresh = time.Minute
	}
	if c.InfraBackoff <= 0 {
		c.InfraBackoff = 500 * time.Millisecond
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 500 * time.Millisecond
	}
	return nil
}
