package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultTiers are the delays of the retry topics, shortest first.
var DefaultTiers = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}

// DefaultMaxAttempts is how many send attempts a job gets before the DLQ.
const DefaultMaxAttempts = 8

// Policy says when a failed job comes back and when it gives up.
type Policy struct {
	// Tiers are the delays of the retry topics, strictly increasing. Attempt
	// n (1-based, the attempt that just failed) waits Tiers[min(n, len)-1].
	Tiers []time.Duration
	// MaxAttempts is the number of send attempts before a retryable job is
	// dead-lettered.
	MaxAttempts int
	// Jitter spreads not-before times by up to this fraction of the delay,
	// so that a burst of throttled jobs does not come back as a burst.
	Jitter float64
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{Tiers: append([]time.Duration(nil), DefaultTiers...), MaxAttempts: DefaultMaxAttempts, Jitter: 0.1}
}

// Errors returned by Validate and ParseTiers.
var (
	ErrNoTiers     = errors.New("retry: at least one retry tier is required")
	ErrTierOrder   = errors.New("retry: retry tiers must be positive and strictly increasing")
	ErrMaxAttempts = errors.New("retry: max attempts must be at least 1")
	ErrJitter      = errors.New("retry: jitter must be within [0, 1)")
)

// Validate says what is wrong with the policy, in words.
func (p Policy) Validate() error {
	if len(p.Tiers) == 0 {
		return ErrNoTiers
	}
	for i, d := range p.Tiers {
		if d <= 0 || (i > 0 && d <= p.Tiers[i-1]) {
			return fmt.Errorf("%w (got %s)", ErrTierOrder, FormatTiers(p.Tiers))
		}
	}
	if p.MaxAttempts < 1 {
		return fmt.Errorf("%w (got %d)", ErrMaxAttempts, p.MaxAttempts)
	}
	if p.Jitter < 0 || p.Jitter >= 1 {
		return fmt.Errorf("%w (got %g)", ErrJitter, p.Jitter)
	}
	return nil
}

// Exhausted reports whether a job whose attempt number failed has no
// attempts left.
func (p Policy) Exhausted(attempt int) bool { return attempt >= p.MaxAttempts }

// Tier returns the delay of the tier that a job whose attempt number (1-based)
// just failed goes to.
func (p Policy) Tier(attempt int) time.Duration {
	i := attempt - 1
	if i < 0 {
		i = 0
	}
	if i >= len(p.Tiers) {
		i = len(p.Tiers) - 1
	}
	return p.Tiers[i]
}

// NotBefore returns when the job may be tried again: now plus the tier delay,
// plus up to Jitter of it. rnd returns a value in [0, 1); nil uses math/rand.
func (p Policy) NotBefore(now time.Time, attempt int, rnd func() float64) (time.Duration, time.Time) {
	d := p.Tier(attempt)
	if rnd == nil {
		rnd = rand.Float64
	}
	j := time.Duration(float64(d) * p.Jitter * rnd())
	return d, now.Add(d + j)
}

// TierName is the short name of a delay used in topic names: 30s, 2m, 1h,
// 1500ms.
func TierName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}

// ParseTiers parses a comma-separated list such as "30s,2m,10m,1h".
func ParseTiers(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("retry tier %q: %w", part, err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, ErrNoTiers
	}
	return out, nil
}

// FormatTiers is the inverse of ParseTiers.
func FormatTiers(ts []time.Duration) string {
	names := make([]string, len(ts))
	for i, d := range ts {
		names[i] = TierName(d)
	}
	return strings.Join(names, ",")
}
