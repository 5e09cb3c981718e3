package retrier

import (
	"testing"
	"time"
)

// TestLogLimiter: during an outage a step's failure is logged once per 10 s,
// with how many lines were held back since the last one; steps are counted
// apart.
func TestLogLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		key      string
		at       time.Duration
		ok       bool
		withheld int
	}{
		{"commit", 0, true, 0},
		{"commit", time.Second, false, 0},
		{"produce", 2 * time.Second, true, 0},
		{"commit", 9 * time.Second, false, 0},
		{"commit", 10 * time.Second, true, 2},
		{"commit", 15 * time.Second, false, 0},
		{"produce", 12 * time.Second, true, 0},
		{"commit", 31 * time.Second, true, 1},
	}
	var l logLimiter
	for i, tt := range tests {
		ok, held := l.allow(tt.key, t0.Add(tt.at))
		if ok != tt.ok || held != tt.withheld {
			t.Errorf("%d: allow(%s, +%s) = %v, %d; want %v, %d", i, tt.key, tt.at, ok, held, tt.ok, tt.withheld)
		}
	}
}
