package sender

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestMergeEviction: the masters of a cluster as one reading: refused if
// any master may evict (named), evicted_keys summed, an unreachable master
// is unavailability, a refused CONFIG GET is reported unless a verdict was
// found elsewhere.
func TestMergeEviction(t *testing.T) {
	ok := func(addr string, n int64) fence.MasterEviction {
		return fence.MasterEviction{Addr: addr, Eviction: fence.Eviction{Policy: fence.NoEviction, EvictedKeys: n}}
	}
	policy := func(addr, p string, n int64) fence.MasterEviction {
		return fence.MasterEviction{Addr: addr, Eviction: fence.Eviction{Policy: p, EvictedKeys: n}}
	}
	noConfig := func(addr string, n int64) fence.MasterEviction {
		return fence.MasterEviction{Addr: addr, Eviction: fence.Eviction{EvictedKeys: n}, Err: fmt.Errorf("%w: ERR unknown command", fence.ErrConfigCommand)}
	}
	down := func(addr string) fence.MasterEviction {
		return fence.MasterEviction{Addr: addr, Err: fmt.Errorf("fence: info: %w: connection refused", fence.ErrUnavailable)}
	}
	tests := []struct {
		name    string
		masters []fence.MasterEviction
		policy  string
		evicted int64
		where   string // substring; "" must be empty
		err     error
	}{
		{name: "one server", masters: []fence.MasterEviction{ok("a:1", 7)}, policy: fence.NoEviction, evicted: 7},
		{name: "one server that may evict", masters: []fence.MasterEviction{policy("a:1", "volatile-lru", 2)}, policy: "volatile-lru", evicted: 2},
		{name: "three masters all noeviction, sum", masters: []fence.MasterEviction{ok("a:1", 1), ok("b:2", 2), ok("c:3", 4)}, policy: fence.NoEviction, evicted: 7},
		{name: "one master of three may evict", masters: []fence.MasterEviction{ok("a:1", 0), policy("b:2", "allkeys-lru", 5), ok("c:3", 1)}, policy: "allkeys-lru", evicted: 6, where: "master b:2"},
		{name: "the first bad master is named", masters: []fence.MasterEviction{policy("a:1", "allkeys-lfu", 0), policy("b:2", "allkeys-lru", 0)}, policy: "allkeys-lfu", evicted: 0, where: "master a:1"},
		{name: "no evicted_keys anywhere", masters: []fence.MasterEviction{ok("a:1", -1), ok("b:2", -1)}, policy: fence.NoEviction, evicted: -1},
		{name: "evicted_keys on some", masters: []fence.MasterEviction{ok("a:1", -1), ok("b:2", 3)}, policy: fence.NoEviction, evicted: 3},
		{name: "config refused on one", masters: []fence.MasterEviction{ok("a:1", 1), noConfig("b:2", 2)}, policy: "", evicted: 3, err: fence.ErrConfigCommand},
		{name: "config refused but a verdict elsewhere", masters: []fence.MasterEviction{noConfig("a:1", 0), policy("b:2", "volatile-ttl", 0)}, policy: "volatile-ttl", evicted: 0, where: "master b:2"},
		{name: "a master unreachable", masters: []fence.MasterEviction{ok("a:1", 0), down("b:2"), policy("c:3", "allkeys-lru", 0)}, err: fence.ErrUnavailable},
		{name: "no master", masters: nil, err: errNoMasters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, where, err := mergeEviction(tt.masters)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				if errors.Is(tt.err, fence.ErrUnavailable) {
					require.ErrorContains(t, err, "b:2", "the unreachable master is named")
					return
				}
			} else {
				require.NoError(t, err)
			}
			if tt.masters == nil {
				return
			}
			require.Equal(t, tt.policy, ev.Policy)
			require.Equal(t, tt.evicted, ev.EvictedKeys)
			if tt.where == "" {
				require.Empty(t, where)
			} else {
				require.Contains(t, where, tt.where)
			}
		})
	}
}

// passMailer is a Mailer the eviction check never calls.
type passMailer struct{ Mailer }

// TestRealClusterEvictionCheck: on the real 3-master cluster, a sender
// whose fence is on the cluster client refuses to start when one master
// (not the one a keyless command happens to reach) may evict, naming it,
// and starts when every master is noeviction, exporting the sum of
// evicted_keys. The policy is put back in Cleanup.
func TestRealClusterEvictionCheck(t *testing.T) {
	ctx := context.Background()
	rdb, err := redisconn.New(ctx, redisconn.Config{URL: testenv.RedisClusterURL(t), Timeout: 5 * time.Second})
	require.NoError(t, err, "REDIS_CLUSTER_URL is set but the cluster does not answer")
	t.Cleanup(func() { rdb.Close() })
	_, ok := rdb.(*redis.ClusterClient)
	require.True(t, ok, "REDIS_CLUSTER_URL must give a cluster client, got %T", rdb)

	fnc, err := fence.New(rdb, fence.Config{Prefix: testenv.Name(t, "evict")}, nil)
	require.NoError(t, err)
	s, err := New(DefaultConfig(), Deps{Fence: fnc, Mailer: passMailer{}})
	require.NoError(t, err)

	// services.sh starts the nodes with noeviction; set it again in case
	// a killed run of this test left one at allkeys-lru.
	setPolicy := func(addr, policy string) {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		require.NoError(t, c.ConfigSet(context.Background(), "maxmemory-policy", policy).Err(), addr)
	}
	masters, err := fnc.EvictionByMaster(ctx)
	require.NoError(t, err)
	require.Len(t, masters, 3)
	var sum int64
	for _, m := range masters {
		require.NoError(t, m.Err, m.Addr)
		setPolicy(m.Addr, fence.NoEviction)
		sum += m.EvictedKeys
	}
	require.NoError(t, s.checkRedisAtStart(ctx))
	require.Equal(t, 1.0, testutil.ToFloat64(s.m.noEviction))
	require.Equal(t, float64(sum), testutil.ToFloat64(s.m.evictedKeys))

	// Every master in turn may evict: each is found, whichever node a
	// keyless command would reach.
	for _, bad := range masters {
		t.Run(bad.Addr, func(t *testing.T) {
			setPolicy(bad.Addr, "allkeys-lru")
			t.Cleanup(func() { setPolicy(bad.Addr, fence.NoEviction) })
			for range 10 { // a reading of one random node would miss it 2 times in 3
				err := s.checkRedisAtStart(ctx)
				require.ErrorIs(t, err, ErrEvictingRedis)
				require.ErrorContains(t, err, `"allkeys-lru" on master `+bad.Addr)
				require.Equal(t, 0.0, testutil.ToFloat64(s.m.noEviction))
			}
			setPolicy(bad.Addr, fence.NoEviction)
			require.NoError(t, s.checkRedisAtStart(ctx))
			require.Equal(t, 1.0, testutil.ToFloat64(s.m.noEviction))
		})
	}
}
