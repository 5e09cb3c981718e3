package producer

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// slotBytes is the memory of the set's tables.
func (u *userSet) slotBytes() int {
	n := 0
	for i := range u.shards {
		n += len(u.shards[i].lo)*8 + len(u.shards[i].hi)*4
	}
	return n
}

func TestUserSetManyUsers(t *testing.T) {
	const n = 300_000
	s := newUserSet()
	for i := range n {
		require.True(t, s.add("u"+strconv.Itoa(i)), "user %d is new", i)
	}
	require.Equal(t, n, s.len())
	for i := 0; i < n; i += 7 {
		require.False(t, s.add("u"+strconv.Itoa(i)), "user %d was seen", i)
	}
	require.True(t, s.add("u"+strconv.Itoa(n)))
	require.Equal(t, n+1, s.len())
	used := 0
	for i := range s.shards {
		sh := &s.shards[i]
		used += sh.n
		require.LessOrEqual(t, sh.n*maxLoadDen, len(sh.lo)*maxLoadNum, "shard %d over its load", i)
	}
	require.Equal(t, s.len(), used)
	perUser := float64(s.slotBytes()) / float64(s.len())
	require.Less(t, perUser, 20.0, "bytes per user in the tables")
	t.Logf("%.1f bytes per user", perUser)
}

func BenchmarkUserSetAdd(b *testing.B) {
	ids := make([]string, 1<<20)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(i)
	}
	s := newUserSet()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(ids) == 0 && i > 0 {
			s = newUserSet()
		}
		s.add(ids[i%len(ids)])
	}
	b.ReportMetric(float64(s.slotBytes())/float64(max(s.len(), 1)), "B/user")
}
