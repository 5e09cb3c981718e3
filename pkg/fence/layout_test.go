package fence

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own murmur2 vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
// testMurmur2), as Java ints.
func TestMurmur2KafkaVectors(t *testing.T) {
	tests := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range tests {
		require.Equal(t, want, int32(murmur2(in)), in)
	}
}

// The shard of a user is the partition its job gets from franz-go's
// default producer partitioner (which hashes keyed records as Kafka does)
// and from its sticky key partitioner, for every partition count.
func TestShardIsKafkaPartition(t *testing.T) {
	users := []string{"u-1", "user-0001234", "", "x", "ab", "abc", "abcd", "üñí", strings.Repeat("z", 77)}
	for i := range 500 {
		users = append(users, fmt.Sprintf("user-%07d", i*7919))
	}
	for _, n := range []int{1, 2, 3, 7, 12, 64, 100} {
		for name, p := range map[string]kgo.Partitioner{
			"default": kgo.UniformBytesPartitioner(64<<10, true, true, nil), // kgo's default (config.go)
			"sticky":  kgo.StickyKeyPartitioner(nil),
		} {
			tp := p.ForTopic("jobs")
			for _, u := range users {
				r := &kgo.Record{Key: []byte(u)}
				var want int
				if bp, ok := tp.(kgo.TopicBackupPartitioner); ok {
					want = bp.PartitionByBackup(r, n, nil) // a keyed record never reads the backup
				} else {
					want = tp.Partition(r, n)
				}
				require.Equal(t, want, Layout{Shards: n, Buckets: 1}.Shard(u), "%s partitioner, user %q, %d partitions", name, u, n)
			}
		}
	}
}

func TestLayoutKeys(t *testing.T) {
	l := Layout{Shards: 12, Buckets: 64}
	key, tag := l.key("sendonce", "2026-11", "user-0001234")
	require.Equal(t, fmt.Sprintf("sendonce:f:{2026-11:%d}:%d", l.Shard("user-0001234"), l.Bucket("user-0001234")), key)
	require.Equal(t, fmt.Sprintf("{2026-11:%d}", l.Shard("user-0001234")), tag)

	// Buckets are used evenly and independently of shards: every (shard,
	// bucket) pair of a small layout is reached.
	seen := map[[2]int]int{}
	for i := range 20000 {
		u := fmt.Sprintf("user-%07d", i)
		seen[[2]int{Layout{Shards: 4, Buckets: 8}.Shard(u), Layout{Shards: 4, Buckets: 8}.Bucket(u)}]++
	}
	require.Len(t, seen, 32)
	for k, n := range seen {
		require.InDelta(t, 20000/32, n, 20000/32/4, "pair %v", k)
	}

	for _, s := range []string{"v2 shards=12 buckets=64", "v2 shards=1 buckets=1"} {
		got, err := ParseLayout(s)
		require.NoError(t, err)
		require.Equal(t, s, got.String())
	}
	for _, s := range []string{"", "v1", "v2 shards=0 buckets=64", "v2 shards=12 buckets=64 x", "v2 shards=012 buckets=64"} {
		_, err := ParseLayout(s)
		require.ErrorIs(t, err, ErrLayout, s)
	}
}

func TestLayout(t *testing.T) {
	for _, b := range []backend{miniBackend, realBackend} {
		t.Run(b.name, func(t *testing.T) { testLayout(t, b) })
	}
}

func testLayout(t *testing.T, b backend) {
	ctx := context.Background()
	rdb, prefix := b.client(t)
	clk := newClock()
	first, err := New(rdb, Config{Prefix: prefix, Shards: 3, Buckets: 5}, clk.Now)
	require.NoError(t, err)

	// Nothing established: reads answer absent and write nothing.
	_, ok, err := first.Get(ctx, camp, user)
	require.NoError(t, err)
	require.False(t, ok)
	s, err := first.Settle(ctx, Event{Campaign: camp, User: user, Attempt: "a", Verdict: VerdictSent})
	require.NoError(t, err)
	require.Equal(t, Unknown, s.Outcome)
	require.Zero(t, rdb.Exists(ctx, first.LayoutKey()).Val())

	// The first writer establishes it from its Config, once.
	c, err := first.Claim(ctx, camp, user)
	require.NoError(t, err)
	require.Equal(t, "v2 shards=3 buckets=5", rdb.Get(ctx, first.LayoutKey()).Val())
	require.Negative(t, int64(rdb.PTTL(ctx, first.LayoutKey()).Val()), "the layout never expires")

	// A sender configured otherwise uses the stored layout: it finds the
	// record, and Establish says which layout is in use.
	other, err := New(rdb, Config{Prefix: prefix, Shards: 64, Buckets: 1000}, clk.Now)
	require.NoError(t, err)
	l, err := other.Establish(ctx)
	require.NoError(t, err)
	require.Equal(t, Layout{Shards: 3, Buckets: 5}, l)
	require.Equal(t, "v2 shards=3 buckets=5", rdb.Get(ctx, first.LayoutKey()).Val(), "never overwritten")
	r, ok, err := other.Get(ctx, camp, user)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, c.Token, r.Owner)
	require.Equal(t, first.Key(camp, user), other.Key(camp, user))
	require.NoError(t, other.Arm(ctx, camp, user, c.Token))

	// A reader that starts before anything is written, then sees it.
	late, err := New(rdb, Config{Prefix: prefix + "-late"}, clk.Now)
	require.NoError(t, err)
	_, ok, err = late.Get(ctx, camp, user)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = New(rdb, Config{Prefix: prefix + "-late", Shards: 2}, clk.Now)
	require.NoError(t, err)
	w, err := New(rdb, Config{Prefix: prefix + "-late", Shards: 2, Buckets: 2}, clk.Now)
	require.NoError(t, err)
	_, err = w.Claim(ctx, camp, user)
	require.NoError(t, err)
	l, err = late.Establish(ctx)
	require.NoError(t, err)
	require.Equal(t, Layout{Shards: 2, Buckets: 2}, l)
	_, ok, err = late.Get(ctx, camp, user)
	require.NoError(t, err)
	require.True(t, ok, "the reader uses the layout established since")
	deletePrefix(rdb, prefix+"-late")

	// A layout this version cannot read is an error, not a guess.
	bad, err := New(rdb, Config{Prefix: prefix + "-bad"}, clk.Now)
	require.NoError(t, err)
	require.NoError(t, rdb.Set(ctx, bad.LayoutKey(), "v3 something", 0).Err())
	_, err = bad.Claim(ctx, camp, user)
	require.ErrorIs(t, err, ErrLayout)
	deletePrefix(rdb, prefix+"-bad")
}
