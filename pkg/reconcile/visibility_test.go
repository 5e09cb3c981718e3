package reconcile

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fastClock runs every wait a thousand times faster: a minute of
// visibility passes in 60 ms.
type fastClock struct{}

func (fastClock) Now() time.Time                         { return time.Now() }
func (fastClock) After(d time.Duration) <-chan time.Time { return time.After(d / 1000) }

// extendCounter is a Memory that counts Extend calls.
type extendCounter struct {
	*Memory
	mu      sync.Mutex
	extends int
}

func (e *extendCounter) Extend(ctx context.Context, msgs []Message, d time.Duration) error {
	e.mu.Lock()
	e.extends++
	e.mu.Unlock()
	return e.Memory.Extend(ctx, msgs, d)
}

func (e *extendCounter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.extends
}

// A batch that waits out a Redis outage keeps its messages invisible,
// extending them every half visibility timeout, and stops once done.
func TestSlowBatchExtendsVisibility(t *testing.T) {
	g := newRig(t)
	src := &extendCounter{Memory: g.queue}
	g.r.src = src
	g.r.clk = fastClock{}
	g.r.cfg.Backoff, g.r.cfg.MaxBackoff = time.Second, time.Second // 1 ms each, fast
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"}))
	g.fence.fail = 200 // about 200 ms of outage: several half visibilities of 30 ms

	g.step(t, context.Background())
	require.Zero(t, g.queue.Len())
	n := src.count()
	require.GreaterOrEqual(t, n, 2, "extended while the outage lasted")

	g.queue.Put(sesJSON(t, evSpec{typ: "Delivery", campaign: camp, user: "u-1", attempt: "a1"}))
	g.step(t, context.Background())
	time.Sleep(100 * time.Millisecond) // longer than a half visibility: a leaked extender would call again
	require.Equal(t, n, src.count(), "a fast batch extends nothing, and the slow one's extender stopped")
}
