package sesfault

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config configures a Proxy. Ratios are fractions of all SendEmail (and
// SendBulkEmail) calls that get past the rate cap and the recipient check;
// their sum must not exceed 1.
type Config struct {
	// Target is the upstream base URL ("http://127.0.0.1:38005").
	Target string
	// ThrottleRatio of SendEmail calls are answered 429
	// TooManyRequestsException without being forwarded.
	ThrottleRatio float64
	// RateCap answers 429 to SendEmail calls above this many per second (a
	// token bucket of RateBurst tokens); 0 turns the cap off.
	RateCap float64
	// RateBurst is how many calls the cap lets through at once; 0 means a
	// tenth of a second's worth (at least 1).
	RateBurst float64
	// Err503Ratio of SendEmail calls are answered 503 without being
	// forwarded.
	Err503Ratio float64
	// Err503AfterRatio of SendEmail calls are forwarded and, if upstream
	// accepts them, answered 503 anyway.
	Err503AfterRatio float64
	// MinLatency and MaxLatency bound a uniformly random delay added to
	// every SendEmail.
	MinLatency, MaxLatency time.Duration
	// RejectRecipient, when it returns true for a To address, answers 400
	// MessageRejected without forwarding.
	RejectRecipient func(to string) bool
	// Events, when set, is told about every email upstream accepted,
	// SendEmail and each SendBulkEmail entry, also those answered 503
	// afterwards (Err503AfterRatio). A *sesevents.Publisher publishes
	// SES's events for them, the way a configuration set would.
	Events Sink
	// Seed makes the sequence of decisions repeatable.
	Seed int64
	// Now is the clock of the rate cap and the peak rate; nil is time.Now.
	Now func() time.Time
}

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("sesfault: target %q is not an absolute URL", c.Target)
	}
	for name, r := range map[string]float64{"throttle": c.ThrottleRatio, "503": c.Err503Ratio, "503-after": c.Err503AfterRatio} {
		if r < 0 || r > 1 {
			return fmt.Errorf("sesfault: %s ratio %v is not within [0, 1]", name, r)
		}
	}
	if sum := c.ThrottleRatio + c.Err503Ratio + c.Err503AfterRatio; sum > 1 {
		return fmt.Errorf("sesfault: the ratios add up to %v, over 1", sum)
	}
	if c.RateCap < 0 || c.RateBurst < 0 {
		return errors.New("sesfault: rate cap and burst must not be negative")
	}
	if c.RateBurst == 0 {
		c.RateBurst = max(1, c.RateCap/10)
	}
	if c.MinLatency < 0 || c.MaxLatency < c.MinLatency {
		return fmt.Errorf("sesfault: latency range [%v, %v] is invalid", c.MinLatency, c.MaxLatency)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
