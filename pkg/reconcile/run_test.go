package reconcile

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRunSettlesUntilCancelled(t *testing.T) {
	g := newRig(t)
	g.r.depth = func(context.Context) (int, error) { return 7, nil }
	users := []string{"u-1", "u-2", "u-3", "u-4", "u-5", "u-6", "u-7", "u-8", "u-9", "u-10", "u-11", "u-12"}
	for _, u := range users {
		g.fence.put(camp, u, Record{State: "ambiguous", Attempt: "a1"})
		g.queue.Put(snsWrap(t, sesJSON(t, evSpec{typ: "Send", campaign: camp, user: u, attempt: "a1"})))
		g.queue.Put(sesJSON(t, evSpec{typ: "Delivery", campaign: camp, user: u, attempt: "a1"}))
	}
	g.queue.Put([]byte("poison"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.r.Run(ctx) }()
	waitFor(t, "every event settled", func() bool { return g.queue.Len() == 1 })
	waitFor(t, "the DLQ depth read", func() bool { return testutil.ToFloat64(g.r.m.dlq) == 7 })
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, u := range users {
		rec := g.fence.get(camp, u)
		require.Equal(t, StateSent, rec.State, u)
		require.Equal(t, FactDelivered, rec.Fact, u)
	}
	require.Equal(t, float64(len(users)), testutil.ToFloat64(g.r.m.facts.WithLabelValues(camp, "delivered")))
	require.Equal(t, float64(len(users)), testutil.ToFloat64(g.r.m.facts.WithLabelValues(camp, "sent")))
}

// A cancelled Run finishes the batch it holds (its fence calls answered)
// within the drain timeout instead of dropping it.
func TestRunDrainsTheBatchInHand(t *testing.T) {
	g := newRig(t)
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.kafka.failNext = 1 << 30
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.r.Run(ctx) }()
	waitFor(t, "a failing produce", func() bool { g.kafka.mu.Lock(); defer g.kafka.mu.Unlock(); return g.kafka.calls > 0 })
	cancel()
	g.kafka.mu.Lock()
	g.kafka.failNext = 0
	g.kafka.mu.Unlock()
	require.NoError(t, <-done)
	require.Zero(t, g.queue.Len(), "the batch in hand finished after the cancel")
	require.Len(t, g.kafka.ledger(t), 1)
}

func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(Config{Topics: testTopics}, Deps{Settler: newFakeFence(), Producer: &fakeKafka{}, Source: &Memory{}, Registerer: reg})
	require.NoError(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"sendonce_reconcile_events_total", "sendonce_reconcile_duplicates_total", "sendonce_reconcile_oldest_message_seconds",
		"sendonce_reconcile_dlq_messages", "sendonce_reconcile_request_duration_seconds"} {
		require.True(t, names[n], n)
	}
	// facts_total has series only once a campaign reports one.
}

func TestOldestMessageAge(t *testing.T) {
	g := newRig(t)
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	g.r.clk = fixedClock{now}
	g.r.cfg.Pollers = 2
	g.r.setOldest(0, []Message{{SentAt: now.Add(-90 * time.Second)}, {SentAt: now.Add(-3 * time.Second)}, {}})
	require.Equal(t, 90.0, testutil.ToFloat64(g.r.m.oldest))
	g.r.setOldest(1, nil)
	require.Equal(t, 90.0, testutil.ToFloat64(g.r.m.oldest), "another poller's empty receive hides nothing")
	g.r.setOldest(0, []Message{{SentAt: now.Add(-5 * time.Second)}})
	require.Equal(t, 5.0, testutil.ToFloat64(g.r.m.oldest))
	g.r.setOldest(0, nil)
	require.Zero(t, testutil.ToFloat64(g.r.m.oldest))
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func TestNewAndConfig(t *testing.T) {
	ok := Deps{Settler: newFakeFence(), Producer: &fakeKafka{}, Source: &Memory{}}
	for name, tc := range map[string]struct {
		cfg  Config
		deps Deps
		err  error
	}{
		"defaults":         {Config{Topics: testTopics}, ok, nil},
		"no prefix":        {Config{}, ok, ErrConfig},
		"bad visibility":   {Config{Topics: testTopics, Visibility: time.Second}, ok, ErrConfig},
		"too many pollers": {Config{Topics: testTopics, Pollers: 100}, ok, ErrConfig},
		"backoff order":    {Config{Topics: testTopics, Backoff: time.Second, MaxBackoff: time.Millisecond}, ok, ErrConfig},
		"no settler":       {Config{Topics: testTopics}, Deps{Producer: &fakeKafka{}, Source: &Memory{}}, ErrDeps},
		"no producer":      {Config{Topics: testTopics}, Deps{Settler: newFakeFence(), Source: &Memory{}}, ErrDeps},
		"no source":        {Config{Topics: testTopics}, Deps{Settler: newFakeFence(), Producer: &fakeKafka{}}, ErrDeps},
	} {
		_, err := New(tc.cfg, tc.deps)
		if tc.err == nil {
			require.NoError(t, err, name)
			continue
		}
		require.True(t, errors.Is(err, tc.err), "%s: %v", name, err)
	}
	c := Config{Topics: testTopics}
	require.NoError(t, c.Validate())
	require.Equal(t, 4, c.Pollers)
	require.Equal(t, 60*time.Second, c.Visibility)

	s := SQSConfig{}
	require.ErrorIs(t, s.Validate(), ErrSQSConfig, "the queue URL is required")
	s = SQSConfig{QueueURL: "http://q", WaitTime: 21 * time.Second}
	require.ErrorIs(t, s.Validate(), ErrSQSConfig)
	s = SQSConfig{QueueURL: "http://q"}
	require.NoError(t, s.Validate())
	require.Equal(t, 20*time.Second, s.WaitTime)
	require.Equal(t, 10, s.MaxMessages)
}
