package reconcile

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUserLocks(t *testing.T) {
	var l userLocks
	a, b, c := userKey{"c", "a"}, userKey{"c", "b"}, userKey{"c", "c"}
	rel, ok := l.lock(context.Background(), []userKey{b, a, b})
	require.True(t, ok)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, ok = l.lock(ctx, []userKey{c, a})
	require.False(t, ok, "a is held: the wait ends with ctx")
	rel2, ok := l.lock(context.Background(), []userKey{c})
	require.True(t, ok, "c was given back when the wait gave up")
	rel2()

	got := make(chan struct{})
	go func() {
		r, ok := l.lock(context.Background(), []userKey{a})
		require.True(t, ok)
		r()
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("took a held key")
	case <-time.After(10 * time.Millisecond):
	}
	rel()
	<-got
}

// Many batches over overlapping users, in every order: no deadlock, and
// one holder per user at a time.
func TestUserLocksNoDeadlock(t *testing.T) {
	var l userLocks
	var mu sync.Mutex
	holders := map[userKey]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				var keys []userKey
				for k := range 3 {
					keys = append(keys, userKey{"c", fmt.Sprint((g*7 + i*3 + k*5) % 6)})
				}
				rel, ok := l.lock(context.Background(), keys)
				require.True(t, ok)
				mu.Lock()
				for _, k := range keys {
					holders[k]++
					require.LessOrEqual(t, holders[k], 1, k)
				}
				mu.Unlock()
				mu.Lock()
				for _, k := range keys {
					holders[k]--
				}
				mu.Unlock()
				rel()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock")
	}
}

// Two pollers' batches about one user: the second waits until the first's
// ledger entry is acknowledged, so the ledger ends with the higher fact.
// Without the user locks the Complaint's entry lands first and the slow
// Delivery's entry overwrites it.
func TestConcurrentBatchesKeepTheLedgerOrder(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	g.fence.put(camp, "u-1", Record{State: StateSent, Attempt: "a1", MessageID: "m"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Delivery", campaign: camp, user: "u-1", attempt: "a1"}))
	first, err := g.queue.Receive(ctx)
	require.NoError(t, err)
	g.queue.Put(sesJSON(t, evSpec{typ: "Complaint", campaign: camp, user: "u-1", attempt: "a1"}))
	second, err := g.queue.Receive(ctx)
	require.NoError(t, err)

	hold := make(chan struct{})
	g.kafka.hold = hold
	var wg sync.WaitGroup
	wg.Go(func() { g.r.batch(ctx, first) })
	waitFor(t, "the first batch settled", func() bool { g.fence.mu.Lock(); defer g.fence.mu.Unlock(); return g.fence.calls == 1 })
	wg.Go(func() { g.r.batch(ctx, second) })
	// The second batch must not settle while the first holds the user.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		g.fence.mu.Lock()
		n := g.fence.calls
		g.fence.mu.Unlock()
		if n > 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	entries := g.kafka.ledger(t)
	require.Len(t, entries, 2)
	require.Equal(t, "complained", entries[len(entries)-1].Fact, "the ledger's latest entry has the highest fact")
	require.Zero(t, g.queue.Len())
}
