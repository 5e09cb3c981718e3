package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// slowDialClient is a client whose every new connection takes dial longer
// to set up, like a TLS handshake to a remote Redis on a busy machine.
func slowDialClient(t testing.TB, url string, dial time.Duration) redis.UniversalClient {
	t.Helper()
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	opt.ContextTimeoutEnabled = true
	var d net.Dialer
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(dial):
		}
		return d.DialContext(ctx, network, addr)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// grants is what callers of WaitN(n) saw: when each call returned, in
// order.
type grants struct {
	at []time.Time
	n  int
}

// avg is the rate between the first and the last grant (the last grant's
// slots are not inside that span).
func (g grants) avg() float64 {
	if len(g.at) < 2 {
		return 0
	}
	return float64(g.n*(len(g.at)-1)) / g.at[len(g.at)-1].Sub(g.at[0]).Seconds()
}

// busiest returns the most slots granted in any window [t, t+1s) starting
// at a grant (the first one included), and where that window starts.
func (g grants) busiest() (most int, at time.Duration) {
	sum := 0
	for i, j := 0, 0; i < len(g.at); i++ {
		for j < len(g.at) && g.at[j].Sub(g.at[i]) < time.Second {
			sum += g.n
			j++
		}
		if sum > most {
			most, at = sum, g.at[i].Sub(g.at[0])
		}
		sum -= g.n
	}
	return most, at
}

// TestPrecision: four replicas (four limiters, each with its own client,
// their connections dialled as the campaign starts, each dial taking
// 150ms) share a cap of 500/s for 4s, each driven by 32 goroutines calling
// WaitN(n). Measured at the moments WaitN returned: no 1s sliding window,
// the first one included, above 105% of the cap, and on average at least
// 95%. With n=50 one batch is 10% of the cap, so the slots need the
// headroom of Config.Pace; with slots placed on the caller's clock the
// first second got every slot of the dial delay at once (about 115% here).
func TestPrecision(t *testing.T) {
	url := testenv.RedisURL(t)
	for _, n := range []int{1, 50} {
		t.Run(fmt.Sprintf("batch %d", n), func(t *testing.T) {
			g := runReplicas(t, url, n, Config{Key: testenv.Name(t, "rate"), Rate: 500})
			most, at := g.busiest()
			t.Logf("%d grants: avg %.1f%% of the cap, busiest second %.1f%% at +%s",
				len(g.at), 100*g.avg()/500, 100*float64(most)/500, at.Round(time.Millisecond))
			require.LessOrEqual(t, most, 525, "a sliding second above 105%% of the cap (at +%s)", at)
			require.GreaterOrEqual(t, g.avg(), 0.95*500, "on average below 95%% of the cap")
		})
	}
}

func runReplicas(t *testing.T, url string, n int, cfg Config) grants {
	const (
		replicas = 4
		workers  = 32
		run      = 4 * time.Second
		dial     = 150 * time.Millisecond
	)
	t.Cleanup(func() { realClient(t, url).Del(context.Background(), cfg.Key) })
	var limiters []*Limiter
	for range replicas {
		l, err := New(slowDialClient(t, url, dial), cfg, nil)
		require.NoError(t, err)
		limiters = append(limiters, l)
	}

	var (
		mu   sync.Mutex
		g    = grants{n: n}
		errs []error
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	for _, l := range limiters {
		for range workers {
			wg.Go(func() {
				for {
					_, err := l.WaitN(ctx, n)
					now := time.Now()
					mu.Lock()
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							errs = append(errs, err)
						}
						mu.Unlock()
						return
					}
					g.at = append(g.at, now)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Empty(t, errs)
	require.NotEmpty(t, g.at)
	slices.SortFunc(g.at, func(a, b time.Time) int { return a.Compare(b) })
	return g
}
