package fence

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// memoryBudget is the target Redis memory of one fenced (sent) user.
const memoryBudget = 150

// randomName returns n random lower-case letters and digits.
func randomName(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// sendBatch claims, arms and marks sent the users of one batch.
func sendBatch(t testing.TB, f *Fence, items []Item, msgID func(i int) string) {
	t.Helper()
	ctx := context.Background()
	claims, err := f.ClaimBatch(ctx, items)
	require.NoError(t, err)
	tokens := make([]string, len(items))
	marks := make([]Mark, len(items))
	for i, c := range claims {
		require.NoError(t, c.Err)
		require.Equal(t, Won, c.Outcome)
		tokens[i] = c.Token
		marks[i] = Mark{Item: items[i], Token: c.Token, Op: OpSent, MessageID: msgID(i)}
	}
	errs, err := f.ArmBatch(ctx, items, tokens)
	require.NoError(t, err)
	for _, err := range errs {
		require.NoError(t, err)
	}
	errs, err = f.MarkBatch(ctx, marks)
	require.NoError(t, err)
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestMemoryPerSentUser measures, with MEMORY USAGE of every bucket on the
// real Redis, what one sent user costs in production-shaped buckets
// (default prefix, a 7-character campaign id, user ids like
// "user-0001234", a real SES message id, about 80 users per bucket).
// MEMORY USAGE counts the key, the hash and its main dictionary entry; the
// expiry entry (one per bucket) is not included. scripts/bench/memory.go
// measures the whole server's used_memory instead.
func TestMemoryPerSentUser(t *testing.T) {
	rdb, _ := realRedis(t)
	prefix := testenv.Name(t, "fmem")
	t.Cleanup(func() { deletePrefix(rdb, prefix) })
	const users = 4000
	f, err := New(rdb, Config{Prefix: prefix, Shards: 5, Buckets: 10}, nil) // 50 buckets: 80 users each
	require.NoError(t, err)
	campaign := "m" + randomName(6)
	ctx := context.Background()
	for start := 0; start < users; start += 50 {
		items := make([]Item, 50)
		for i := range items {
			items[i] = Item{Campaign: campaign, User: fmt.Sprintf("user-%07d", start+i)}
		}
		sendBatch(t, f, items, func(i int) string {
			return fmt.Sprintf("0100018c7e3a2b1f-%08x-3b7d-4e2a-8f1c-%012x-000000", start+i, start+i)
		})
	}
	var total int64
	buckets := 0
	iter := rdb.Scan(ctx, 0, prefix+":f:*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		require.NoError(t, err)
		enc, err := rdb.ObjectEncoding(ctx, iter.Val()).Result()
		require.NoError(t, err)
		require.Equal(t, "listpack", enc, "a bucket of %s must stay a listpack", iter.Val())
		total += n
		buckets++
	}
	require.NoError(t, iter.Err())
	require.Equal(t, 50, buckets)
	per := float64(total) / users
	t.Logf("%d sent users in %d buckets: MEMORY USAGE %.1f B per user", users, buckets, per)
	require.LessOrEqual(t, per, float64(memoryBudget), "a sent user must cost at most %d bytes", memoryBudget)
}

// BenchmarkClaimMarkSent is the fence's cost per sent email one user at a
// time: Claim, Arm and MarkSent (three round trips), on the real Redis. It
// reports the Redis memory of one resulting bucket as B/bucket.
func BenchmarkClaimMarkSent(b *testing.B) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		b.Skip("REDIS_URL is not set: this benchmark needs a real Redis")
	}
	rdb, err := NewClient(url, 2*time.Second)
	require.NoError(b, err)
	b.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{}, nil)
	require.NoError(b, err)
	campaign := "b" + randomName(6)
	b.Cleanup(func() { deletePrefix(rdb, f.cfg.Prefix+":f:"+campaign) })
	ctx := context.Background()

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		run := randomName(4) // -count N runs this again: new users each time
		i := 0
		for b.Loop() {
			user := fmt.Sprintf("s%s%019d", run, i)
			i++
			c, err := f.Claim(ctx, campaign, user)
			if err != nil || c.Outcome != Won {
				b.Fatalf("claim: %v %v", c.Outcome, err)
			}
			if err := f.Arm(ctx, campaign, user, c.Token); err != nil {
				b.Fatal(err)
			}
			if err := f.MarkSent(ctx, campaign, user, c.Token, sesID); err != nil {
				b.Fatal(err)
			}
		}
		n, err := rdb.MemoryUsage(ctx, f.Key(campaign, fmt.Sprintf("s%s%019d", run, 0)), 0).Result()
		require.NoError(b, err)
		b.ReportMetric(float64(n), "B/bucket")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			worker := randomName(8)
			i := 0
			for pb.Next() {
				user := fmt.Sprintf("p%s%015d", worker, i)
				i++
				c, err := f.Claim(ctx, campaign, user)
				if err != nil || c.Outcome != Won {
					b.Errorf("claim: %v %v", c.Outcome, err)
					return
				}
				if err := f.Arm(ctx, campaign, user, c.Token); err != nil {
					b.Error(err)
					return
				}
				if err := f.MarkSent(ctx, campaign, user, c.Token, sesID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkClaimMarkSentBatch is the fence's cost per sent email in
// batches of 50 users of one shard (as the sender makes them from one Kafka
// partition): ClaimBatch, ArmBatch and MarkBatch, three round trips per
// batch, on the real Redis. ns/op is per email.
func BenchmarkClaimMarkSentBatch(b *testing.B) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		b.Skip("REDIS_URL is not set: this benchmark needs a real Redis")
	}
	rdb, err := NewClient(url, 2*time.Second)
	require.NoError(b, err)
	b.Cleanup(func() { _ = rdb.Close() })
	prefix := "bench-" + randomName(6)
	b.Cleanup(func() { deletePrefix(rdb, prefix) })
	f, err := New(rdb, Config{Prefix: prefix}, nil)
	require.NoError(b, err)
	l, err := f.Establish(context.Background())
	require.NoError(b, err)
	campaign := "b" + randomName(6)
	const size = 50
	b.ReportAllocs()
	var batch []Item
	next := 0
	for b.Loop() {
		u := fmt.Sprintf("user-%09d", next)
		for next++; l.Shard(u) != 0; next++ {
			u = fmt.Sprintf("user-%09d", next) // one shard: one slot group
		}
		batch = append(batch, Item{Campaign: campaign, User: u})
		if len(batch) == size {
			sendBatch(b, f, batch, func(int) string { return sesID })
			batch = batch[:0]
		}
	}
}
