package sender

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// On a real redis-server whose maxmemory-policy may evict fence keys
// (volatile-lru, ElastiCache's default), the sender refuses to start and
// names the fix; on noeviction it runs and exports the eviction metrics.
func TestRealRedisThatMayEvictIsRefused(t *testing.T) {
	red := testenv.PrivateRedis(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: red.Addr()})
	t.Cleanup(func() { rdb.Close() })
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err())

	_, brokers := kafkatest.Cluster(t)
	srv := fakeSES(t, sesfake.Config{})
	e := newEnv(t, brokers, rdb, srv.URL(), "evict")
	fnc, err := fence.New(rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	s, err := New(e.cfg, Deps{Fence: fnc, Mailer: nopMailer{}})
	require.NoError(t, err)
	err = s.Run(ctx, e.client(s.ClientOpts()...))
	require.ErrorIs(t, err, ErrEvictingRedis)
	require.ErrorContains(t, err, `"volatile-lru"`)
	require.ErrorContains(t, err, "noeviction")

	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	r := e.start(nil)
	waitFor(t, 30*time.Second, "the sender to be ready", func() bool { return r.s.Ready(ctx) == nil })
	require.Equal(t, 1.0, testutil.ToFloat64(r.s.m.noEviction))
	require.Equal(t, 0.0, testutil.ToFloat64(r.s.m.evictedKeys))
	r.stop(t)
}
