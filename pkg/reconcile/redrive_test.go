package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/retrier"
	"github.com/sendonce/sendonce/pkg/retry"
)

type noFence struct{}

func (noFence) Reopen(context.Context, string, string) (bool, error) { return true, nil }
func (noFence) Get(context.Context, string, string) (fence.Record, bool, error) {
	return fence.Record{}, false, nil
}

// `retrier redrive` skips the reconciler's DLQ record of a rejected email
// (its job body is not known here) and counts it in skipped_malformed,
// with or without --reason permanent: it re-sends nothing half-empty.
func TestRedriveSkipsTheReconcilersDLQRecords(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds})
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: testTopics, Partitions: 1, ReplicationFactor: -1}, nil))

	g := newRig(t)
	g.r.cfg.Topics = testTopics
	g.fence.put(camp, "u-1", Record{State: "sending", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Rendering Failure", campaign: camp, user: "u-1", attempt: "a1", extra: renderFail}))
	g.step(t, ctx)
	require.Len(t, g.kafka.dlq(), 1)
	g.kafka.mu.Lock()
	produced := g.kafka.recs // the ledger's failed entry and the DLQ record
	g.kafka.mu.Unlock()
	for _, r := range produced {
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	for _, reason := range []string{"", retry.ReasonPermanent} {
		rep, err := retrier.Redrive(ctx, cl, noFence{}, retrier.RedriveOptions{Topics: testTopics, Campaign: camp, Reason: reason})
		require.NoError(t, err)
		require.Equal(t, 1, rep.Matched, reason)
		require.Equal(t, 1, rep.SkippedMalformed, reason)
		require.Zero(t, rep.Redriven, reason)
	}
}
