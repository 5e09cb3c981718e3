package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// clusterClient is a client of REDIS_CLUSTER_URL built as the binaries
// build theirs (redisconn.New pings every master: a cluster that is set
// but unreachable fails the test here). Each call is a new client, as each
// sender replica has its own.
func clusterClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb, err := redisconn.New(context.Background(), redisconn.Config{URL: testenv.RedisClusterURL(t), Timeout: 5 * time.Second})
	require.NoError(t, err, "REDIS_CLUSTER_URL is set but the cluster does not answer")
	t.Cleanup(func() { rdb.Close() })
	_, ok := rdb.(*redis.ClusterClient)
	require.True(t, ok, "REDIS_CLUSTER_URL must give a cluster client, got %T", rdb)
	return rdb
}

// TestClusterLimiterKeysOnEveryMaster: the limiter's script touches only
// its one key, so it works wherever the key's slot is: 48 keys, spread
// over the three masters (the chance that 48 slots miss one is about
// 1e-8), each take a slot.
func TestClusterLimiterKeysOnEveryMaster(t *testing.T) {
	rdb := clusterClient(t)
	ctx := context.Background()
	name := testenv.Name(t, "rate")
	keys := make([]string, 48)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", name, i)
		l, err := ratelimit.New(rdb, ratelimit.Config{Key: keys[i], Rate: 1e6}, nil)
		require.NoError(t, err)
		_, err = l.Wait(ctx)
		require.NoError(t, err, "a limiter whose key is in slot of another master (key %s)", keys[i])
	}
	t.Cleanup(func() {
		for _, k := range keys {
			rdb.Del(context.Background(), k)
		}
	})
	var mu sync.Mutex
	per := map[string]int{}
	require.NoError(t, redisconn.ForEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		n := 0
		for _, k := range keys {
			if c, err := node.Exists(ctx, k).Result(); err == nil { // MOVED: another master's key
				n += int(c)
			}
		}
		mu.Lock()
		per[node.Options().Addr] = n
		mu.Unlock()
		return nil
	}))
	require.Len(t, per, 3)
	total := 0
	for addr, n := range per {
		require.Positive(t, n, "no limiter key on master %s (%v)", addr, per)
		total += n
	}
	require.Equal(t, len(keys), total, "every limiter wrote its key, each on one master")
}

// TestClusterSharedLimitAcrossReplicas runs two limiters (two replicas,
// each with its own cluster client) on one key at 200/s for 1.5s and
// checks the total and every 1s sliding window of the moments Wait
// returned. As in TestSharedLimitAcrossReplicas (single Redis), the bounds
// check that the replicas share one limit on the cluster (unshared, they
// send twice as much), not its precision, which `make bench` measures.
func TestClusterSharedLimitAcrossReplicas(t *testing.T) {
	key := testenv.Name(t, "rate")
	const (
		rate     = 200.0
		replicas = 2
		workers  = 8
		run      = 1500 * time.Millisecond
	)
	var limiters []*ratelimit.Limiter
	for range replicas {
		l, err := ratelimit.New(clusterClient(t), ratelimit.Config{Key: key, Rate: rate}, nil)
		require.NoError(t, err)
		limiters = append(limiters, l)
	}
	cleanup := clusterClient(t)
	t.Cleanup(func() { cleanup.Del(context.Background(), key) })

	var (
		mu     sync.Mutex
		stamps []time.Time
		each   = make([]int, replicas)
		errs   []error
		wg     sync.WaitGroup
	)
	end := time.Now().Add(run)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	for r, l := range limiters {
		for range workers {
			wg.Go(func() {
				for {
					_, err := l.Wait(ctx)
					now := time.Now()
					mu.Lock()
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							errs = append(errs, err)
						}
						mu.Unlock()
						return
					}
					stamps = append(stamps, now)
					each[r]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Empty(t, errs)

	slices.SortFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
	stamps = slices.DeleteFunc(stamps, func(s time.Time) bool { return s.After(end) })
	want := rate * run.Seconds()
	t.Logf("%d sends in %s (want about %.0f), per replica %v", len(stamps), run, want, each)
	require.LessOrEqual(t, float64(len(stamps)), want*1.1, "more sends than the shared rate allows")
	require.GreaterOrEqual(t, float64(len(stamps)), want*0.5, "the limiter starved its callers")
	for r, n := range each {
		require.Positive(t, n, "replica %d got no slot", r)
	}
	most := 0
	for i, j := 0, 0; i < len(stamps); i++ {
		for j < len(stamps) && stamps[j].Sub(stamps[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	t.Logf("busiest 1s window: %d sends (ceiling %.0f)", most, rate)
	require.LessOrEqual(t, float64(most), rate*1.3, "a 1s window far above the shared rate")
}
