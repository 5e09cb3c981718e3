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

// The arithmetic of the fence's memory (measured on Redis 7.0.15, jemalloc,
// 64-bit, by this file: 100k users in the default layout 12x64, 50k in the
// others), for a sent user with an id like "user-0001234" (12 bytes) and an
// SES message id (60 characters, stored packed in 28 bytes):
//
// The record is a field of a hash (its bucket), value
// "s|<13-digit ms>|<11-char attempt>|<28 bytes>" = 56 bytes (58 with the
// event flags, e.g. "s*3|...").
//
//   - listpack bucket (while it has at most hash-max-listpack-entries
//     fields, 512 by default in Redis 7 and ElastiCache, and every value is
//     at most hash-max-listpack-value = 64 bytes): an entry is an encoding
//     byte, the bytes and a one-byte back length, so the field costs
//     1+12+1 = 14 B and the value 1+56+1 = 58 B: 72 B per user, plus the
//     rounding of the one allocation to a jemalloc size class (~10%).
//     Measured: 79-83 B per user (used_memory), 80 B (MEMORY USAGE).
//   - per bucket (per key): the main dictionary entry 24 B, the key sds
//     ("sendonce:f:{2026-11:11}:63": 26+3+1 -> 32 B), the robj 16 B, the
//     expires entry 24 B, the table slots 2x8 B, the listpack header and
//     size-class slack: measured ~120 B per bucket (50k users in 11,806
//     buckets: 109 B per user instead of 80). At 100+ users per bucket
//     that is at most 1 B per user.
//   - hashtable bucket (more than 512 fields, or one value over 64 bytes:
//     reasons are cut to 32 bytes so they fit; an unpacked, non-SES
//     message id does not): per user a dictEntry 24 B, the field sds
//     16 B, the value sds 64 B (3+56+1 -> 64) and a table slot 8-16 B.
//     Measured (12 buckets of 4,200 to 8,300 users): 129-136 B per user.
//     Under 150, but 60-70% more than a listpack.
//
// The old layout (one string key per user) paid the per-key cost for
// every user: 176 B. So: Buckets ≈ users per campaign / Shards / 250 (at
// most ~400 per bucket on average, so that no bucket passes 512), and at
// least ~30 per bucket to keep the per-key cost small. The default 12x64
// (768 buckets) fits campaigns of 25k to 300k users.
//
// 100M users in one campaign with Shards = 64: 1.56M users per shard.
// Buckets = 8192 gives ~190 users per bucket (524k keys): 100M x 80 B +
// 524k x 120 B ≈ 8.1 GB (with the default 64 buckets, 24k-field
// hashtables: ~12.9 GB). The 64 hash tags are 64 cluster slots: with 8
// primaries of ~1 GB each, check the slots' spread (CLUSTER COUNTKEYSINSLOT)
// and move slots if one primary got many; each campaign's tags land on
// different slots. The layout is fixed once stored, so size Buckets for the
// largest campaign the prefix will see.

type memoryResult struct {
	Users    int
	Version  string
	PerUser  float64 // used_memory Δ / users, in the default layout
	Sampled  float64 // MEMORY USAGE of every bucket / users, in the default layout
	KeyBytes int     // length of one bucket key
	Wall     time.Duration
	// Layouts is every layout measured: the default first, then one
	// bucket per shard (hashtables: what an undersized layout costs).
	Layouts []memoryLayout
}

// memoryLayout is the measurement of one fence layout.
type memoryLayout struct {
	Layout   fence.Layout
	PerUser  float64 // used_memory Δ / users
	Sampled  float64 // sum of MEMORY USAGE of the buckets / users
	Buckets  int     // buckets written
	Listpack int     // of which listpack-encoded
	Wall     time.Duration
}

// memory measures the fence's Redis memory per sent user on a private,
// empty redis-server (the same binary as the shared one), so that nothing
// else writes meanwhile: users go through ClaimBatch, ArmBatch and
// MarkBatch (batches of 50, as the sender makes them) with a real-shaped
// SES message id, under the default key prefix, once in the default
// layout and once with one bucket per shard (hashtable buckets).
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
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 16})
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
	var def fence.Config
	if err := def.Validate(); err != nil {
		return err
	}
	for _, l := range []fence.Layout{{Shards: def.Shards, Buckets: def.Buckets}, {Shards: def.Shards, Buckets: 1}} {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		m, err := measureLayout(ctx, rdb, l, r.Users)
		if err != nil {
			return err
		}
		r.Layouts = append(r.Layouts, m)
		logf("fence memory on a private Redis %s, layout %s: %d sent users, %.1f B/user (used_memory Δ), MEMORY USAGE %.1f B/user, %d buckets (%d listpack)",
			r.Version, l, r.Users, m.PerUser, m.Sampled, m.Buckets, m.Listpack)
	}
	r.PerUser, r.Sampled, r.Wall = r.Layouts[0].PerUser, r.Layouts[0].Sampled, r.Layouts[0].Wall
	r.KeyBytes = len(fmt.Sprintf("sendonce:f:{%s:%d}:%d", campaignID, def.Shards-1, def.Buckets-1))
	b.res.Memory = r
	return nil
}

// measureLayout fences users sent users in layout l on the empty rdb.
func measureLayout(ctx context.Context, rdb *redis.Client, l fence.Layout, users int) (memoryLayout, error) {
	m := memoryLayout{Layout: l}
	f, err := fence.New(rdb, fence.Config{Shards: l.Shards, Buckets: l.Buckets}, nil) // default prefix and retention
	if err != nil {
		return m, err
	}
	user := func(i int) string { return fmt.Sprintf("user-%07d", i) }
	// Load the scripts, write the layout and open every connection of the
	// pool before the baseline: client buffers, scripts and the layout key
	// are not per-user memory.
	const workers = 16
	conns := make([]*redis.Conn, workers)
	for i := range conns {
		conns[i] = rdb.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			return m, err
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	warm := []fence.Item{{Campaign: "warm-up", User: "warm-up"}}
	if cs, err := f.ClaimBatch(ctx, warm); err == nil {
		_, _ = f.ArmBatch(ctx, warm, []string{cs[0].Token})
		_, _ = f.MarkBatch(ctx, []fence.Mark{{Item: warm[0], Token: cs[0].Token, Op: fence.OpRelease}})
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
		return m, err
	}
	// Batches as the sender makes them: the users of one Kafka partition
	// (shard), 50 at a time.
	byShard := make([][]fence.Item, l.Shards)
	for i := range users {
		u := user(i)
		byShard[l.Shard(u)] = append(byShard[l.Shard(u)], fence.Item{Campaign: campaignID, User: u})
	}
	var batches [][]fence.Item
	for _, items := range byShard {
		for len(items) > 0 {
			n := min(50, len(items))
			batches = append(batches, items[:n])
			items = items[n:]
		}
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
				if i >= len(batches) || ctx.Err() != nil {
					return
				}
				if err := sendBatch(ctx, f, batches[i]); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return m, firstErr
	}
	m.Wall = time.Since(start)
	after, err := info()
	if err != nil {
		return m, err
	}
	m.PerUser = float64(after-before) / float64(users)
	var sum int64
	iter := rdb.Scan(ctx, 0, "sendonce:f:{"+campaignID+":*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			return m, err
		}
		enc, err := rdb.ObjectEncoding(ctx, iter.Val()).Result()
		if err != nil {
			return m, err
		}
		sum += n
		m.Buckets++
		if enc == "listpack" {
			m.Listpack++
		}
	}
	if err := iter.Err(); err != nil {
		return m, err
	}
	m.Sampled = float64(sum) / float64(users)
	return m, nil
}

// sendBatch claims, arms and marks sent one batch, with a real SES message
// id (60 characters; the fence packs it) per user.
func sendBatch(ctx context.Context, f *fence.Fence, items []fence.Item) error {
	claims, err := f.ClaimBatch(ctx, items)
	if err != nil {
		return err
	}
	tokens := make([]string, len(items))
	marks := make([]fence.Mark, len(items))
	for i, c := range claims {
		if c.Err != nil || c.Outcome != fence.Won {
			return fmt.Errorf("claim %s: %v %v", items[i].User, c.Outcome, c.Err)
		}
		tokens[i] = c.Token
		n := len(items[i].User) * 7919 // any distinct-looking id
		marks[i] = fence.Mark{Item: items[i], Token: c.Token, Op: fence.OpSent,
			MessageID: fmt.Sprintf("0100018c7e3a2b1f-%08x-3b7d-4e2a-8f1c-%012x-000000", n, i)}
	}
	errs, err := f.ArmBatch(ctx, items, tokens)
	if err := firstOf(errs, err); err != nil {
		return err
	}
	errs, err = f.MarkBatch(ctx, marks)
	return firstOf(errs, err)
}

func firstOf(errs []error, err error) error {
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
