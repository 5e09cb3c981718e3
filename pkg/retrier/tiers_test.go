package retrier

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestIntegrationDrainsTierTopicsNotInRetryTiers: on the real broker, the
// topics of tiers removed from --retry-tiers (here 5m, 1h) still hold jobs;
// the retrier, started with 30s,2m, moves them when due and commits them,
// and leaves alone topics that only look like tiers.
func TestIntegrationDrainsTierTopicsNotInRetryTiers(t *testing.T) {
	seeds := testenv.Kafka(t)
	prefix := testenv.Name(t, "retrier")
	h := newHarness(t, seeds, prefix, RealClock())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	old := []time.Duration{5 * time.Minute, time.Hour}
	for _, name := range append(h.cfg.Topics.RetryTopics(old), prefix+".retry.notatier", prefix+".retry.5m.bak") {
		resp, err := h.adm.CreateTopic(ctx, 2, -1, nil, name)
		require.NoError(t, err)
		require.NoError(t, resp.Err, name)
	}
	soon := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	h.produceTier(old[0], 0, testJob("c1", "old-5m-due", 3), time.Time{})
	h.produceTier(old[0], 1, testJob("c1", "old-5m-soon", 3), soon)
	h.produceTier(old[1], 1, testJob("c1", "old-1h-due", 5), time.Now().Add(-time.Minute))
	for _, name := range []string{prefix + ".retry.notatier", prefix + ".retry.5m.bak"} {
		r, err := job.Record(name, testJob("c1", "decoy", 1))
		require.NoError(t, err)
		r.Partition = 0
		h.produce(r)
	}
	x := h.start(nil)

	jobs := h.cfg.Topics.Jobs()
	require.Eventually(t, func() bool { return h.count(jobs) == 3 }, wait, 20*time.Millisecond)
	require.ElementsMatch(t, []string{"old-5m-due", "old-5m-soon", "old-1h-due"}, users(h.readAll(jobs)))
	for _, r := range h.readAll(jobs) {
		if string(r.Key) == "old-5m-soon" {
			require.False(t, r.Timestamp.Before(soon), "moved %s before its due time", soon.Sub(r.Timestamp))
		}
	}
	require.Equal(t, 2.0, value(x.r.m.republished.WithLabelValues("5m")))
	require.Equal(t, 1.0, value(x.r.m.republished.WithLabelValues("1h")))
	require.ElementsMatch(t, append(h.cfg.Topics.RetryTopics(h.cfg.Policy.Tiers), h.cfg.Topics.RetryTopics(old)...), x.r.tierTopics())

	// Committed to the end, and measured as drained.
	require.Eventually(t, func() bool {
		return h.committed(h.cfg.Group, h.cfg.Topics.Retry(old[0]), 0) == 1 &&
			h.committed(h.cfg.Group, h.cfg.Topics.Retry(old[0]), 1) == 1 &&
			h.committed(h.cfg.Group, h.cfg.Topics.Retry(old[1]), 1) == 1
	}, wait, 20*time.Millisecond)
	require.NoError(t, x.r.measureDepth(ctx))
	require.Equal(t, 0.0, value(x.r.m.depth.WithLabelValues("5m")))
	// The look-alikes were never consumed.
	for _, name := range []string{prefix + ".retry.notatier", prefix + ".retry.5m.bak"} {
		require.Equal(t, int64(-1), h.committed(h.cfg.Group, name, 0), name)
	}
}
