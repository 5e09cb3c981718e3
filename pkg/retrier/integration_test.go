package retrier

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationDueLag: against the real broker and the real clock, a job
// due in 2 s is moved back no earlier than its not-before time and within
// 1 s after it, measured by the timestamp of the record in the jobs topic.
func TestIntegrationDueLag(t *testing.T) {
	seeds := testenv.Kafka(t)
	h := newHarness(t, seeds, testenv.Name(t, "retrier"), RealClock())
	x := h.start(nil)

	// 24 jobs over the 4 tier partitions, each due 2 s after it is written:
	// the first of a partition pauses it, the others arrive behind it.
	const n = 24
	notBefore := map[string]time.Time{}
	for i := range n {
		u := fmt.Sprintf("u%02d", i)
		nb := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
		notBefore[u] = nb
		h.produceTier(h.cfg.Policy.Tiers[i%2], int32(i/2%2), testJob("lag", u, 1), nb)
	}
	require.Eventually(t, func() bool { return h.count(h.cfg.Topics.Jobs()) == n }, wait, 10*time.Millisecond)

	var lags []time.Duration
	for _, r := range h.readAll(h.cfg.Topics.Jobs()) {
		nb := notBefore[string(r.Key)]
		lag := r.Timestamp.Sub(nb)
		require.GreaterOrEqual(t, lag, time.Duration(0), "user %s moved %s before its not-before time", r.Key, -lag)
		require.Less(t, lag, time.Second, "user %s moved %s after its not-before time", r.Key, lag)
		lags = append(lags, lag)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("due lag over %d jobs (record timestamp - not-before, ms resolution): min %s, median %s, p90 %s, max %s",
		len(lags), lags[0], lags[len(lags)/2], lags[len(lags)*9/10], lags[len(lags)-1])
	require.Equal(t, float64(n), value(x.r.m.dueLag))
}

// TestIntegrationKillMidWaitLosesNothing: an instance is killed while it
// waits for jobs (having moved others without committing them); a new
// instance in the same group moves every job at least once, none before its
// time, and commits to the end.
func TestIntegrationKillMidWaitLosesNothing(t *testing.T) {
	seeds := testenv.Kafka(t)
	h := newHarness(t, seeds, testenv.Name(t, "retrier"), RealClock())
	later := time.Now().Add(4 * time.Second).Truncate(time.Millisecond)
	want := map[string]time.Time{}
	// Each of the 4 tier partitions: jobs due now, then jobs due later.
	for i := range 20 {
		u, nb := "due-"+string(rune('a'+i)), time.Time{}
		if i >= 10 {
			u, nb = "later-"+string(rune('a'+i)), later
		}
		want[u] = nb
		h.produceTier(h.cfg.Policy.Tiers[i%2], int32(i/2%2), testJob("kill", u, 1), nb)
	}

	// No commit tick during the test: the kill finds everything uncommitted.
	a := h.start(func(c *Config) { c.CommitInterval = time.Hour })
	var (
		moved  int64
		paused float64
	)
	require.Eventually(t, func() bool {
		moved, paused = h.count(h.cfg.Topics.Jobs()), value(a.r.m.paused)
		return moved == 10 && paused == 4
	}, wait, 10*time.Millisecond, "the first instance did not get to wait")
	a.r.noCommit.Store(true)
	a.stop(t)
	for _, tier := range h.cfg.Policy.Tiers {
		for p := range int32(2) {
			require.Equal(t, int64(-1), h.committed(h.cfg.Group, h.cfg.Topics.Retry(tier), p))
		}
	}
	require.Less(t, time.Now(), later, "the test is too slow to kill the retrier while it waits")

	b := h.start(nil)
	seen := map[string]int{}
	require.Eventually(t, func() bool {
		clear(seen)
		for _, r := range h.readAll(h.cfg.Topics.Jobs()) {
			u := string(r.Key)
			seen[u]++
			if nb := want[u]; !nb.IsZero() {
				require.False(t, r.Timestamp.Before(nb), "%s moved before its time", u)
			}
		}
		return len(seen) == len(want)
	}, wait, 50*time.Millisecond, "jobs lost: have %v", seen)
	for u := range want {
		require.GreaterOrEqual(t, seen[u], 1, u)
	}
	require.Eventually(t, func() bool {
		if err := b.r.measureDepth(context.Background()); err != nil {
			return false
		}
		return value(b.r.m.depth) == 0
	}, wait, 50*time.Millisecond, "the new instance never committed to the end")
	t.Logf("moved %d jobs, %d records in the jobs topic (duplicates are absorbed by the fence)", len(seen), h.count(h.cfg.Topics.Jobs()))
}

// TestIntegrationRedrive: dead-lettered jobs of two campaigns; a redrive of
// one brings back only its jobs, with attempt 0, reopens their fence (not
// the fence of a user sent since) and writes ledger entries.
func TestIntegrationRedrive(t *testing.T) {
	seeds := testenv.Kafka(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	prefix := testenv.Name(t, "redrive")
	h := newHarness(t, seeds, prefix, RealClock())
	f, err := fence.New(rdb, fence.Config{Prefix: prefix}, nil)
	require.NoError(t, err)
	ctx := context.Background()
	t.Cleanup(func() {
		for _, k := range []string{"c1/u1", "c1/u2", "c1/u3", "c2/u4"} {
			rdb.Del(ctx, f.Key(k[:2], k[3:]))
		}
	})

	settle := func(c, u string, st fence.State) {
		cl, err := f.Claim(ctx, c, u)
		require.NoError(t, err)
		require.Equal(t, fence.Won, cl.Outcome)
		switch st {
		case fence.Sent:
			require.NoError(t, f.Arm(ctx, c, u, cl.Token))
			require.NoError(t, f.MarkSent(ctx, c, u, cl.Token, "0100019a-msg"))
		case fence.Failed:
			require.NoError(t, f.MarkFailed(ctx, c, u, cl.Token, "rejected"))
		case fence.DeadLettered:
			require.NoError(t, f.MarkDeadLettered(ctx, c, u, cl.Token, "attempts_exhausted"))
		}
	}
	settle("c1", "u1", fence.DeadLettered)
	settle("c1", "u2", fence.Failed)
	settle("c1", "u3", fence.Sent)
	settle("c2", "u4", fence.DeadLettered)
	h.produce(
		h.dlqRecord(testJob("c1", "u1", 8), retry.ReasonExhausted),
		h.dlqRecord(testJob("c1", "u2", 1), retry.ReasonPermanent),
		h.dlqRecord(testJob("c1", "u3", 8), retry.ReasonExhausted),
		h.dlqRecord(testJob("c2", "u4", 8), retry.ReasonExhausted),
		h.dlqRecord(testJob("c2", "u5", 8), retry.ReasonExhausted),
	)
	// The ledger lags the fence for u3 (sent since): the fence decides.
	h.ledger(
		ledger.Entry{Campaign: "c1", UserID: "u1", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c1", UserID: "u2", State: ledger.Failed},
		ledger.Entry{Campaign: "c1", UserID: "u3", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c2", UserID: "u4", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c2", UserID: "u5", State: ledger.DeadLettered},
	)
	ledgerBefore := h.count(h.cfg.Topics.Ledger())
	// readAll returns partitions in no order: new entries are told apart
	// by their state.

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	defer cl.Close()
	rep, err := Redrive(ctx, cl, f, RedriveOptions{Topics: h.cfg.Topics, Campaign: "c1"})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{Read: 5, Matched: 3, Redriven: 2, SkippedAlreadySent: 1}, rep)

	jobs := h.readAll(h.cfg.Topics.Jobs())
	require.ElementsMatch(t, []string{"u1", "u2"}, users(jobs))
	for _, r := range jobs {
		j, err := job.Decode(r.Value)
		require.NoError(t, err)
		require.Equal(t, "c1", j.Campaign)
		require.Equal(t, 0, j.Attempt)
	}
	var entries []string
	for _, r := range h.readAll(h.cfg.Topics.Ledger()) {
		e, err := ledger.Decode(r.Value)
		require.NoError(t, err)
		if e.State != ledger.Redriven {
			continue
		}
		entries = append(entries, e.Campaign+"/"+e.UserID)
	}
	require.ElementsMatch(t, []string{"c1/u1", "c1/u2"}, entries)
	require.Equal(t, ledgerBefore+2, h.count(h.cfg.Topics.Ledger()), "one ledger entry per redriven job, and no other")

	for _, u := range []string{"u1", "u2"} {
		_, ok, err := f.Get(ctx, "c1", u)
		require.NoError(t, err)
		require.False(t, ok, "the fence of c1/%s is open again", u)
		c, err := f.Claim(ctx, "c1", u)
		require.NoError(t, err)
		require.Equal(t, fence.Won, c.Outcome, "the sender may send c1/%s again", u)
	}
	rec, ok, err := f.Get(ctx, "c1", "u3")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, fence.Sent, rec.State)
	rec, ok, err = f.Get(ctx, "c2", "u4")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, fence.DeadLettered, rec.State)
}
