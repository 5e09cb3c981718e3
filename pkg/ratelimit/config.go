package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Config.
const (
	DefaultKey      = "sendonce:rate"
	DefaultBurst    = 1
	DefaultMaxAhead = 2 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultPace     = 0.98
	DefaultMaxLate  = 15 * time.Millisecond
)

// Config configures a Limiter.
type Config struct {
	// Key is the Redis key shared by every replica. Default
	// "sendonce:rate".
	Key string
	// Rate is the initial ceiling in emails per second; <= 0 means
	// unlimited (Wait returns at once without calling Redis).
	Rate float64
	// Burst is how many slots may be taken at once after an idle spell.
	// Default 1. Keep it at most 5% of the rate: any 1s window may see up
	// to rate+Burst sends.
	Burst int
	// MaxAhead is the furthest into the future a slot is reserved. Default
	// 2s.
	MaxAhead time.Duration
	// Timeout bounds each Redis call. Default 2s.
	Timeout time.Duration
	// Pace is the fraction of the rate the slots are spaced at, in
	// (0, 1]. Default 0.98. The headroom absorbs slots taken a little
	// late (a busy CPU) together with the next, on-time ones: at 0.98 a
	// batch of 10% of the rate (50 at 500/s: ten a second, so one
	// batch a moment late makes eleven, 110%) may come 20 ms late, single
	// slots 70 ms, before a sliding second goes above 105%.
	Pace float64
	// MaxLate is how late after they were due reserved slots may still be
	// taken; WaitN gives up later ones and reserves again (twice at most
	// per call), so that a process that paused does not send the slots of
	// the pause together with the next ones. Default 15ms (below what
	// Pace absorbs).
	MaxLate time.Duration
}

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("ratelimit: invalid config")

// Validate fills in the defaults and says what is wrong, in words.
func (c *Config) Validate() error {
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxAhead == 0 {
		c.MaxAhead = DefaultMaxAhead
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Pace == 0 {
		c.Pace = DefaultPace
	}
	if c.MaxLate == 0 {
		c.MaxLate = DefaultMaxLate
	}
	switch {
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: rate must be a finite number (got %g)", ErrConfig, c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("%w: burst must be at least 1 (got %d)", ErrConfig, c.Burst)
	case c.MaxAhead < time.Millisecond:
		return fmt.Errorf("%w: max ahead must be at least 1ms (got %s)", ErrConfig, c.MaxAhead)
	case c.Timeout < time.Millisecond:
		return fmt.Errorf("%w: timeout must be at least 1ms (got %s)", ErrConfig, c.Timeout)
	case c.MaxLate < time.Millisecond:
		return fmt.Errorf("%w: max late must be at least 1ms (got %s)", ErrConfig, c.MaxLate)
	case !(c.Pace > 0 && c.Pace <= 1):
		return fmt.Errorf("%w: pace must be in (0, 1] (got %g)", ErrConfig, c.Pace)
	}
	return nil
}
