package fence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// clusterClient is the cluster client of REDIS_CLUSTER_URL, built as the
// binaries build theirs (redisconn.New pings every master: a cluster that
// is set but unreachable fails the test here).
func clusterClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb, err := redisconn.New(context.Background(), redisconn.Config{URL: testenv.RedisClusterURL(t), Timeout: 5 * time.Second})
	require.NoError(t, err, "REDIS_CLUSTER_URL is set but the cluster does not answer")
	t.Cleanup(func() { rdb.Close() })
	_, ok := rdb.(*redis.ClusterClient)
	require.True(t, ok, "REDIS_CLUSTER_URL must give a cluster client, got %T", rdb)
	return rdb
}

// clusterLayout is the layout of these tests: 48 slot groups per campaign,
// so that a campaign's keys land on all three masters (a layout that put a
// campaign in one slot would fail TestClusterFenceKeysSpreadOverMasters;
// the chance that 48 random slots miss one of three masters is 3·(2/3)^48,
// about 1e-8).
var clusterLayout = fence.Layout{Shards: 48, Buckets: 2}

func clusterFence(t *testing.T, rdb redis.UniversalClient) *fence.Fence {
	t.Helper()
	f, err := fence.New(rdb, fence.Config{
		Prefix: testenv.Name(t, "fence"), Shards: clusterLayout.Shards, Buckets: clusterLayout.Buckets,
		Timeout: 5 * time.Second,
	}, nil)
	require.NoError(t, err)
	l, err := f.Establish(context.Background())
	require.NoError(t, err)
	require.Equal(t, clusterLayout, l)
	return f
}

func clusterUsers(n int) []fence.Item {
	items := make([]fence.Item, n)
	for i := range items {
		items[i] = fence.Item{Campaign: "spring", User: fmt.Sprintf("user-%04d", i)}
	}
	return items
}

func messageID(i int) string {
	return fmt.Sprintf("010001%010d-5e2f1c7a-2b1d-4c55-9f0e-%012d-000000", i, i)
}

// sendAll runs claim → arm → mark sent over items in one batch of each
// call, as the sender does for a batch, and checks every step per user.
func sendAll(t *testing.T, f *fence.Fence, items []fence.Item) {
	t.Helper()
	ctx := context.Background()
	claims, err := f.ClaimBatch(ctx, items)
	require.NoError(t, err)
	require.Len(t, claims, len(items))
	tokens := make([]string, len(items))
	for i, c := range claims {
		require.NoError(t, c.Err, items[i].User)
		require.Equal(t, fence.Won, c.Outcome, "first claim of %s", items[i].User)
		tokens[i] = c.Token
	}
	errs, err := f.ArmBatch(ctx, items, tokens)
	require.NoError(t, err)
	for i, e := range errs {
		require.NoError(t, e, "arm %s", items[i].User)
	}
	marks := make([]fence.Mark, len(items))
	for i := range items {
		marks[i] = fence.Mark{Item: items[i], Token: tokens[i], Op: fence.OpSent, MessageID: messageID(i)}
	}
	errs, err = f.MarkBatch(ctx, marks)
	require.NoError(t, err)
	for i, e := range errs {
		require.NoError(t, e, "mark sent %s", items[i].User)
	}
}

// requireAllDone: a second claim of every item answers Done with the sent
// record and its message id: no user can be sent twice.
func requireAllDone(t *testing.T, f *fence.Fence, items []fence.Item) {
	t.Helper()
	claims, err := f.ClaimBatch(context.Background(), items)
	require.NoError(t, err)
	for i, c := range claims {
		require.NoError(t, c.Err, items[i].User)
		require.Equal(t, fence.Done, c.Outcome, "second claim of %s", items[i].User)
		require.Equal(t, fence.Sent, c.Record.State, items[i].User)
		require.Equal(t, messageID(i), c.Record.MessageID, items[i].User)
	}
}

// TestClusterFenceBatchPerShard: 200 users of one campaign go through the
// batch API one shard at a time (a batch from one Kafka partition: one slot,
// one Lua call each), then a second claim of all 200 answers Done for each.
func TestClusterFenceBatchPerShard(t *testing.T) {
	rdb := clusterClient(t)
	f := clusterFence(t, rdb)
	items := clusterUsers(200)
	byShard := map[int][]int{}
	for i, it := range items {
		s := clusterLayout.Shard(it.User)
		byShard[s] = append(byShard[s], i)
	}
	require.Greater(t, len(byShard), 10, "200 users spread over the shards")
	for _, idx := range byShard {
		batch := make([]fence.Item, len(idx))
		for j, i := range idx {
			batch[j] = items[i]
		}
		claims, err := f.ClaimBatch(context.Background(), batch)
		require.NoError(t, err)
		tokens := make([]string, len(batch))
		for j, c := range claims {
			require.Equal(t, fence.Won, c.Outcome, batch[j].User)
			tokens[j] = c.Token
		}
		errs, err := f.ArmBatch(context.Background(), batch, tokens)
		require.NoError(t, err)
		marks := make([]fence.Mark, len(batch))
		for j, i := range idx {
			require.NoError(t, errs[j])
			marks[j] = fence.Mark{Item: batch[j], Token: tokens[j], Op: fence.OpSent, MessageID: messageID(i)}
		}
		errs, err = f.MarkBatch(context.Background(), marks)
		require.NoError(t, err)
		for j := range errs {
			require.NoError(t, errs[j], batch[j].User)
		}
	}
	requireAllDone(t, f, items)
}

// TestClusterFenceBatchAcrossShards: one batch of 200 users whose keys are
// in 48 slot groups, hence in slots of all three masters, works in one
// ClaimBatch, one ArmBatch and one MarkBatch; the single-user Get finds
// each record where the batch wrote it.
func TestClusterFenceBatchAcrossShards(t *testing.T) {
	rdb := clusterClient(t)
	f := clusterFence(t, rdb)
	items := clusterUsers(200)
	sendAll(t, f, items)
	requireAllDone(t, f, items)
	for i, it := range items {
		rec, ok, err := f.Get(context.Background(), it.Campaign, it.User)
		require.NoError(t, err)
		require.True(t, ok, it.User)
		require.Equal(t, fence.Sent, rec.State, it.User)
		require.Equal(t, messageID(i), rec.MessageID, it.User)
	}
}

// TestClusterFenceKeysSpreadOverMasters: the buckets of one campaign are
// on all three masters (counted on each master: our keys with EXISTS, and
// DBSIZE at least that), and every key of one shard is in one slot.
func TestClusterFenceKeysSpreadOverMasters(t *testing.T) {
	rdb := clusterClient(t)
	f := clusterFence(t, rdb)
	items := clusterUsers(200)
	sendAll(t, f, items)

	keys := map[string]bool{}
	slotOfShard := map[int]int64{}
	ctx := context.Background()
	for _, it := range items {
		k := f.Key(it.Campaign, it.User)
		keys[k] = true
		slot, err := rdb.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		s := clusterLayout.Shard(it.User)
		if prev, ok := slotOfShard[s]; ok {
			require.Equal(t, prev, slot, "every bucket of shard %d in one slot", s)
		}
		slotOfShard[s] = slot
	}
	slots := map[int64]bool{}
	for _, s := range slotOfShard {
		slots[s] = true
	}
	require.Greater(t, len(slots), 10, "the shards of a campaign are different slots")

	var mu sync.Mutex
	ours, dbsize := map[string]int{}, map[string]int64{}
	require.NoError(t, redisconn.ForEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		n := 0
		for k := range keys {
			// A master answers MOVED for a key of another master's slot.
			c, err := node.Exists(ctx, k).Result()
			if err == nil {
				n += int(c)
			}
		}
		size, err := node.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		ours[node.Options().Addr], dbsize[node.Options().Addr] = n, size
		return nil
	}))
	require.Len(t, ours, 3, "three masters")
	total := 0
	for addr, n := range ours {
		require.Positive(t, n, "master %s holds none of the campaign's %d buckets: keys not spread (per master: %v)", addr, len(keys), ours)
		require.GreaterOrEqual(t, dbsize[addr], int64(n), addr)
		total += n
	}
	require.Equal(t, len(keys), total, "each bucket on exactly one master")
	t.Logf("%d buckets of one campaign per master: %v (DBSIZE %v)", len(keys), ours, dbsize)
}

// TestClusterEvictionByMaster: the eviction reading covers every master of
// the cluster (sorted by address), and the one server of a single client.
// The policies themselves are not asserted: pkg/sender's
// TestRealClusterEvictionCheck sets them to allkeys-lru in turn, and
// packages run in parallel.
func TestClusterEvictionByMaster(t *testing.T) {
	rdb := clusterClient(t)
	f := clusterFence(t, rdb)
	ctx := context.Background()
	masters, err := f.EvictionByMaster(ctx)
	require.NoError(t, err)
	require.Len(t, masters, 3)
	for i, m := range masters {
		require.NoError(t, m.Err, m.Addr)
		require.NotEmpty(t, m.Policy, m.Addr)
		require.GreaterOrEqual(t, m.EvictedKeys, int64(0), m.Addr)
		if i > 0 {
			require.Less(t, masters[i-1].Addr, m.Addr, "sorted, distinct")
		}
	}

	node := redis.NewClient(&redis.Options{Addr: masters[1].Addr})
	t.Cleanup(func() { node.Close() })
	single, err := fence.New(node, fence.Config{Prefix: testenv.Name(t, "fence")}, nil)
	require.NoError(t, err)
	one, err := single.EvictionByMaster(ctx)
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, masters[1].Addr, one[0].Addr)
	require.NoError(t, one[0].Err)
	require.NotEmpty(t, one[0].Policy)
}
