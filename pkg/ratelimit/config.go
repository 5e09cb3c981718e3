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
	DefaultPace     = 0.97
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
	// (0, 1]. Default 0.97. The headroom absorbs a sender that takes its
	// slots late (a busy CPU, a slow round trip) and then sends them
	// together with the next, on-time ones: at 0.97, no sliding second
	// goes above 105% of the rate unless slots come more than about 30 ms
	// late, even with batches of 10% of the rate (50 at 500/s, which
	// exceed 100% as soon as one batch comes a moment late).
	Pace float64
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
	switch {
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: rate must be a finite number (got %g)", ErrConfig, c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("%w: burst must be at least 1 (got %d)", ErrConfig, c.Burst)
	case c.MaxAhead < time.Millisecond:
		return fmt.Errorf("%w: max ahead must be at least 1ms (got %s)", ErrConfig, c.MaxAhead)
	case c.Timeout < time.Millisecond:
		return fmt.Errorf("%w: timeout must be at least 1ms (got %s)", ErrConfig, c.Timeout)
	case !(c.Pace > 0 && c.Pace <= 1):
		return fmt.Errorf("%w: pace must be in (0, 1] (got %g)", ErrConfig, c.Pace)
	}
	return nil
}
