package redisconn

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestRealCluster: REDIS_CLUSTER_URL (services.sh's three masters) gives a
// cluster client that reads and writes keys of every slot; ForEachMaster
// reaches the three masters; one seed host with --redis-cluster finds the
// others; and a single client on the same seed is refused the keys of the
// other nodes (MOVED), which is why the flag exists.
func TestRealCluster(t *testing.T) {
	ctx := context.Background()
	url := testenv.RedisClusterURL(t)
	rdb, err := New(ctx, Config{URL: url, Timeout: 5 * time.Second})
	require.NoError(t, err, "REDIS_CLUSTER_URL is set but the cluster does not answer")
	t.Cleanup(func() { rdb.Close() })
	_, ok := rdb.(*redis.ClusterClient)
	require.True(t, ok, "a redis+cluster:// URL gives a cluster client, got %T", rdb)

	prefix := testenv.Name(t, "cl")
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
		require.NoError(t, rdb.Set(ctx, keys[i], i, time.Minute).Err())
	}
	var mu sync.Mutex
	perMaster := map[string]int{}
	require.NoError(t, ForEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		n := 0
		for _, k := range keys {
			c, err := node.Exists(ctx, k).Result()
			if err != nil && !strings.HasPrefix(err.Error(), "MOVED") {
				return err
			}
			n += int(c)
		}
		mu.Lock()
		perMaster[node.Options().Addr] = n
		mu.Unlock()
		return nil
	}))
	require.Len(t, perMaster, 3, "three masters")
	total := 0
	for addr, n := range perMaster {
		require.Positive(t, n, "master %s holds none of 60 keys: slots not spread", addr)
		total += n
	}
	require.Equal(t, len(keys), total, "each key on exactly one master")

	// One seed and --redis-cluster: the client learns the other nodes.
	seed := strings.Split(strings.TrimPrefix(url, "redis+cluster://"), ",")[0]
	one, err := New(ctx, Config{URL: "redis://" + seed, Security: Security{Cluster: true}, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { one.Close() })
	single, err := New(ctx, Config{URL: "redis://" + seed, Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { single.Close() })
	moved := 0
	for i, k := range keys {
		v, err := one.Get(ctx, k).Int()
		require.NoError(t, err)
		require.Equal(t, i, v)
		if err := single.Get(ctx, k).Err(); err != nil {
			require.ErrorContains(t, err, "MOVED")
			moved++
		}
	}
	require.Positive(t, moved, "a single client on one node is sent elsewhere for other nodes' keys")
}
