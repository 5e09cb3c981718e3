package producer

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/ledger"
)

var statusBenchUsers = flag.Int("status-bench-users", 1_000_000, "users of the campaign BenchmarkStatus counts")

// BenchmarkStatus counts a campaign of -status-bench-users users on the
// real broker, every one a member with a ledger entry (a tenth of them
// written twice, retrying then sent), beside another campaign of a tenth of
// the size that status must skip.
//
//	go test -run '^$' -bench BenchmarkStatus -benchtime 3x ./pkg/producer/
func BenchmarkStatus(b *testing.B) {
	e := realEnv(b)
	n := *statusBenchUsers
	ctx := context.Background()
	b.Cleanup(func() {
		// A million users' records are too big to leave on a shared broker.
		names := []string{MembersTopic(e.topics)}
		for _, s := range layout(e.topics).Specs() {
			names = append(names, s.Name)
		}
		if _, err := kadm.NewClient(e.cl).DeleteTopics(context.Background(), names...); err != nil {
			b.Logf("deleting the benchmark's topics: %v", err)
		}
	})
	at := time.Now().UTC()
	start := time.Now()
	fin := at
	require.NoError(b, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "big", Total: int64(n), Status: StatusPublished, FinishedAt: &fin}))
	var produceErr error
	done := func(_ *kgo.Record, err error) {
		if err != nil && produceErr == nil {
			produceErr = err
		}
	}
	put := func(campaign string, i int, states ...ledger.State) {
		u := fmt.Sprintf("user-%08d", i)
		enc, err := newMemberEncoder(MembersTopic(e.topics), campaign, at)
		require.NoError(b, err)
		e.cl.Produce(ctx, enc.record(u), done)
		for _, st := range states {
			l, err := ledger.Record(e.topics.Ledger(), ledger.Entry{Campaign: campaign, UserID: u, State: st, At: at, MessageID: "0100018c-" + u, Attempt: 1})
			require.NoError(b, err)
			e.cl.Produce(ctx, l, done)
		}
	}
	for i := range n {
		if i%10 == 0 {
			put("big", i, ledger.Retrying, ledger.Sent)
		} else {
			put("big", i, ledger.Sent)
		}
	}
	for i := range n / 10 {
		put("other", i, ledger.Sent)
	}
	require.NoError(b, e.cl.Flush(ctx))
	require.NoError(b, produceErr)
	b.Logf("wrote %d users' records in %s", n+n/10, time.Since(start).Round(time.Millisecond))

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Status(ctx, e.cl, e.topics, "big")
		require.NoError(b, err)
		require.EqualValues(b, n, rep.Published)
		require.EqualValues(b, n, rep.Sent)
		require.True(b, rep.Complete)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
