package sesfault

import (
	"math/rand/v2"
	"time"
)

// verdict is what the proxy does with one SendEmail.
type verdict int

const (
	forward verdict = iota
	rateCapped
	rejected
	throttled
	unavailable
	unavailableAfter
)

// decider makes every random and rate decision under one lock, in arrival
// order, so that a seed gives the same decisions for the same sequence of
// calls.
type decider struct {
	cfg    *Config
	rng    *rand.Rand
	tokens float64
	last   time.Time
	window [slots]slot
	peak   int
}

// The peak rate is counted in slots of 100ms: the most calls within any ten
// consecutive slots.
const (
	slots   = 10
	slotLen = time.Second / slots
)

type slot struct {
	index int64
	n     int
}

func newDecider(cfg *Config) *decider {
	return &decider{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x5e5fa017)),
		tokens: cfg.RateBurst,
		last:   cfg.Now(),
	}
}

// decide is called with the To addresses of one SendEmail.
func (d *decider) decide(to []string) (verdict, time.Duration) {
	return d.decideN(to, 1)
}

// decideBulk is called for one SendBulkEmail of n entries: it counts n
// emails against the rate cap and the peak rate, as SES counts recipients,
// and leaves RejectRecipient to the caller (SES rejects entries one by one).
func (d *decider) decideBulk(n int) (verdict, time.Duration) {
	return d.decideN(nil, n)
}

func (d *decider) decideN(to []string, n int) (verdict, time.Duration) {
	now := d.cfg.Now()
	d.countN(now, n)
	// Always draw both numbers so that one call's verdict does not shift
	// the random sequence of the next.
	u := d.rng.Float64()
	latency := d.cfg.MinLatency
	if spread := d.cfg.MaxLatency - d.cfg.MinLatency; spread > 0 {
		latency += time.Duration(d.rng.Int64N(int64(spread) + 1))
	}
	if !d.take(now, n) {
		return rateCapped, latency
	}
	if d.cfg.RejectRecipient != nil {
		for _, t := range to {
			if d.cfg.RejectRecipient(t) {
				return rejected, latency
			}
		}
	}
	c := d.cfg
	switch {
	case u < c.ThrottleRatio:
		return throttled, latency
	case u < c.ThrottleRatio+c.Err503Ratio:
		return unavailable, latency
	case u < c.ThrottleRatio+c.Err503Ratio+c.Err503AfterRatio:
		return unavailableAfter, latency
	}
	return forward, latency
}

// take takes n tokens of the rate cap's bucket. A call passes when one
// token is there and may leave the bucket in debt, so that a bulk call
// larger than the burst still passes, and the average rate still holds.
func (d *decider) take(now time.Time, n int) bool {
	if d.cfg.RateCap <= 0 {
		return true
	}
	if el := now.Sub(d.last); el > 0 {
		d.tokens = min(d.cfg.RateBurst, d.tokens+el.Seconds()*d.cfg.RateCap)
		d.last = now
	}
	if d.tokens < 1 {
		return false
	}
	d.tokens -= float64(n)
	return true
}

// countN records n emails arriving for the peak rate.
func (d *decider) countN(now time.Time, n int) {
	i := now.UnixNano() / int64(slotLen)
	s := &d.window[i%slots]
	if s.index != i {
		*s = slot{index: i}
	}
	s.n += n
	total := 0
	for _, s := range d.window {
		if s.index > i-slots {
			total += s.n
		}
	}
	d.peak = max(d.peak, total)
}
