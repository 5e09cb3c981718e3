package sender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// TestFenceRestoreAfterRedisDataLoss: Redis loses every key after a
// campaign was sent; fence-restore rebuilds it from the ledger, and a replay
// then sends nothing again.
func TestFenceRestoreAfterRedisDataLoss(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	e.publish("c1", 50, "example.com")
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 50, srv.Count())

	require.NoError(t, e.rdb.FlushAll(context.Background()).Err())
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	cl := e.client()
	defer cl.Close()
	sum, err := RestoreFence(context.Background(), cl, e.topics, "c1", fnc)
	require.NoError(t, err)
	require.Equal(t, RestoreSummary{Entries: 50, Terminal: 50, Restored: 50}, sum)
	rec, ok, err := fnc.Get(context.Background(), "c1", "u00007")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, fence.Sent, rec.State)
	require.NotEmpty(t, rec.MessageID)

	// Restoring again changes nothing.
	sum, err = RestoreFence(context.Background(), cl, e.topics, "c1", fnc)
	require.NoError(t, err)
	require.Equal(t, 50, sum.Present)

	_, err = Replay(context.Background(), kadm.NewClient(cl), e.topics.SenderGroup(), e.topics.Jobs(), ReplayTarget{Earliest: true})
	require.NoError(t, err)
	r2 := e.start(nil)
	waitFor(t, 30*time.Second, "replayed group lag 0", func() bool { return e.groupLag() == 0 })
	r2.stop(t)
	require.Equal(t, 50, srv.Count(), "emails after restore and replay")
	require.Equal(t, 50, r2.outcome(outDuplicate))
}
