package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sendonce/sendonce/pkg/fence"
)

type memoryResult struct {
	Users    int
	Version  string
	PerUser  float64 // used_memory Δ / users
	Sampled  float64 // mean MEMORY USAGE of a key
	KeyBytes int     // length of one key
	Wall     time.Duration
}

// memory measures the fence's Redis memory per sent user on a private,
// empty redis-server (the same binary as the shared one), so that nothing
// else writes meanwhile: users go through Claim, Arm and MarkSent with a
// real-shaped SES message id, under the default key prefix.
func (b *bench) memory(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server is not on PATH: no private Redis for the memory measurement")
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	p, err := startProc("redis-private", bin, []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"}, nil, b.logPath("memory", "redis"))
	if err != nil {
		return err
	}
	defer func() { _ = p.stop(10 * time.Second) }()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
	defer rdb.Close()
	for end := time.Now().Add(10 * time.Second); rdb.Ping(ctx).Err() != nil; {
		if time.Now().After(end) || p.exited() {
			return fmt.Errorf("private redis-server on %s did not answer; see %s", addr, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := &memoryResult{Users: b.o.memoryUsers}
	if s, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(s, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
				r.Version = v
			}
		}
	}
	f, err := fence.New(rdb, fence.Config{}, nil) // default prefix "sendonce", default retention
	if err != nil {
		return err
	}
	user := func(i int) string { return fmt.Sprintf("u%09d", i) }
	r.KeyBytes = len(f.Key(campaignID, user(0)))
	// Load the scripts and open every connection of the pool before the
	// baseline: client buffers and scripts are not per-user memory.
	const workers = 64
	conns := make([]*redis.Conn, workers)
	for i := range conns {
		conns[i] = rdb.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			return err
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	if c, err := f.Claim(ctx, campaignID, "warm-up"); err == nil {
		_ = f.Release(ctx, campaignID, "warm-up", c.Token)
	}
	info := func() (int64, error) {
		s, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		return infoInt(s, "used_memory")
	}
	before, err := info()
	if err != nil {
		return err
	}
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= r.Users || ctx.Err() != nil {
					return
				}
				u := user(i)
				err := func() error {
					c, err := f.Claim(ctx, campaignID, u)
					if err != nil {
						return err
					}
					if err := f.Arm(ctx, campaignID, u, c.Token); err != nil {
						return err
					}
					// A real SES message id (60 characters; the fence packs it).
					return f.MarkSent(ctx, campaignID, u, c.Token, fmt.Sprintf("0100018c7e3a2b1f-%08x-3b7d-4e2a-8f1c-%012x-000000", i, i))
				}()
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	r.Wall = time.Since(start)
	after, err := info()
	if err != nil {
		return err
	}
	r.PerUser = float64(after-before) / float64(r.Users)
	var sum int64
	const sample = 2000
	for i := 0; i < sample; i++ {
		n, err := rdb.MemoryUsage(ctx, f.Key(campaignID, user(i*(r.Users/sample))), 0).Result()
		if err != nil {
			return err
		}
		sum += n
	}
	r.Sampled = float64(sum) / sample
	b.res.Memory = r
	logf("fence memory on a private Redis %s: %d sent users, %.1f B/user (used_memory Δ), MEMORY USAGE of a key %.1f B, key %d bytes", r.Version, r.Users, r.PerUser, r.Sampled, r.KeyBytes)
	return nil
}
