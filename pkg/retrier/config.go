package retrier

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
)

// Config is the retrier's behaviour; connections are built by the caller.
type Config struct {
	Topics kafka.Topics
	// Policy holds the tiers (one topic each) and the max attempts, shared
	// with the sender. The retrier reads every tier of the policy.
	Policy retry.Policy
	// Group is the consumer group; empty means Topics.RetrierGroup()
	// (<prefix>-retrier).
	Group string
	// DrainTimeout bounds how long a shutdown or a revocation waits for
	// in-flight produces before it commits what is done.
	DrainTimeout time.Duration
	// CommitInterval is how often acknowledged offsets are committed.
	CommitInterval time.Duration
	// DepthInterval is how often the depth of each tier is measured.
	DepthInterval time.Duration
	// FetchMaxPartitionBytes bounds one fetch of one partition, and so the
	// buffer a partition keeps while it waits for its next due record.
	FetchMaxPartitionBytes int32
	// FetchMaxBytes bounds one fetch response over all partitions.
	FetchMaxBytes int32
	// FetchMaxWait is how long the broker holds a fetch with no new data.
	// A partition resumed after its wait is fetched only once the fetch in
	// flight to its broker returns, so this bounds how late the records
	// behind a waiting one are seen.
	FetchMaxWait time.Duration
	// MaxBatch is the most records of one partition produced together.
	MaxBatch int
	// ProduceBackoff is the wait before a failed produce is tried again.
	ProduceBackoff time.Duration
	// PausedWake is the longest a paused tier partition sleeps before it
	// looks at its head again, even when the head is due later: a safety
	// wake against wall-clock steps (the wait is timed on the monotonic
	// clock, the due time is wall-clock).
	PausedWake time.Duration
	// FenceRetention is how long the fence keeps a settled user (the
	// senders' --fence-retention); DLQRetention is the retention of the
	// dead-letter topic the retrier creates. A dead-lettered job must not
	// outlive the fence key that keeps its redrive from sending a user
	// twice: DLQRetention ≤ FenceRetention.
	FenceRetention time.Duration
	DLQRetention   time.Duration
	// Partitions and ReplicationFactor are used by Layout when the
	// retrier creates missing topics.
	Partitions        int
	ReplicationFactor int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Topics:                 kafka.Topics{Prefix: "sendonce"},
		Policy:                 retry.DefaultPolicy(),
		DrainTimeout:           25 * time.Second,
		CommitInterval:         200 * time.Millisecond,
		DepthInterval:          15 * time.Second,
		FetchMaxPartitionBytes: 1 << 20,
		FetchMaxBytes:          16 << 20,
		FetchMaxWait:           250 * time.Millisecond,
		MaxBatch:               500,
		ProduceBackoff:         time.Second,
		PausedWake:             30 * time.Second,
		FenceRetention:         fence.DefaultRetention,
		DLQRetention:           kafka.DefaultDLQRetention,
		Partitions:             12,
		ReplicationFactor:      -1,
	}
}

// Errors returned by Validate.
var (
	ErrDrain      = errors.New("--drain-timeout must be positive")
	ErrInterval   = errors.New("commit and depth intervals must be positive")
	ErrFetchBytes = errors.New("fetch byte limits must be positive, and the per-partition limit at most the total")
	ErrFetchWait  = errors.New("fetch max wait must be at least 10ms")
	ErrBatch      = errors.New("max batch must be at least 1")
	ErrLayout     = errors.New("--partitions must be at least 1 and --replication-factor -1 or at least 1")
	ErrRetention  = errors.New("--dlq-retention must be positive and at most --fence-retention: a dead-lettered job kept longer than its user's fence key could be redriven to a user already sent")
	ErrPausedWake = errors.New("--paused-wake must be between 1s and 5m: a paused partition must look at its head again soon after a wall-clock step")
)

// Validate says what is wrong, in words.
func (c *Config) Validate() error {
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("retry policy: %w", err)
	}
	if c.Group == "" {
		c.Group = c.Topics.RetrierGroup()
	}
	switch {
	case c.DrainTimeout <= 0:
		return fmt.Errorf("%w (got %s)", ErrDrain, c.DrainTimeout)
	case c.CommitInterval <= 0 || c.DepthInterval <= 0:
		return fmt.Errorf("%w (got %s and %s)", ErrInterval, c.CommitInterval, c.DepthInterval)
	case c.FetchMaxWait < 10*time.Millisecond:
		return fmt.Errorf("%w (got %s)", ErrFetchWait, c.FetchMaxWait)
	case c.FetchMaxPartitionBytes <= 0 || c.FetchMaxBytes < c.FetchMaxPartitionBytes:
		return fmt.Errorf("%w (got %d per partition, %d in all)", ErrFetchBytes, c.FetchMaxPartitionBytes, c.FetchMaxBytes)
	case c.MaxBatch < 1:
		return fmt.Errorf("%w (got %d)", ErrBatch, c.MaxBatch)
	case c.Partitions < 1 || c.ReplicationFactor == 0 || c.ReplicationFactor < -1:
		return fmt.Errorf("%w (got %d and %d)", ErrLayout, c.Partitions, c.ReplicationFactor)
	case c.PausedWake < time.Second || c.PausedWake > 5*time.Minute:
		return fmt.Errorf("%w (got %s)", ErrPausedWake, c.PausedWake)
	case c.DLQRetention <= 0 || c.FenceRetention < c.DLQRetention:
		return fmt.Errorf("%w (got --dlq-retention %s, --fence-retention %s)", ErrRetention, c.DLQRetention, c.FenceRetention)
	}
	if c.ProduceBackoff <= 0 {
		c.ProduceBackoff = time.Second
	}
	return nil
}

// Layout is the topic layout the retrier needs, for kafka.EnsureTopics.
func (c *Config) Layout() kafka.Layout {
	return kafka.Layout{
		Topics:            c.Topics,
		Partitions:        int32(c.Partitions),
		ReplicationFactor: int16(c.ReplicationFactor),
		Tiers:             c.Policy.Tiers,
		DLQRetention:      c.DLQRetention,
	}
}

// RegisterFlags binds the flags of `retrier run` to c, with c's current
// values as defaults (start from DefaultConfig). The topic prefix comes from
// the common flags: set Topics after parsing.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*tiersFlag)(&c.Policy.Tiers), "retry-tiers", "comma-separated `delays` of the retry tiers; topic <prefix>.retry.<delay> each")
	fs.IntVar(&c.Policy.MaxAttempts, "max-attempts", c.Policy.MaxAttempts, "attempts before the DLQ")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "how long SIGTERM waits for in-flight work")
	fs.DurationVar(&c.CommitInterval, "commit-interval", c.CommitInterval, "how often acknowledged offsets are committed")
	fs.DurationVar(&c.DepthInterval, "depth-interval", c.DepthInterval, "how often the depth of each tier is measured")
	fs.DurationVar(&c.PausedWake, "paused-wake", c.PausedWake, "longest a paused tier partition waits before it looks at its next record again (a safety wake against wall-clock steps)")
	fs.DurationVar(&c.FenceRetention, "fence-retention", c.FenceRetention, "how long the fence keeps settled users (as on sender run); --dlq-retention may not exceed it")
	fs.DurationVar(&c.DLQRetention, "dlq-retention", c.DLQRetention, "retention.ms of the dead-letter topic, when the retrier creates it; at most --fence-retention")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of the jobs topic and the tiers, when the retrier creates them")
	fs.IntVar(&c.ReplicationFactor, "replication-factor", c.ReplicationFactor, "replication of created topics (-1: broker default)")
}

// tiersFlag is a flag.Value over a tier list: "30s,2m,10m,1h".
type tiersFlag []time.Duration

func (t *tiersFlag) String() string {
	if t == nil || len(*t) == 0 {
		return ""
	}
	return retry.FormatTiers(*t)
}

func (t *tiersFlag) Set(s string) error {
	ts, err := retry.ParseTiers(s)
	if err != nil {
		return err
	}
	*t = ts
	return nil
}
