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

// fakeClock is the injected clock, and miniredis's clock (TIME in the
// script) follows it. Its timers fire at once and move the clock by their
// duration, so Wait runs without sleeping.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	mr     *miniredis.Miniredis
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(c.t.Add(d))
}

// set moves both clocks; c.mu is held.
func (c *fakeClock) set(t time.Time) {
	c.t = t
	if c.mr != nil {
		c.mr.SetTime(t)
	}
}

func (c *fakeClock) after(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(c.t.Add(d))
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

// miniClient returns a miniredis, a client on it and the clock both
// follow.
func miniClient(t *testing.T) (*miniredis.Miniredis, *redis.Client, *fakeClock) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	clk := &fakeClock{mr: mr}
	clk.set(time.Unix(1_800_000_000, 0))
	return mr, rdb, clk
}

func newLimiter(t *testing.T, rdb redis.UniversalClient, clk *fakeClock, cfg Config) *Limiter {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = "test:rate"
	}
	if cfg.Pace == 0 {
		cfg.Pace = 1 // round numbers; TestPace covers the default
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
			_, rdb, clk := miniClient(t)
			l := newLimiter(t, rdb, clk, tt.cfg)
			for i, want := range tt.wants {
				got, err := l.reserve(context.Background(), 1, l.Ceiling(), false)
				require.NoError(t, err)
				require.Equal(t, clk.Now(), got.at)
				got.at = time.Time{}
				require.Equal(t, want, got, "call %d", i)
			}
		})
	}
}

// TestReserveN: n slots in one call; the batch goes when its last slot is
// due (less the burst allowance).
func TestReserveN(t *testing.T) {
	ms := time.Millisecond
	type call struct {
		n    int
		want reservation
	}
	tests := []struct {
		name  string
		cfg   Config
		calls []call // at one instant
	}{
		{"n slots spaced by 1/rate", Config{Rate: 10, MaxAhead: time.Second}, []call{
			{3, reservation{reserved: true, wait: 200 * ms}}, // slots 0, 100, 200ms
			{2, reservation{reserved: true, wait: 400 * ms}}, // 300, 400ms
			{1, reservation{reserved: true, wait: 500 * ms}},
		}},
		{"a batch beyond max ahead is reserved once its first slot is within it", Config{Rate: 10, MaxAhead: 250 * ms}, []call{
			{50, reservation{reserved: true, wait: 4900 * ms}},
			{1, reservation{reserved: false, wait: 4750 * ms}}, // the next slot is at 5s
			{1, reservation{reserved: false, wait: 4750 * ms}},
		}},
		{"burst", Config{Rate: 10, Burst: 3, MaxAhead: time.Second}, []call{
			{2, reservation{reserved: true, wait: 0}},        // slots 0, 100ms, within the burst
			{2, reservation{reserved: true, wait: 100 * ms}}, // 200, 300ms, less two slots of burst
		}},
		{"pace spaces the slots at a fraction of the rate", Config{Rate: 10, Pace: 0.5, MaxAhead: time.Second}, []call{
			{1, reservation{reserved: true, wait: 0}},
			{2, reservation{reserved: true, wait: 400 * ms}}, // 200, 400ms
			{1, reservation{reserved: true, wait: 600 * ms}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rdb, clk := miniClient(t)
			l := newLimiter(t, rdb, clk, tt.cfg)
			for i, c := range tt.calls {
				got, err := l.reserve(context.Background(), c.n, l.Ceiling(), false)
				require.NoError(t, err)
				got.at = time.Time{}
				require.Equal(t, c.want, got, "call %d", i)
			}
		})
	}
}

func TestWaitN(t *testing.T) {
	ms := time.Millisecond
	mr, rdb, clk := miniClient(t)
	l := newLimiter(t, rdb, clk, Config{Key: "k", Rate: 10})
	ctx := context.Background()

	for _, n := range []int{0, -1} {
		_, err := l.WaitN(ctx, n)
		require.False(t, mr.Exists("k"), "n=%d: no call to Redis", n)
		if n < 0 {
			require.ErrorIs(t, err, ErrNegative)
		} else {
			require.NoError(t, err)
		}
	}

	// 5 slots: 0..400ms, then 1 slot at 500ms.
	waited, err := l.WaitN(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, 400*ms, waited)
	waited, err = l.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 100*ms, waited)

	// More than MaxAhead (2s) of slots: it waits longer.
	waited, err = l.WaitN(ctx, 30)
	require.NoError(t, err)
	require.Equal(t, 3000*ms, waited)

	// A context that ends while waiting loses all n slots.
	never := make(chan time.Time)
	l.after = func(time.Duration) (<-chan time.Time, func() bool) { return never, func() bool { return true } }
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(10*ms, cancel)
	_, err = l.WaitN(cctx, 7)
	require.ErrorIs(t, err, context.Canceled)
	got, err := l.reserve(ctx, 1, 10, false)
	require.NoError(t, err)
	// The next slot was 100ms away; the 7 lost ones push it to 800ms.
	require.Equal(t, reservation{reserved: true, wait: 800 * ms, at: clk.Now()}, got)
}

// TestLateSlotsAreRetaken: a process that wakes up more than MaxLate after
// its slots were due gives them up and reserves again, twice at most.
func TestLateSlotsAreRetaken(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		late       time.Duration // every timer fires this late
		wantSleeps []time.Duration
		wantWaited time.Duration
	}{
		{"within max late", 20 * ms, []time.Duration{100 * ms}, 120 * ms},
		{"later: retaken twice, then taken late", 50 * ms, []time.Duration{100 * ms, 50 * ms, 50 * ms}, 350 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rdb, clk := miniClient(t)
			l := newLimiter(t, rdb, clk, Config{Rate: 10, MaxLate: 20 * ms})
			_, err := l.Wait(context.Background()) // the slot at +0
			require.NoError(t, err)
			l.after = func(d time.Duration) (<-chan time.Time, func() bool) {
				clk.Add(tt.late)
				return clk.after(d)
			}
			waited, err := l.Wait(context.Background())
			require.NoError(t, err)
			require.Equal(t, tt.wantSleeps, clk.Sleeps())
			require.Equal(t, tt.wantWaited, waited)
		})
	}
}

func TestIdleDoesNotBankSlots(t *testing.T) {
	_, rdb, clk := miniClient(t)
	l := newLimiter(t, rdb, clk, Config{Rate: 10})
	for range 3 {
		_, err := l.Wait(context.Background())
		require.NoError(t, err)
	}
	clk.Add(time.Hour)
	got, err := l.reserve(context.Background(), 1, 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 0, at: clk.Now()}, got)
	got, err = l.reserve(context.Background(), 1, 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 100 * time.Millisecond, at: clk.Now()}, got, "burst 1: one free slot after idling, not many")
}

func TestWaitUsesTheInjectedTimer(t *testing.T) {
	_, rdb, clk := miniClient(t)
	l := newLimiter(t, rdb, clk, Config{Rate: 10, MaxAhead: 150 * time.Millisecond})
	// Two other replicas took the next slots at this instant.
	other := newLimiter(t, rdb, clk, Config{Rate: 10, MaxAhead: time.Second})
	for range 3 {
		_, err := other.reserve(context.Background(), 1, 10, false)
		require.NoError(t, err)
	}
	// Our slot is at +300ms, 150ms beyond MaxAhead: wait 150ms, reserve,
	// then wait for the slot.
	waited, err := l.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, 300*time.Millisecond, waited)
	require.Equal(t, []time.Duration{150 * time.Millisecond, 150 * time.Millisecond}, clk.Sleeps())
}

// slowTrip is a go-redis hook: every script call reaches Redis `there`
// after it was sent, and its reply comes back `back` after it ran.
type slowTrip struct {
	clk         *fakeClock
	there, back time.Duration
}

func (h slowTrip) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h slowTrip) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "evalsha" {
			return next(ctx, cmd) // setting up the connection
		}
		h.clk.Add(h.there)
		err := next(ctx, cmd)
		h.clk.Add(h.back)
		return err
	}
}

func (h slowTrip) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestSlotsCountFromWhenTheScriptRuns: the script places slots on Redis's
// clock when it runs, and the caller counts the wait from the reply. A
// slow request (a connection being dialled) no longer gets a slot in the
// past that it takes at once, and no slot is taken early.
func TestSlotsCountFromWhenTheScriptRuns(t *testing.T) {
	ms := time.Millisecond
	_, rdb, clk := miniClient(t)
	other := newLimiter(t, rdb, clk, Config{Rate: 10})
	_, err := other.reserve(context.Background(), 1, 10, false) // the slot at +0: the next is at +100ms
	require.NoError(t, err)
	require.NoError(t, reserveScript.Load(context.Background(), rdb).Err()) // one trip per call below
	start := clk.Now()

	slow := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
	t.Cleanup(func() { _ = slow.Close() })
	slow.AddHook(slowTrip{clk: clk, there: 300 * ms, back: 10 * ms})
	l := newLimiter(t, slow, clk, Config{Rate: 10})

	// The script runs at +300ms, after the slot at +100ms has passed:
	// that slot is not given out late, the next one is at +300ms, and
	// the reply at +310ms is already past it.
	_, err = l.Wait(context.Background())
	require.NoError(t, err)
	require.Empty(t, clk.Sleeps())
	require.Equal(t, 310*ms, clk.Now().Sub(start))

	// The slot taken is +300ms, so the next is +400ms: a fast replica
	// asking at +310ms waits 90ms. (Slots placed on the caller's clock
	// gave the slow request the slot at +100ms, 210ms late, and the next
	// caller +310ms: two sends at once, and as many more as requests were
	// waiting for connections together.)
	got, err := other.reserve(context.Background(), 1, 10, false)
	require.NoError(t, err)
	require.Equal(t, reservation{reserved: true, wait: 90 * ms, at: clk.Now()}, got)
}

func TestWaitCancelledLosesTheSlot(t *testing.T) {
	_, rdb, clk := miniClient(t)
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
	got, err := l.reserve(context.Background(), 1, 10, false)
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

	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
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
			_, rdb, clk := miniClient(t)
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
					_, err := a.reserve(context.Background(), 1, a.Ceiling(), true)
					require.NoError(t, err)
				}
				_, err := b.reserve(context.Background(), 1, b.Ceiling(), false)
				require.NoError(t, err)
				require.InDelta(t, st.want, b.Rate(), 1e-9, "step %d: shared rate seen by the other replica", i)
			}
		})
	}
}

func TestThrottleSlowsEveryReplica(t *testing.T) {
	_, rdb, clk := miniClient(t)
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
	mr, rdb, clk := miniClient(t)
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
	mr, rdb, clk := miniClient(t)
	l := newLimiter(t, rdb, clk, Config{Key: "k", Rate: 100})
	_, err := l.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, keyTTL+10*time.Millisecond, mr.TTL("k"), "the next slot is 10ms away")

	// A batch reserved far ahead keeps the state until its last slot
	// plus keyTTL: an expiry before would hand out its slots again.
	_, err = l.reserve(context.Background(), 1000, 100, false)
	require.NoError(t, err)
	require.Equal(t, keyTTL+10*time.Second+10*time.Millisecond, mr.TTL("k"))
	fields, err := mr.HKeys("k")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"tat", "base", "at"}, fields)
}
