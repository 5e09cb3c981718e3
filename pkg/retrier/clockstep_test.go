package retrier

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWallClockStepNeverWedgesAPartition: a paused tier partition waits on
// the monotonic timer for a wall-clock due time. Whichever way the wall
// clock steps while it waits, the job is moved once it is due by the wall
// clock, within the paused-wake interval (30 s by default), and never before.
func TestWallClockStepNeverWedgesAPartition(t *testing.T) {
	tests := []struct {
		name string
		// step is applied to the wall clock once the partition waits.
		step time.Duration
		// before is monotonic time advanced after the step: the job must
		// still be waiting after it.
		before time.Duration
		// within is how much more monotonic time (in 10 s steps) may pass
		// before the job must have moved.
		within time.Duration
		// undo steps the wall clock back by -step after before: an NTP
		// correction undone.
		undo bool
	}{
		// Back 10 min: the 1 h timer fires at wall 00:50, nothing is due.
		// Today no timer is armed again and the partition waits forever.
		{name: "back", step: -10 * time.Minute, before: time.Hour, within: 11 * time.Minute},
		// Forward 2 h: the job is due at once by the wall clock; it must
		// not wait for the 1 h monotonic timer.
		{name: "forward", step: 2 * time.Hour, before: 0, within: time.Minute},
		// Back 30 min, the timer fires early at wall 00:30, then forward
		// 30 min again: due at once, and no timer armed today.
		{name: "back and forward", step: -30 * time.Minute, before: time.Hour, within: time.Minute, undo: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk, _ := fakeHarness(t)
			jobs := h.cfg.Topics.Jobs()
			due := t0.Add(time.Hour)
			h.produceTier(h.cfg.Policy.Tiers[0], 0, testJob("c1", "later", 1), due)
			x := h.start(nil)

			// The partition paused and armed its timer: with the commit
			// and depth loops' timers, three are pending.
			require.Eventually(t, func() bool { return value(x.r.m.paused) == 1 && clk.pending() == 3 }, wait, 5*time.Millisecond)

			clk.Step(tt.step)
			if tt.before > 0 {
				clk.Advance(tt.before)
			}
			// Not before its time (this also lets the early wake be handled
			// before any undo).
			if clk.Now().Before(due) {
				require.Never(t, func() bool { return h.count(jobs) > 0 }, 300*time.Millisecond, 20*time.Millisecond,
					"moved at wall %s, before its due time", clk.Now().Format(time.TimeOnly))
			}
			if tt.undo {
				clk.Step(-tt.step)
			}

			// Each step of monotonic time, the job moves or a timer is
			// armed again (the partition's, besides the commit and depth
			// loops'): waiting is on real time, generously, so a loaded
			// machine cannot fail it, and a wedged partition can never pass.
			moved := func() bool { return h.count(jobs) == 1 }
			for step := time.Duration(0); step < tt.within; step += 10 * time.Second {
				clk.Advance(10 * time.Second)
				require.Eventually(t, func() bool { return moved() || clk.pending() == 3 }, wait, 5*time.Millisecond,
					"no timer armed at wall %s for the job due at %s: the partition is wedged", clk.Now().Format(time.TimeOnly), due.Format(time.TimeOnly))
				if moved() {
					break
				}
			}
			require.Eventually(t, moved, wait, 5*time.Millisecond, "the job due at %s was not moved by wall %s: the partition is wedged",
				due.Format(time.TimeOnly), clk.Now().Format(time.TimeOnly))
			require.Equal(t, []string{"later"}, users(h.readAll(jobs)))
		})
	}
}
