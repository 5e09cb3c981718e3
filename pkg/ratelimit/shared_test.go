package ratelimit

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

func realClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestSharedLimitAcrossReplicas runs four limiters (four replicas, each
// with its own client) on one key at 200/s for 1.5s, each driven by many
// goroutines, and checks the total and every 1s sliding window of the
// moments Wait returned. Real time is involved, and CI runs this next to
// whole pipelines on two cores, so the bounds check that the replicas share
// one limit (an unshared or broken limiter sends four times as much, or
// thousands), not its precision: that is measured by `make bench` (rate
// precision, docs/BENCHMARKS.md), never in a timed unit test.
func TestSharedLimitAcrossReplicas(t *testing.T) {
	url := testenv.RedisURL(t)
	key := testenv.Name(t, "rate")
	const (
		rate     = 200.0
		replicas = 4
		workers  = 8
		run      = 1500 * time.Millisecond
	)
	t.Cleanup(func() { realClient(t, url).Del(context.Background(), key) })

	var limiters []*Limiter
	for range replicas {
		l, err := New(realClient(t, url), Config{Key: key, Rate: rate}, nil)
		require.NoError(t, err)
		limiters = append(limiters, l)
	}

	var (
		mu     sync.Mutex
		stamps []time.Time
		errs   []error
		wg     sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(run)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	for _, l := range limiters {
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
	t.Logf("%d sends in %s (want about %.0f)", len(stamps), run, want)
	require.LessOrEqual(t, float64(len(stamps)), want*1.1, "more sends than the shared rate allows")
	require.GreaterOrEqual(t, float64(len(stamps)), want*0.5, "the limiter starved its callers")

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

// BenchmarkWait measures Wait at an unlimited rate (no Redis at all) and at
// a rate high enough never to wait (one Redis round trip per call).
func BenchmarkWait(b *testing.B) {
	ctx := context.Background()
	b.Run("unlimited", func(b *testing.B) {
		l, err := New(nil, Config{}, nil)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	url := os.Getenv("REDIS_URL")
	high := func(b *testing.B) *Limiter {
		if url == "" {
			b.Skip("REDIS_URL is not set: this benchmark needs a real Redis")
		}
		key := "bench:rate:" + time.Now().Format("150405.000000000")
		rdb := realClient(b, url)
		b.Cleanup(func() { rdb.Del(context.Background(), key) })
		l, err := New(rdb, Config{Key: key, Rate: 1e9}, nil)
		require.NoError(b, err)
		return l
	}
	b.Run("high-rate", func(b *testing.B) {
		l := high(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("high-rate-parallel", func(b *testing.B) {
		l := high(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Wait(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
