package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
)

// A Kafka outage: the fence is settled but the ledger record is not
// acknowledged, so the message is not deleted. Delivered again once Kafka
// is back, the event finds the key Already settled and writes the same
// entry: nothing is lost across a crash between Settle and the produce.
func TestKafkaOutageKeepsTheMessage(t *testing.T) {
	g := newRig(t)
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put(snsWrap(t, sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"})))
	g.kafka.setFailing(true)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	g.step(t, ctx)
	require.Equal(t, 1, g.queue.Len(), "not deleted while its ledger record is not written")
	require.Empty(t, g.kafka.ledger(t))
	require.Greater(t, g.kafka.calls, 1, "the produce was retried")
	require.Equal(t, StateSent, g.fence.get(camp, "u-1").State, "the fence was settled before the outage ended the batch")
	require.Zero(t, sumCounter(t, g, "sendonce_reconcile_events_total"), "counted only once its effects landed")

	g.kafka.setFailing(false)
	g.redeliver(t)
	g.step(t, context.Background())
	require.Zero(t, g.queue.Len())
	got := g.kafka.ledger(t)
	require.Len(t, got, 1)
	require.Equal(t, ledger.Sent, got[0].State)
	require.Equal(t, ledger.ReasonSettledByEvent, got[0].Reason)
	require.Equal(t, 1.0, testutil.ToFloat64(g.r.m.events.WithLabelValues("Send", outAlready)))
}

// A Kafka outage that ends within the batch: retried, then deleted.
func TestKafkaOutageRetried(t *testing.T) {
	g := newRig(t)
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Delivery", campaign: camp, user: "u-1", attempt: "a1"}))
	g.kafka.failNext = 3
	g.step(t, context.Background())
	require.Zero(t, g.queue.Len())
	require.Len(t, g.kafka.ledger(t), 1)
	require.GreaterOrEqual(t, g.kafka.calls, 4, "three failed produces, then the one that landed")
}

// A Redis outage: Settle is retried; a batch cut short leaves its message.
func TestRedisOutage(t *testing.T) {
	g := newRig(t)
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"}))

	g.fence.fail = 1 << 30
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	g.step(t, ctx)
	require.Equal(t, 1, g.queue.Len(), "an unsettled message is never deleted")
	require.Empty(t, g.kafka.ledger(t))

	g.fence.mu.Lock()
	g.fence.fail = 3
	g.fence.mu.Unlock()
	g.redeliver(t)
	g.step(t, context.Background())
	require.Zero(t, g.queue.Len())
	require.Equal(t, StateSent, g.fence.get(camp, "u-1").State)
	require.Len(t, g.kafka.ledger(t), 1)
}

// An event the fence refuses (ErrInvalid) is not retried and not deleted
// (the queue's redrive policy takes it); the rest of its batch goes on.
func TestInvalidEventKeptNotRetried(t *testing.T) {
	g := newRig(t)
	g.fence.invalid = map[string]bool{"u-bad": true}
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-bad", attempt: "a1"}))
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"}))
	g.step(t, context.Background())
	require.Equal(t, 1, g.queue.Len(), "the refused event stays")
	require.Equal(t, 2, g.fence.calls, "one call each: a refusal is not retried")
	require.Equal(t, StateSent, g.fence.get(camp, "u-1").State)
	require.Equal(t, 1.0, testutil.ToFloat64(g.r.m.events.WithLabelValues("Send", outInvalid)))
}
