package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is one event of an AIMD scenario: move the clock, then optionally
// set the ceiling and/or report a throttle, then expect a rate.
type step struct {
	advance  time.Duration
	ceiling  float64 // 0: unchanged
	throttle bool
	want     float64
}

var aimdScenarios = []struct {
	name    string
	ceiling float64
	steps   []step
}{
	{"no throttle stays at the ceiling", 100, []step{
		{want: 100}, {advance: time.Hour, want: 100},
	}},
	{"one throttle then recovery by 5% of the ceiling per whole second", 100, []step{
		{throttle: true, want: 70},
		{advance: 999 * time.Millisecond, want: 70},
		{advance: time.Millisecond, want: 75},
		{advance: time.Second, want: 80},
		{advance: 4 * time.Second, want: 100},
		{advance: time.Minute, want: 100},
	}},
	{"throttles within a second count once", 100, []step{
		{throttle: true, want: 70},
		{advance: 10 * time.Millisecond, throttle: true, want: 70},
		{advance: 989 * time.Millisecond, throttle: true, want: 70},
		{advance: time.Millisecond, throttle: true, want: 52.5}, // (70+5)×0.7
		{advance: time.Second, throttle: true, want: 40.25},     // (52.5+5)×0.7
	}},
	{"sustained throttling settles near 11.7% of the ceiling", 100, []step{
		{throttle: true, want: 70},
		{advance: time.Second, throttle: true, want: 52.5},
		{advance: time.Second, throttle: true, want: 40.25},
		{advance: time.Second, throttle: true, want: 31.675},
		{advance: time.Second, throttle: true, want: 25.6725},
		{advance: 10 * time.Second, want: 75.6725},
	}},
	{"floor at 1/s for a small ceiling", 5, []step{
		{throttle: true, want: 3.5},
		{advance: time.Second, throttle: true, want: 2.625},
		{advance: time.Second, throttle: true, want: 2.0125},
		{advance: time.Second, throttle: true, want: 1.58375},
		{advance: time.Second, throttle: true, want: 1.283625},
		{advance: time.Second, throttle: true, want: 1.0735375},
		{advance: time.Second, throttle: true, want: 1},
		{advance: time.Second, throttle: true, want: 1},
		{advance: time.Second, want: 1.25},
	}},
	{"floor reached when throttles come faster than recovery", 0.5, []step{
		{throttle: true, want: 0.5}, // floor is min(ceiling, 1/s)
		{advance: time.Second, throttle: true, want: 0.5},
	}},
	{"lowering the ceiling applies at once", 100, []step{
		{ceiling: 40, want: 40},
		{throttle: true, want: 28},
		{advance: time.Second, want: 30},
		{ceiling: 100, want: 33}, // recovery now climbs by 5 /s towards 100
		{advance: time.Second, want: 38},
	}},
	{"raising the ceiling when recovered moves at once", 100, []step{
		{ceiling: 200, want: 200},
	}},
}

// TestAIMD checks the Go model of the adaptation (Rate between calls).
func TestAIMD(t *testing.T) {
	for _, sc := range aimdScenarios {
		t.Run(sc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			ceiling := sc.ceiling
			var s aimdState
			for i, st := range sc.steps {
				now = now.Add(st.advance)
				if st.ceiling != 0 {
					ceiling = st.ceiling
				}
				if st.throttle {
					s, _ = s.throttle(ceiling, now)
				}
				require.InDelta(t, st.want, s.effective(ceiling, now), 1e-9, "step %d", i)
			}
		})
	}
}

func TestFloor(t *testing.T) {
	for ceiling, want := range map[float64]float64{1000: 50, 100: 5, 20: 1, 10: 1, 0.5: 0.5} {
		require.InDelta(t, want, floor(ceiling), 1e-12, "ceiling %g", ceiling)
	}
}
