package ratelimit

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// fakeClock is the injected clock. Its timers fire at once and move the
// clock by their duration, so Wait runs without sleeping.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
	// tick moves the clock on every Now, like a slow round trip.
	tick time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.tick)
	return t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) after(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch, func() bool { return false }
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func miniClient(t *testing.T) (*miniredis.Miniredis, redis.UniversalClient) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return mr, rdb
}

func newLimiter(t *testing.T, rdb redis.UniversalClient, clk *fakeClock, cfg Config) *Limiter {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = "test:rate"
	}
	l, err := New(rdb, cfg, clk.Now)
	require.NoError(t, err)
	l.after = clk.after
	return l
}

func TestReservations(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		cfg   Config
		wants []reservation // successive calls at one instant
	}{
		{"spaced by 1/rate", Config{Rate: 10, MaxAhead: 250 * ms}, []reservation{
			{reserved: true, wait: 0}, {reserved: true, wait: 100 * ms}, {reserved: true, wait: 200 * ms},
			{reserved: false, wait: 50 * ms}, // slot at 300ms is beyond max ahead: ask again in 50ms
			{reserved: false, wait: 50 * ms}, // and nothing was reserved
		}},
		{"burst goes at once", Config{Rate: 10, Burst: 3, MaxAhead: time.Second}, []reservation{
			{reserved: true, wait: 0}, {reserved: true, wait: 0}, {reserved: true, wait: 0}, {reserved: true, wait: 100 * ms}, {reserved: true, wait: 200 * ms},
		}},
		{"fractional intervals", Config{Rate: 3, MaxAhead: time.Second}, []reservation{
			{reserved: true, wait: 0}, {reserved: true, wait: 333334 * time.Microsecond}, {reserved: true, wait: 666667 * time.Microsecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rdb := miniClient(t)
			clk := newClock()
			l := newLimiter(t, rdb, clk, tt.cfg)
			for i, want := range tt.wants {
				got, err := l.reserve(context.Background(), l.Ceiling(), false)
				require.NoError(t, err)
				require.Equal(t, clk.Now(), got.at)
				got.at = time.Time{}
				require.Equal(t, want, got, "call %d", i)
			}
		})
	}
}

func TestIdleDoesNotBankSlots(t *testing.T) {
	_, rdb := miniClient(t)
	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Rate: 10})
	for range 3 {
		_, err := l.Wait(context.Background())
		require.NoError(t, err)
	}
	clk.Add(time.Hour)
	got, err := l.reserve(context.Background(), 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 0, at: clk.Now()}, got)
	got, err = l.reserve(context.Background(), 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 100 * time.Millisecond, at: clk.Now()}, got, "burst 1: one free slot after idling, not many")
}

func TestWaitUsesTheInjectedTimer(t *testing.T) {
	_, rdb := miniClient(t)
	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Rate: 10, MaxAhead: 150 * time.Millisecond})
	// Two other replicas took the next slots at this instant.
	other := newLimiter(t, rdb, clk, Config{Rate: 10, MaxAhead: time.Second})
	for range 3 {
		_, err := other.reserve(context.Background(), 10, false)
		require.NoError(t, err)
	}
	// Our slot is at +300ms, 150ms beyond MaxAhead: wait 150ms, reserve,
	// then wait for the slot.
	waited, err := l.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 300*time.Millisecond, waited)
	require.Equal(t, []time.Duration{150 * time.Millisecond, 150 * time.Millisecond}, clk.Sleeps())
}

func TestWaitCountsTheRoundTrip(t *testing.T) {
	_, rdb := miniClient(t)
	clk := newClock()
	other := newLimiter(t, rdb, clk, Config{Rate: 10})
	_, err := other.reserve(context.Background(), 10, false) // takes the slot at +0
	require.NoError(t, err)

	// Every reading of the clock is 10ms after the previous one: Wait
	// starts at +0, sends +10ms to Redis and gets "90ms" back (the slot is
	// at +100ms), reads +20ms when the reply is in: it sleeps 80ms and
	// returns right at the slot, not a round trip late.
	clk.tick = 10 * time.Millisecond
	l := newLimiter(t, rdb, clk, Config{Rate: 10})
	_, err = l.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, []time.Duration{80 * time.Millisecond}, clk.Sleeps())

	// A reply that comes after the slot means no sleep at all.
	clk.tick = 500 * time.Millisecond
	_, err = l.Wait(context.Background())
	require.NoError(t, err)
	require.Len(t, clk.Sleeps(), 1)
}

func TestWaitCancelledLosesTheSlot(t *testing.T) {
	_, rdb := miniClient(t)
	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Rate: 10})
	_, err := l.Wait(context.Background())
	require.NoError(t, err)

	never := make(chan time.Time)
	l.after = func(time.Duration) (<-chan time.Time, func() bool) { return never, func() bool { return true } }
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err = l.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled)

	// The lost slot is not given back.
	got, err := l.reserve(context.Background(), 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 200 * time.Millisecond, at: clk.Now()}, got)

	_, err = l.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled, "an ended context never reserves")
}

func TestUnlimitedNeedsNoRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })

	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Rate: 0, Timeout: 100 * time.Millisecond})
	for range 100 {
		waited, err := l.Wait(context.Background())
		require.NoError(t, err)
		require.Zero(t, waited)
	}
	require.Zero(t, l.Rate())
	l.Throttled()
	require.Zero(t, l.Rate())

	// A ceiling makes it use Redis, which is down here.
	l.SetCeiling(50)
	require.InDelta(t, 50, l.Rate(), 0)
	_, err = l.Wait(context.Background())
	require.Error(t, err)
	l.SetCeiling(-1)
	_, err = l.Wait(context.Background())
	require.NoError(t, err)
}

// TestScriptMatchesModel runs the AIMD scenarios through the Lua script
// (one replica throttles, another one reads the shared rate) and compares
// with the Go model.
func TestScriptMatchesModel(t *testing.T) {
	for _, sc := range aimdScenarios {
		t.Run(sc.name, func(t *testing.T) {
			_, rdb := miniClient(t)
			clk := newClock()
			a := newLimiter(t, rdb, clk, Config{Rate: sc.ceiling, MaxAhead: time.Hour})
			b := newLimiter(t, rdb, clk, Config{Rate: sc.ceiling, MaxAhead: time.Hour})
			for i, st := range sc.steps {
				clk.Add(st.advance)
				if st.ceiling != 0 {
					a.SetCeiling(st.ceiling)
					b.SetCeiling(st.ceiling)
				}
				if st.throttle {
					a.Throttled()
					require.InDelta(t, st.want, a.Rate(), 1e-9, "step %d: local guess", i)
					_, err := a.reserve(context.Background(), a.Ceiling(), true)
					require.NoError(t, err)
				}
				_, err := b.reserve(context.Background(), b.Ceiling(), false)
				require.NoError(t, err)
				require.InDelta(t, st.want, b.Rate(), 1e-9, "step %d: shared rate seen by the other replica", i)
			}
		})
	}
}

func TestThrottleSlowsEveryReplica(t *testing.T) {
	_, rdb := miniClient(t)
	clk := newClock()
	a := newLimiter(t, rdb, clk, Config{Rate: 100, MaxAhead: time.Hour})
	b := newLimiter(t, rdb, clk, Config{Rate: 100, MaxAhead: time.Hour})
	a.Throttled() // carried by a's next Wait
	_, err := a.Wait(context.Background())
	require.NoError(t, err)
	start := clk.Now()
	for range 7 {
		_, err := b.Wait(context.Background())
		require.NoError(t, err)
	}
	// 1/70s per slot: b's 7th slot is 7 intervals after a's.
	require.Equal(t, 100*time.Millisecond, clk.Now().Sub(start).Round(time.Millisecond))
	require.InDelta(t, 70, b.Rate(), 1e-9)
}

func TestThrottleSurvivesARedisError(t *testing.T) {
	mr, rdb := miniClient(t)
	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Rate: 100, Timeout: 200 * time.Millisecond})
	_, err := l.Wait(context.Background())
	require.NoError(t, err)

	mr.Close()
	l.Throttled()
	_, err = l.Wait(context.Background())
	require.Error(t, err)

	require.NoError(t, mr.Restart())
	other := newLimiter(t, rdb, clk, Config{Rate: 100})
	_, err = l.Wait(context.Background())
	require.NoError(t, err)
	_, err = other.Wait(context.Background())
	require.NoError(t, err)
	require.InDelta(t, 70, other.Rate(), 1e-9, "the throttle reached Redis once it was back")
}

func TestStateExpires(t *testing.T) {
	mr, rdb := miniClient(t)
	clk := newClock()
	l := newLimiter(t, rdb, clk, Config{Key: "k", Rate: 100})
	_, err := l.Wait(context.Background())
	require.NoError(t, err)
	ttl := mr.TTL("k")
	require.Equal(t, keyTTL+DefaultMaxAhead, ttl)
	fields, err := mr.HKeys("k")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"tat", "base", "at"}, fields)
}
