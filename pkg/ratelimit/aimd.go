package ratelimit

import (
	"math"
	"time"
)

// The adaptation policy (AIMD). The script receives these values in ARGV, so
// this table is the one source of truth for Go and Lua.
const (
	// decreaseFactor multiplies the rate on a throttle.
	decreaseFactor = 0.7
	// decreaseEvery is the least time between two decreases, across all
	// replicas: one burst of throttles is one decrease, not fifty.
	decreaseEvery = time.Second
	// floorFraction and minRate bound a decrease: the rate never goes
	// below max(minRate, floorFraction × ceiling) (nor above the ceiling).
	floorFraction = 0.05
	minRate       = 1.0
	// recoveryStep × ceiling is given back every recoveryPeriod after the
	// last decrease.
	recoveryStep   = 0.05
	recoveryPeriod = time.Second
)

// aimdState is the adaptive part of the shared state: the rate set by the
// last decrease (base) and when it happened (at). The zero at means "never
// decreased".
type aimdState struct {
	base float64
	at   time.Time
}

// effective is the rate at now under ceiling: base plus one step per whole
// recovery period since the decrease, capped at the ceiling.
func (s aimdState) effective(ceiling float64, now time.Time) float64 {
	if s.at.IsZero() {
		return ceiling
	}
	steps := math.Floor(float64(now.Sub(s.at)) / float64(recoveryPeriod))
	if steps < 0 {
		steps = 0
	}
	return math.Min(ceiling, s.base+ceiling*recoveryStep*steps)
}

// floor is the lowest rate a decrease may reach under ceiling.
func floor(ceiling float64) float64 {
	return math.Min(ceiling, math.Max(minRate, floorFraction*ceiling))
}

// throttle returns the state after a throttle at now, and whether it
// applied (not within decreaseEvery of the last decrease).
func (s aimdState) throttle(ceiling float64, now time.Time) (aimdState, bool) {
	if !s.at.IsZero() && now.Sub(s.at) < decreaseEvery {
		return s, false
	}
	r := math.Max(floor(ceiling), s.effective(ceiling, now)*decreaseFactor)
	return aimdState{base: r, at: now}, true
}
