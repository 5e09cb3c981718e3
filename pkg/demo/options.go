package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sender"
	"github.com/sendonce/sendonce/pkg/sesevents"
)

// Options say how big the demo is and where it writes.
type Options struct {
	// Users is the number of rows of the generated CSV, invalid and
	// duplicate rows included.
	Users int
	// OutboxDir receives every accepted email as
	// OutboxDir/<campaign>/<recipient>-<message id>.eml. The campaign's
	// folder is emptied at the start, so that the check sees this run only.
	OutboxDir string
	// Keep leaves the outbox after the run; false removes the campaign's
	// folder once the check has passed (a failed check always leaves it).
	Keep bool
	// MetricsAddr, when set, serves /metrics, /healthz and /readyz of every
	// component while the demo runs.
	MetricsAddr string

	// Seed makes the sample; the same seed gives the same users.
	Seed uint64
	// Tiers and MaxAttempts are the retry policy of the senders and the
	// retrier (production: 30s,2m,10m,1h and 8).
	Tiers       []time.Duration
	MaxAttempts int
	// MaxSendRate is what the local SES reports in GetAccount; the senders
	// use 90% of it, as in production (--max-send-rate 0).
	MaxSendRate float64
	// ThrottlePercent is the share of users whose first SendEmail is
	// answered with a throttling error.
	ThrottlePercent float64
	// Partitions of the jobs topic and the tiers.
	Partitions int
	// RestartAt is the share of the valid users sent when the second sender
	// is stopped (graceful drain) and a third one started; 0 disables it.
	RestartAt float64
	// BatchSize is the senders' --batch-size: the most users of one SES
	// call (1: one SendEmail per user; more: SendBulkEmail).
	BatchSize int
	// AmbiguousCalls is how many SES calls the local SES accepts and then
	// answers with a 503 (the senders cannot know the emails left): a
	// SendBulkEmail, or a SendEmail with batches of 1. The in-process
	// reconciler must settle each of their users from SES's events.
	AmbiguousCalls int
	// AmbiguousAt is the share of the SES calls made (counted as emails
	// asked for) after which the first injected call comes; the others
	// follow it.
	AmbiguousAt float64
	// ResolveAfter is the senders' and the reconciler's --resolve-after:
	// how long an ambiguous send waits for its SES event before it is
	// declared not sent and sent again.
	ResolveAfter time.Duration
	// EventDelay bounds the random delay of each SES event after its email
	// was accepted (SES's usually arrive within seconds).
	EventDelay [2]time.Duration
	// EventDuplicates is the share of the events published twice, as SNS
	// and SQS may deliver them.
	EventDuplicates float64
	// Interactive repaints one progress line (a terminal); otherwise a
	// progress line is printed every LineEvery.
	Interactive bool
	LineEvery   time.Duration
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Log receives the components' logs (keep it at warn: the progress and
	// the report go to the output writer). Nil discards them.
	Log *slog.Logger
	// Now gives the date; the campaign is last month's. Nil: time.Now.
	Now func() time.Time

	// afterSettled, in tests, runs once the pipeline is stopped and before
	// the outbox is checked.
	afterSettled func(*population)
	// dropEvent, in tests, loses the events of the accepted emails it
	// returns true for (a broken event feed).
	dropEvent func(sesevents.Accepted) bool
}

// DefaultOptions are the options of `make demo`.
func DefaultOptions() Options {
	return Options{
		Users:           10000,
		OutboxDir:       "outbox",
		Keep:            true,
		Seed:            1,
		Tiers:           []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		MaxAttempts:     retry.DefaultMaxAttempts,
		MaxSendRate:     2000,
		ThrottlePercent: 6,
		Partitions:      12,
		RestartAt:       0.4,
		BatchSize:       sender.DefaultBatchSize,
		AmbiguousCalls:  1,
		AmbiguousAt:     0.3,
		ResolveAfter:    30 * time.Second,
		EventDelay:      [2]time.Duration{100 * time.Millisecond, time.Second},
		EventDuplicates: 0.02,
		LineEvery:       2 * time.Second,
		Timeout:         5 * time.Minute,
	}
}

// Errors returned by Validate.
var (
	ErrUsers    = errors.New("--users must be at least 10")
	ErrOutbox   = errors.New("--outbox must not be empty")
	ErrThrottle = errors.New("throttle percent must be within [0, 50]")
	ErrRestart  = errors.New("restart point must be within [0, 1)")
	ErrRate     = errors.New("max send rate must be positive")
	ErrBatch    = fmt.Errorf("--batch-size must be within 1..%d (SES's most recipients of one SendBulkEmail)", sender.MaxBatchSize)
	ErrInject   = errors.New("ambiguous calls must not be negative, and their point within [0, 1)")
	ErrResolve  = errors.New("resolve-after must be positive (the reconciler runs)")
	ErrEvents   = errors.New("event delays must be 0 <= min <= max, and the duplicate share within [0, 1]")
)

// Validate says what is wrong, in words, and fills in what may be left zero.
func (o *Options) Validate() error {
	d := DefaultOptions()
	switch {
	case o.Users < 10:
		return fmt.Errorf("%w (got %d)", ErrUsers, o.Users)
	case o.OutboxDir == "":
		return ErrOutbox
	case o.ThrottlePercent < 0 || o.ThrottlePercent > 50:
		return fmt.Errorf("%w (got %g)", ErrThrottle, o.ThrottlePercent)
	case o.RestartAt < 0 || o.RestartAt >= 1:
		return fmt.Errorf("%w (got %g)", ErrRestart, o.RestartAt)
	case o.MaxSendRate <= 0:
		return fmt.Errorf("%w (got %g)", ErrRate, o.MaxSendRate)
	case o.BatchSize < 0 || o.BatchSize > sender.MaxBatchSize:
		return fmt.Errorf("%w (got %d)", ErrBatch, o.BatchSize)
	case o.AmbiguousCalls < 0 || o.AmbiguousAt < 0 || o.AmbiguousAt >= 1:
		return fmt.Errorf("%w (got %d at %g)", ErrInject, o.AmbiguousCalls, o.AmbiguousAt)
	case o.ResolveAfter < 0:
		return fmt.Errorf("%w (got %s)", ErrResolve, o.ResolveAfter)
	case o.EventDelay[0] < 0 || o.EventDelay[1] < o.EventDelay[0] || o.EventDuplicates < 0 || o.EventDuplicates > 1:
		return fmt.Errorf("%w (got %s..%s, %g)", ErrEvents, o.EventDelay[0], o.EventDelay[1], o.EventDuplicates)
	}
	if o.BatchSize == 0 {
		o.BatchSize = d.BatchSize
	}
	if o.ResolveAfter == 0 {
		o.ResolveAfter = d.ResolveAfter
	}
	if len(o.Tiers) == 0 {
		o.Tiers = d.Tiers
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if err := (retry.Policy{Tiers: o.Tiers, MaxAttempts: o.MaxAttempts}).Validate(); err != nil {
		return err
	}
	if o.Partitions <= 0 {
		o.Partitions = d.Partitions
	}
	if o.LineEvery <= 0 {
		o.LineEvery = d.LineEvery
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}
