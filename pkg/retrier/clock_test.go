package retrier

import (
	"sync"
	"time"
)

// fakeClock is a Clock that moves only when the test says so. Like the
// real one it has two readings: the wall clock (Now), which Step can move
// back or forward as NTP does, and a monotonic one that only Advance moves
// and that times AfterFunc.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	mono   time.Duration
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	c  *fakeClock
	at time.Duration // on the monotonic reading
	f  func()
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	t := &fakeTimer{c: c, at: c.mono + d, f: f}
	if d <= 0 {
		c.mu.Unlock()
		go f()
		return t
	}
	c.timers[t] = struct{}{}
	c.mu.Unlock()
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}

// Advance moves time and runs the timers that came due, each in its own
// goroutine as time.AfterFunc does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mono += d
	var due []*fakeTimer
	for t := range c.timers {
		if t.at <= c.mono {
			due = append(due, t)
			delete(c.timers, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// Step moves the wall clock alone, back (d < 0) or forward, as an NTP step
// does: timers keep their monotonic deadlines.
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pending is the number of timers armed and not yet fired or stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
