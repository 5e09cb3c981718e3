package reconcile

import (
	"errors"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// Config configures a Reconciler. Validate fills in the defaults.
type Config struct {
	// Topics names the ledger and DLQ topics.
	Topics kafka.Topics
	// Pollers is how many receive loops run at once, each with its own
	// batch. The batches of two pollers that share a user take turns for
	// it (userLocks), so its ledger entries keep the fence's order.
	// Default 4.
	Pollers int
	// Concurrency bounds the fence calls of one batch in flight. Default 10.
	Concurrency int
	// Visibility is how long a message stays invisible when a slow batch
	// extends it; the batch extends every Visibility/2. Default 60 s.
	Visibility time.Duration
	// ProduceTimeout bounds one produce of a batch's records. Default 30 s.
	ProduceTimeout time.Duration
	// Backoff is the first wait before retrying a failed Redis, Kafka or
	// SQS call; it doubles up to MaxBackoff. Defaults 200 ms and 10 s.
	Backoff, MaxBackoff time.Duration
	// DrainTimeout is how long a cancelled Run still works on the batches
	// it holds. Default 20 s.
	DrainTimeout time.Duration
	// DLQPollInterval is how often the events DLQ depth is read (when
	// Deps.DLQDepth is set). Default 30 s.
	DLQPollInterval time.Duration
	// SummaryInterval is how often a summary line is logged; 0: never.
	SummaryInterval time.Duration
}

// DefaultSummaryInterval is the summary interval of `sender reconcile`.
const DefaultSummaryInterval = time.Minute

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("reconcile: invalid config")

// Validate fills in the defaults and says what is wrong, in words.
func (c *Config) Validate() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Pollers == 0 {
		c.Pollers = 4
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	def(&c.Visibility, 60*time.Second)
	def(&c.ProduceTimeout, 30*time.Second)
	def(&c.Backoff, 200*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.DrainTimeout, 20*time.Second)
	def(&c.DLQPollInterval, 30*time.Second)
	switch {
	case c.Topics.Prefix == "":
		return fmt.Errorf("%w: the topic prefix is empty", ErrConfig)
	case c.Pollers < 1 || c.Pollers > 64:
		return fmt.Errorf("%w: pollers must be 1 to 64 (got %d)", ErrConfig, c.Pollers)
	case c.Concurrency < 1:
		return fmt.Errorf("%w: concurrency must be at least 1 (got %d)", ErrConfig, c.Concurrency)
	case c.Visibility < 2*time.Second || c.Visibility > 12*time.Hour:
		return fmt.Errorf("%w: visibility must be 2s to 12h, SQS's range (got %s)", ErrConfig, c.Visibility)
	case c.ProduceTimeout < 0 || c.Backoff < 0 || c.DrainTimeout < 0 || c.DLQPollInterval < 0 || c.SummaryInterval < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case c.MaxBackoff < c.Backoff:
		return fmt.Errorf("%w: the longest backoff (%s) is shorter than the first (%s)", ErrConfig, c.MaxBackoff, c.Backoff)
	}
	return nil
}
