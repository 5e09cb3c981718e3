package producer

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/ledger"
)

var reportBenchUsers = flag.Int("report-bench-users", 200_000, "users of the campaign BenchmarkReport and BenchmarkProgress read")

// BenchmarkReport exports, and BenchmarkProgress counts (with rate, ETA
// and reasons), a campaign of -report-bench-users users on the real
// broker: every one a member, nine in ten sent, one in ten failed with one
// of three reasons. The report's heap after the read (live_MiB) is its map
// of latest entries.
//
//	go test -run '^$' -bench 'BenchmarkReport|BenchmarkProgress' -benchtime 3x ./pkg/producer/
func BenchmarkReport(b *testing.B) {
	e, n := reportBenchData(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var live uint64
	for b.Loop() {
		w := &heapAtFirstWrite{}
		sum, err := Report(ctx, e.cl, e.topics, "big", FormatCSV, w)
		require.NoError(b, err)
		require.EqualValues(b, n, sum.Users)
		live = max(live, w.heap)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(live)/(1<<20), "live_MiB")
}

// heapAtFirstWrite measures the live heap when the first rows are written:
// the read is over and the map of latest entries is all there is.
type heapAtFirstWrite struct{ heap uint64 }

func (h *heapAtFirstWrite) Write(p []byte) (int, error) {
	if h.heap == 0 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		h.heap = ms.HeapAlloc
	}
	return len(p), nil
}

func BenchmarkProgress(b *testing.B) {
	e, n := reportBenchData(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Progress(ctx, e.cl, e.topics, "big", time.Now())
		require.NoError(b, err)
		require.EqualValues(b, n, rep.Published)
		require.Len(b, rep.TopReasons, 3)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

func reportBenchData(b *testing.B) (env, int) {
	e := realEnv(b)
	n := *reportBenchUsers
	ctx := context.Background()
	b.Cleanup(func() {
		names := []string{MembersTopic(e.topics)}
		for _, s := range layout(e.topics).Specs() {
			names = append(names, s.Name)
		}
		if _, err := kadm.NewClient(e.cl).DeleteTopics(context.Background(), names...); err != nil {
			b.Logf("deleting the benchmark's topics: %v", err)
		}
	})
	at := time.Now().UTC()
	require.NoError(b, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "big", Total: int64(n), Status: StatusPublished, FinishedAt: &at}))
	enc, err := newMemberEncoder(MembersTopic(e.topics), "big", at)
	require.NoError(b, err)
	var produceErr error
	done := func(_ *kgo.Record, err error) {
		if err != nil && produceErr == nil {
			produceErr = err
		}
	}
	reasons := []string{"MessageRejected: Email address is not verified.", "exhausted: 8 attempts", "AccessDeniedException: not authorized"}
	for i := range n {
		u := fmt.Sprintf("user-%08d", i)
		e.cl.Produce(ctx, enc.record(u), done)
		en := ledger.Entry{Campaign: "big", UserID: u, State: ledger.Sent, At: at, MessageID: "0100018c-" + u, Attempt: 1}
		if i%10 == 0 {
			en.State, en.MessageID, en.Reason = ledger.Failed, "", reasons[i%3]
		}
		l, err := ledger.Record(e.topics.Ledger(), en)
		require.NoError(b, err)
		e.cl.Produce(ctx, l, done)
	}
	require.NoError(b, e.cl.Flush(ctx))
	require.NoError(b, produceErr)
	return e, n
}
