package fence

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
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

// sentKeyMemory settles one key as sent and returns MEMORY USAGE of it.
func sentKeyMemory(t testing.TB, f *Fence, rdb redis.UniversalClient, campaign, user, msgID string) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := f.Claim(ctx, campaign, user)
	require.NoError(t, err)
	require.Equal(t, Won, c.Outcome)
	require.NoError(t, f.Arm(ctx, campaign, user, c.Token))
	require.NoError(t, f.MarkSent(ctx, campaign, user, c.Token, msgID))
	n, err := rdb.MemoryUsage(ctx, f.Key(campaign, user), 0).Result()
	require.NoError(t, err)
	return n
}

// TestMemoryPerSentKey measures, with MEMORY USAGE on the real Redis, what
// one sent user costs, for production-shaped keys (default prefix, a
// 7-character campaign id) and several user id lengths. MEMORY USAGE counts
// the key, the value and the main dictionary entry; the expiry entry and
// hash-table buckets (about 40 more bytes per key) are not included.
func TestMemoryPerSentKey(t *testing.T) {
	rdb, _ := realRedis(t)
	f, err := New(rdb, Config{}, nil) // default prefix: production key length
	require.NoError(t, err)
	campaign := "m" + randomName(6)
	t.Cleanup(func() { deletePrefix(rdb, f.cfg.Prefix+":f:"+campaign) })

	ids := []struct {
		name string
		id   string
	}{
		{"ses-id", sesID}, // packed: 27 bytes
		{"ses-id-unpacked", strings.ToUpper(sesID)}, // stored verbatim: 60 bytes
		{"no-id", ""},
	}
	for _, userLen := range []int{8, 24, 36} {
		for _, id := range ids {
			user := randomName(userLen)
			n := sentKeyMemory(t, f, rdb, campaign, user, id.id)
			t.Logf("sent key, user id %2d chars, %-16s key %d bytes: MEMORY USAGE %d bytes", userLen, id.name, len(f.Key(campaign, user)), n)
			if userLen <= 24 && id.name != "ses-id-unpacked" {
				require.LessOrEqual(t, n, int64(memoryBudget), "a sent user must cost at most %d bytes", memoryBudget)
			}
		}
	}
}

// BenchmarkClaimMarkSent is the fence's cost per sent email: Claim, Arm and
// MarkSent (three round trips), on the real Redis. It reports the Redis
// memory of one resulting sent key as B/key.
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
		b.ReportMetric(float64(n), "B/key")
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
