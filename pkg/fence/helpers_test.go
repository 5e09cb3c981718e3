package fence

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// fakeClock is the injected clock: tests move time instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backend gives a suite a Redis client and a key prefix of its own.
type backend struct {
	name string
	// client returns a client and a unique prefix; it skips when the
	// backend is not available.
	client func(t testing.TB) (redis.UniversalClient, string)
}

var miniBackend = backend{name: "miniredis", client: func(t testing.TB) (redis.UniversalClient, string) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, "sendonce"
}}

var realBackend = backend{name: "redis", client: realRedis}

func realRedis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testenv.Name(t, "fence")
	t.Cleanup(func() { deletePrefix(rdb, prefix) })
	return rdb, prefix
}

// deletePrefix removes what a test wrote to the shared Redis.
func deletePrefix(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// newFence builds a Fence on b with cfg (prefix filled in) and a fake clock.
func newFence(t *testing.T, b backend, cfg Config) (*Fence, *fakeClock, redis.UniversalClient) {
	t.Helper()
	rdb, prefix := b.client(t)
	cfg.Prefix = prefix
	clk := newClock()
	f, err := New(rdb, cfg, clk.Now)
	require.NoError(t, err)
	return f, clk, rdb
}
