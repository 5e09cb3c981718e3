package retrier

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func fakeHarness(t *testing.T, opts ...kfake.Opt) (*harness, *fakeClock, *kfake.Cluster) {
	c, seeds := kafkatest.Cluster(t, opts...)
	clk := newFakeClock(t0)
	return newHarness(t, seeds, "unit", clk), clk, c
}

func TestNotDueIsNotRepublishedUntilItsTime(t *testing.T) {
	h, clk, _ := fakeHarness(t)
	tier := h.cfg.Policy.Tiers[0]
	jobs := h.cfg.Topics.Jobs()
	h.produceTier(tier, 0, testJob("c1", "later", 1), t0.Add(time.Hour))
	x := h.start(nil)

	// It took the record, paused the partition and measured the tier.
	require.Eventually(t, func() bool { return value(x.r.m.paused) == 1 }, wait, 5*time.Millisecond)
	require.Equal(t, 1.0, value(x.r.m.scheduled.WithLabelValues("30s")))
	require.NoError(t, x.r.measureDepth(context.Background()))
	require.Equal(t, 1.0, value(x.r.m.depth.WithLabelValues("30s")))

	// A minute short of its time, a job due now on the other partition goes
	// through; the waiting one does not.
	clk.Advance(59 * time.Minute)
	h.produceTier(tier, 1, testJob("c1", "now", 1), time.Time{})
	require.Eventually(t, func() bool { return h.count(jobs) == 1 }, wait, 5*time.Millisecond)
	require.Equal(t, []string{"now"}, users(h.readAll(jobs)))

	clk.Advance(time.Minute)
	require.Eventually(t, func() bool { return h.count(jobs) == 2 }, wait, 5*time.Millisecond)
	got := h.readAll(jobs)
	require.ElementsMatch(t, []string{"now", "later"}, users(got))
	for _, r := range got {
		if string(r.Key) != "later" {
			continue
		}
		j, err := job.Decode(r.Value)
		require.NoError(t, err)
		require.Equal(t, 1, j.Attempt)
		_, has := job.NotBefore(r)
		require.False(t, has, "the not-before header is dropped")
		require.Equal(t, "throttled", job.Header(r, job.HeaderErrorClass))
		require.Equal(t, "c1", job.Header(r, job.HeaderCampaign))
		require.Equal(t, "41", job.Header(r, job.HeaderOrigOffset))
	}
	require.Equal(t, 2.0, value(x.r.m.republished.WithLabelValues("30s")))
	require.Equal(t, 1.0, value(x.r.m.dueLag))
	require.Eventually(t, func() bool { return value(x.r.m.paused) == 0 }, wait, 5*time.Millisecond)

	// Both offsets are committed by the next commit tick.
	topic := h.cfg.Topics.Retry(tier)
	require.Eventually(t, func() bool {
		clk.Advance(h.cfg.CommitInterval)
		return h.committed(h.cfg.Group, topic, 0) == 1 && h.committed(h.cfg.Group, topic, 1) == 1
	}, wait, 10*time.Millisecond)
	require.NoError(t, x.r.measureDepth(context.Background()))
	require.Equal(t, 0.0, value(x.r.m.depth.WithLabelValues("30s")))
}

func TestPausedPartitionDoesNotHoldOthers(t *testing.T) {
	h, clk, _ := fakeHarness(t)
	short, long := h.cfg.Policy.Tiers[0], h.cfg.Policy.Tiers[1]
	jobs := h.cfg.Topics.Jobs()
	// Partition 0 of the short tier: one job due in an hour, then one due
	// now behind it (it waits: a partition moves in order).
	h.produceTier(short, 0, testJob("c", "a-1h", 1), t0.Add(time.Hour))
	h.produceTier(short, 0, testJob("c", "a-behind", 1), t0)
	// Partition 1 of the short tier and partition 0 of the long tier: due.
	h.produceTier(short, 1, testJob("c", "b-now", 1), t0)
	h.produceTier(long, 0, testJob("c", "c-now", 2), t0.Add(-time.Second))
	x := h.start(nil)

	require.Eventually(t, func() bool { return h.count(jobs) == 2 }, wait, 5*time.Millisecond)
	require.ElementsMatch(t, []string{"b-now", "c-now"}, users(h.readAll(jobs)))
	require.Equal(t, 1.0, value(x.r.m.paused))

	// More records for the other partitions keep flowing while A waits.
	h.produceTier(short, 1, testJob("c", "b-next", 1), t0)
	require.Eventually(t, func() bool { return h.count(jobs) == 3 }, wait, 5*time.Millisecond)

	clk.Advance(time.Hour)
	require.Eventually(t, func() bool { return h.count(jobs) == 5 }, wait, 5*time.Millisecond)
	var order []string
	for _, r := range h.readAll(jobs) {
		if k := string(r.Key); k == "a-1h" || k == "a-behind" {
			order = append(order, k)
		}
	}
	require.Equal(t, []string{"a-1h", "a-behind"}, order, "a partition's records move in offset order")
	require.Equal(t, 1.0, value(x.r.m.republished.WithLabelValues("2m")))
}

func TestMalformedRecordIsDeadLettered(t *testing.T) {
	h, _, _ := fakeHarness(t)
	tier := h.cfg.Policy.Tiers[0]
	topic := h.cfg.Topics.Retry(tier)
	bad := &kgo.Record{Topic: topic, Partition: 0, Key: []byte("u-bad"), Value: []byte("{not json")}
	job.SetHeader(bad, job.HeaderCampaign, "c1")
	job.SetHeader(bad, job.HeaderAttempt, "2")
	// Not due for an hour: a poison record is dead-lettered at once anyway.
	job.SetHeader(bad, job.HeaderNotBefore, "9999999999999")
	h.produce(bad)
	h.produceTier(tier, 0, testJob("c1", "u-good", 1), t0)
	x := h.start(nil)

	require.Eventually(t, func() bool { return h.count(h.cfg.Topics.Jobs()) == 1 }, wait, 5*time.Millisecond)
	require.Equal(t, []string{"u-good"}, users(h.readAll(h.cfg.Topics.Jobs())))
	dlq := h.readAll(h.cfg.Topics.DLQ())
	require.Len(t, dlq, 1)
	d := dlq[0]
	require.Equal(t, "u-bad", string(d.Key))
	require.Equal(t, "{not json", string(d.Value))
	require.Equal(t, retry.ReasonMalformed, job.Header(d, job.HeaderDLQReason))
	require.Contains(t, job.Header(d, job.HeaderLastError), "malformed")
	require.Equal(t, topic, job.Header(d, job.HeaderOrigTopic))
	require.Equal(t, "0", job.Header(d, job.HeaderOrigOffset))
	require.NotEmpty(t, job.Header(d, job.HeaderDeadLettered))
	require.Equal(t, 1.0, value(x.r.m.dlq.WithLabelValues(retry.ReasonMalformed)))

	led := h.readAll(h.cfg.Topics.Ledger())
	require.Len(t, led, 1)
	e, err := ledger.Decode(led[0].Value)
	require.NoError(t, err)
	require.Equal(t, ledger.DeadLettered, e.State)
	require.Equal(t, "c1", e.Campaign)
	require.Equal(t, "u-bad", e.UserID)
	require.Equal(t, 2, e.Attempt)
}

func TestCommitsOnlyAfterAcks(t *testing.T) {
	h, clk, c := fakeHarness(t)
	tier := h.cfg.Policy.Tiers[0]
	topic := h.cfg.Topics.Retry(tier)
	h.produceTier(tier, 0, testJob("c", "u1", 1), t0)

	// From now on produces (only the retrier's) are held, unanswered,
	// until released.
	var blocked atomic.Bool
	var held atomic.Int64
	release := make(chan struct{})
	blocked.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if blocked.Load() {
			held.Add(1)
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	x := h.start(nil)

	require.Eventually(t, func() bool { return held.Load() >= 1 }, wait, 5*time.Millisecond)
	for range 5 {
		clk.Advance(h.cfg.CommitInterval)
		require.Equal(t, int64(-1), h.committed(h.cfg.Group, topic, 0), "committed before the produce was acknowledged")
	}
	require.Equal(t, int64(0), h.count(h.cfg.Topics.Jobs()))

	blocked.Store(false)
	close(release)
	require.Eventually(t, func() bool { return h.count(h.cfg.Topics.Jobs()) == 1 }, wait, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		clk.Advance(h.cfg.CommitInterval)
		return h.committed(h.cfg.Group, topic, 0) == 1
	}, wait, 10*time.Millisecond)
	require.Eventually(t, func() bool { return value(x.r.m.commits) >= 1 }, wait, 5*time.Millisecond)
}

func TestRestartMidWaitLosesNothing(t *testing.T) {
	h, clk, _ := fakeHarness(t)
	tier := h.cfg.Policy.Tiers[0]
	jobs := h.cfg.Topics.Jobs()
	h.produceTier(tier, 0, testJob("c", "done", 1), t0)
	h.produceTier(tier, 0, testJob("c", "waiting", 1), t0.Add(time.Hour))
	h.produceTier(tier, 1, testJob("c", "waiting-too", 1), t0.Add(time.Hour))

	a := h.start(nil)
	require.Eventually(t, func() bool { return h.count(jobs) == 1 && value(a.r.m.paused) == 2 }, wait, 5*time.Millisecond)
	// Killed as by a crash: nothing committed, not even the job it moved.
	a.r.noCommit.Store(true)
	a.stop(t)
	require.Equal(t, int64(-1), h.committed(h.cfg.Group, h.cfg.Topics.Retry(tier), 0))

	b := h.start(nil)
	// The moved job comes again (the fence absorbs it), the waiting ones
	// wait for their time.
	require.Eventually(t, func() bool { return h.count(jobs) == 2 && value(b.r.m.paused) == 2 }, wait, 5*time.Millisecond)
	clk.Advance(time.Hour)
	require.Eventually(t, func() bool { return h.count(jobs) == 4 }, wait, 5*time.Millisecond)
	require.ElementsMatch(t, []string{"done", "done", "waiting", "waiting-too"}, users(h.readAll(jobs)))

	// A graceful stop commits what was moved: a third instance moves nothing.
	require.Eventually(t, func() bool {
		clk.Advance(h.cfg.CommitInterval)
		return h.committed(h.cfg.Group, h.cfg.Topics.Retry(tier), 0) == 2
	}, wait, 10*time.Millisecond)
	b.stop(t)
	c := h.start(nil)
	require.NoError(t, c.r.measureDepth(context.Background()))
	require.Equal(t, 0.0, value(c.r.m.depth.WithLabelValues("30s")))
	require.Equal(t, int64(4), h.count(jobs))
}

func TestRunRejectsAForeignClient(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	r, err := New(DefaultConfig(), Deps{})
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	require.ErrorIs(t, r.Run(context.Background(), cl), ErrClientOpts)
}

func TestRunReturnsWhenItsClientIsClosed(t *testing.T) {
	h, _, _ := fakeHarness(t)
	x := h.start(nil)
	x.cl.Close()
	select {
	case err := <-x.done:
		require.ErrorIs(t, err, ErrClientClosed)
	case <-time.After(wait):
		t.Fatal("Run did not return after its client was closed")
	}
	x.cancel = nil
	require.Error(t, x.r.Ready())
}

func TestBufferStaysBoundedAndOrderIsKept(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration // of every record; 0: all due at once
	}{
		{name: "waiting", delay: time.Hour},
		{name: "backlog due now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk, _ := fakeHarness(t)
			tier := h.cfg.Policy.Tiers[0]
			const n = 120
			var want []string
			for i := range n {
				c := fmt.Sprintf("c%03d", i)
				want = append(want, c)
				var nb time.Time
				if tt.delay > 0 {
					nb = t0.Add(tt.delay + time.Duration(i)*time.Millisecond)
				}
				h.produceTier(tier, 0, testJob(c, "same-user", 1), nb) // one batch per record
			}
			const limit = 4 << 10 // a handful of records per fetch
			x := h.start(func(c *Config) { c.FetchMaxPartitionBytes, c.FetchMaxBytes, c.MaxBatch = limit, limit, 7 })

			if tt.delay > 0 {
				require.Eventually(t, func() bool { return value(x.r.m.paused) == 1 }, wait, 5*time.Millisecond)
				taken := value(x.r.m.scheduled)
				t.Log("taken before the wait", taken)
				require.Less(t, taken, float64(n)/2, "a paused partition kept fetching")
				p := x.r.partition(h.cfg.Topics.Retry(tier), 0)
				p.mu.Lock()
				require.LessOrEqual(t, p.bytes, 2*limit)
				p.mu.Unlock()
				clk.Advance(tt.delay + time.Second)
			}
			require.Eventually(t, func() bool { return h.count(h.cfg.Topics.Jobs()) >= n }, wait, 5*time.Millisecond)
			got := h.readAll(h.cfg.Topics.Jobs())
			require.Len(t, got, n, "moved exactly once")
			var order []string
			for _, r := range got {
				order = append(order, job.Header(r, job.HeaderCampaign))
			}
			require.Equal(t, want, order, "moved in offset order")
		})
	}
}
