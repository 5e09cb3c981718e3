package sender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// TestFenceRestoreSkipsErasedUsers: a user erased by `producer erase`
// (ledger tombstone after their entry) gets no fence key back from
// fence-restore, even before compaction removed the old entry.
func TestFenceRestoreSkipsErasedUsers(t *testing.T) {
	_, brokers := kafkatest.Cluster(t)
	e := newEnv(t, brokers, miniRedis(t), "http://127.0.0.1:1", "erase")
	ctx := context.Background()
	var recs []*kgo.Record
	for _, u := range []string{"u1", "u2"} {
		r, err := ledger.Record(e.topics.Ledger(), ledger.Entry{Campaign: "c1", UserID: u, State: ledger.Sent, At: time.Now().UTC(), MessageID: "m-" + u})
		require.NoError(t, err)
		recs = append(recs, r)
	}
	recs = append(recs, &kgo.Record{Topic: e.topics.Ledger(), Key: kafka.LedgerKey("c1", "u1")}) // erased
	cl := e.client()
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	sum, err := RestoreFence(ctx, cl, e.topics, "c1", fnc)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Restored)
	_, ok, err := fnc.Get(ctx, "c1", "u1")
	require.NoError(t, err)
	require.False(t, ok, "an erased user gets no fence key back")
	_, ok, err = fnc.Get(ctx, "c1", "u2")
	require.NoError(t, err)
	require.True(t, ok)
}
