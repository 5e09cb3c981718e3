package demo

import (
	"hash/fnv"
	"sync"

	"github.com/sendonce/sendonce/pkg/sesfake"
)

// throttler makes the local SES throttle like SES does when it is pressed:
// in bursts. During a storm (a window of the SendEmail calls, counted from
// the start) half of the first attempts are answered with SES's throttling
// error ("Maximum sending rate exceeded"); a fifth of those users are
// throttled again on their second attempt, which sends them to the second
// retry tier. Which users are hit depends only on a hash of the address and
// the call count, so a run is repeatable.
//
// Bursts, not a steady trickle: the senders' shared limiter lowers the rate
// ×0.7 on a throttle and climbs back 5% of the ceiling per quiet second, so
// a throttle every second would hold the rate near a tenth of the ceiling —
// which is what it should do against a real SES that keeps saying "slow
// down", and not what a demo of a minute wants to show.
type throttler struct {
	storms [][2]int // [from, to) call numbers

	mu    sync.Mutex
	n     int
	calls map[string]int
}

// newThrottler throttles over the storms of a run of about calls calls,
// sized so that about percent% of the users are throttled at least once.
// percent 0 throttles nothing.
func newThrottler(calls int, percent float64) *throttler {
	t := &throttler{calls: map[string]int{}}
	if percent <= 0 {
		return t
	}
	// Half of the first attempts of a storm are throttled, so the storms
	// together span 2×percent of the calls: two thirds early, one third
	// after the sender restart.
	span := int(float64(calls) * 2 * percent / 100)
	first, second := span*2/3, span-span*2/3
	a, b := calls*15/100, calls*55/100
	t.storms = [][2]int{{a, a + first}, {b, b + second}}
	return t
}

// fault is the sesfake.Config.Fault.
func (t *throttler) fault(r *sesfake.SendRequest) *sesfake.Fault {
	if len(t.storms) == 0 || len(r.To) == 0 {
		return nil
	}
	to := r.To[0]
	h := fnv.New32a()
	h.Write([]byte(to))
	v := h.Sum32() % 10

	t.mu.Lock()
	defer t.mu.Unlock()
	call := t.n // 0-based number of this call
	t.n++
	t.calls[to]++
	switch t.calls[to] {
	case 1:
		if v%2 == 0 && t.inStorm(call) {
			return sesfake.Throttle
		}
	case 2:
		if v == 0 {
			return sesfake.Throttle
		}
	}
	return nil
}

func (t *throttler) inStorm(n int) bool {
	for _, s := range t.storms {
		if n >= s[0] && n < s[1] {
			return true
		}
	}
	return false
}
