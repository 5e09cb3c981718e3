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
	// Concurrency bounds the SES calls in flight in this instance; up to
	// Concurrency × BatchSize jobs are in flight.
	Concurrency int
	// BatchSize is the most recipients of one SES call: 1 sends one
	// SendEmail per user, more sends SendBulkEmail (SES allows 50).
	BatchSize int
	// BatchLinger is how long a batch that is not full waits for more
	// ready jobs before it goes.
	BatchLinger time.Duration
	// ResolveAfter, when positive, says that SES events settle ambiguous
	// sends (`sender reconcile` runs): an ambiguous job goes back through
	// the retry tiers until its event settles it, or until ResolveAfter
	// passes without one and it is declared not sent and sent again. 0
	// holds ambiguous sends for a person to settle.
	ResolveAfter time.Duration
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
	// BookkeepingTimeout bounds the fence marks and ledger writes that
	// still run after the drain time is over (a send that finished, or was
	// never written, is recorded rather than left "sending").
	BookkeepingTimeout time.Duration
	// MaxStopCycles is how many checks (AccountRefresh apart) a stopped
	// configuration set or identity may stay refused, or how many times a
	// stop may come back right after lifting, before its jobs go to the
	// DLQ with reason "stopped".
	MaxStopCycles int
	// EvictionCheck is what to do when Redis may evict fence keys
	// (maxmemory-policy is not noeviction) or cannot be asked: "require"
	// refuses to run, "warn" logs and runs (managed Redis without CONFIG).
	EvictionCheck string
	// Policy is what the sender accepts from a job (allowed From addresses
	// and templates; see policy.go). Validate compiles it.
	JobPolicy JobPolicy
	// UserHashKey keys the user_hash EmailTag (HMAC-SHA256); empty: an
	// unkeyed hash, which anyone can compute from a user id.
	UserHashKey []byte
	// SummaryInterval is how often the sender logs a summary line (sent,
	// skipped, failed, throttled, rate, in flight); 0: never.
	SummaryInterval time.Duration

	policy *compiledPolicy
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Topics:         kafka.Topics{Prefix: "sendonce"},
		Policy:         retry.DefaultPolicy(),
		Concurrency:    64,
		BatchSize:      DefaultBatchSize,
		BatchLinger:    DefaultBatchLinger,
		OnAmbiguous:    fence.Hold,
		DrainTimeout:   25 * time.Second,
		RateFraction:   0.9,
		AccountRefresh: time.Minute,
		InfraBackoff:   500 * time.Millisecond,
		CommitInterval: 500 * time.Millisecond,

		BookkeepingTimeout: 10 * time.Second,
		MaxStopCycles:      10,
		EvictionCheck:      EvictionRequire,
		SummaryInterval:    DefaultSummaryInterval,
	}
}

// The batch defaults: SES's most recipients per SendBulkEmail, and a linger
// short enough not to matter for one job's latency.
const (
	DefaultBatchSize   = 50
	MaxBatchSize       = 50
	DefaultBatchLinger = 5 * time.Millisecond
)

// The values of Config.EvictionCheck (--redis-eviction-check).
const (
	EvictionRequire = "require"
	EvictionWarn    = "warn"
)

// Errors returned by Validate.
var (
	ErrConcurrency  = errors.New("--concurrency must be at least 1")
	ErrOnAmbiguous  = errors.New("--on-ambiguous must be hold or resend")
	ErrRate         = errors.New("--max-send-rate must be 0 (from SES) or positive")
	ErrRateFraction = errors.New("--rate-fraction must be within (0, 1]")
	ErrDrain        = errors.New("--drain-timeout must be positive")
	ErrEviction     = errors.New("--redis-eviction-check must be require or warn")
	ErrStopCycles   = errors.New("--stop-cycles must be at least 1")
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
	case c.EvictionCheck != EvictionRequire && c.EvictionCheck != EvictionWarn:
		return fmt.Errorf("%w (got %q)", ErrEviction, c.EvictionCheck)
	case c.BatchSize < 1 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("--batch-size must be within 1..%d, SES's limit (got %d)", MaxBatchSize, c.BatchSize)
	case c.BatchLinger < 0:
		return fmt.Errorf("--batch-linger must not be negative (got %s)", c.BatchLinger)
	case c.ResolveAfter < 0:
		return fmt.Errorf("--resolve-after must be 0 (hold ambiguous sends) or positive (got %s)", c.ResolveAfter)
	case c.MaxStopCycles < 1:
		return fmt.Errorf("%w (got %d)", ErrStopCycles, c.MaxStopCycles)
	case c.SummaryInterval < 0:
		return fmt.Errorf("--summary-interval must be 0 (off) or positive (got %s)", c.SummaryInterval)
	}
	if c.BookkeepingTimeout <= 0 {
		c.BookkeepingTimeout = 10 * time.Second
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
	pol, err := c.JobPolicy.compile()
	if err != nil {
		return err
	}
	c.policy = pol
	return nil
}
