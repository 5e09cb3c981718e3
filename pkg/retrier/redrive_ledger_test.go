package retrier

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/testenv"
)

func TestRedriveFollowsTheLedgerAndTheFenceRetention(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	redriveLedgerScenario(t, seeds, "unit")
}

func TestIntegrationRedriveFollowsTheLedgerAndTheFenceRetention(t *testing.T) {
	seeds := testenv.Kafka(t)
	redriveLedgerScenario(t, seeds, testenv.Name(t, "redrive"))
}

// redriveLedgerScenario: the fence remembers nobody (its keys expired, or
// Redis lost them), so only the ledger can say who was sent. Redrive
// re-publishes exactly the users whose latest ledger state is failed or
// dead_lettered, skips DLQ records older than the fence retention unless
// forced, and counts every skip.
func redriveLedgerScenario(t *testing.T, seeds []string, prefix string) {
	h := newHarness(t, seeds, prefix, newFakeClock(t0))
	const retention = 62 * 24 * time.Hour
	names := []string{"dead", "failed", "sent-later", "ambiguous-later", "retrying", "redriven", "no-ledger", "old", "old-sent"}
	for _, u := range names {
		r := h.dlqRecord(testJob("c1", u, 8), retry.ReasonExhausted)
		if u == "old" || u == "old-sent" {
			job.SetHeader(r, job.HeaderDeadLettered, strconv.FormatInt(t0.Add(-retention-time.Hour).UnixMilli(), 10))
		}
		h.produce(r)
	}
	dl := func(u string) ledger.Entry {
		return ledger.Entry{Campaign: "c1", UserID: u, State: ledger.DeadLettered, At: t0.Add(-time.Hour)}
	}
	h.ledger(
		dl("dead"),
		ledger.Entry{Campaign: "c1", UserID: "failed", State: ledger.Failed},
		dl("sent-later"), ledger.Entry{Campaign: "c1", UserID: "sent-later", State: ledger.Sent, MessageID: "m-1"},
		dl("ambiguous-later"), ledger.Entry{Campaign: "c1", UserID: "ambiguous-later", State: ledger.Ambiguous},
		dl("retrying"), ledger.Entry{Campaign: "c1", UserID: "retrying", State: ledger.Retrying},
		dl("redriven"), ledger.Entry{Campaign: "c1", UserID: "redriven", State: ledger.Redriven},
		dl("old"),
		dl("old-sent"), ledger.Entry{Campaign: "c1", UserID: "old-sent", State: ledger.Sent},
		// Another campaign's user of the same id: not this one's state.
		ledger.Entry{Campaign: "c2", UserID: "no-ledger", State: ledger.DeadLettered},
	)
	f := &mapFence{m: map[string]fence.State{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jobs := h.cfg.Topics.Jobs()

	rep, err := Redrive(ctx, cl, f, RedriveOptions{Topics: h.cfg.Topics, FenceRetention: retention, Clock: h.clock})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{
		Read: 9, Matched: 9, Redriven: 2, SkippedTooOld: 2, SkippedAlreadySent: 1, SkippedLedger: 4,
		SkippedLedgerStates: map[string]int{"ambiguous": 1, "retrying": 1, "redriven": 1, "none": 1},
	}, rep)
	require.ElementsMatch(t, []string{"dead", "failed"}, users(h.readAll(jobs)))

	// Run again at once: the ledger now says both are redriven.
	rep, err = Redrive(ctx, cl, f, RedriveOptions{Topics: h.cfg.Topics, FenceRetention: retention, Clock: h.clock})
	require.NoError(t, err)
	require.Equal(t, 0, rep.Redriven)
	require.Equal(t, 2, rep.SkippedTooOld)
	require.Equal(t, 1, rep.SkippedAlreadySent)
	require.Equal(t, map[string]int{"ambiguous": 1, "retrying": 1, "redriven": 3, "none": 1}, rep.SkippedLedgerStates)

	// Forced: the old records are considered, and still only the one the
	// ledger says was not sent goes.
	rep, err = Redrive(ctx, cl, f, RedriveOptions{Topics: h.cfg.Topics, FenceRetention: retention, Force: true, Clock: h.clock})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Redriven)
	require.Equal(t, 0, rep.SkippedTooOld)
	require.Equal(t, 2, rep.SkippedAlreadySent)
	require.Equal(t, map[string]int{"ambiguous": 1, "retrying": 1, "redriven": 3, "none": 1}, rep.SkippedLedgerStates)
	require.ElementsMatch(t, []string{"dead", "failed", "old"}, users(h.readAll(jobs)))
}

func TestRedriveReportSaysWhyEachSkip(t *testing.T) {
	out := FormatRedriveReport(RedriveReport{
		Read: 9, Matched: 9, Redriven: 2, SkippedTooOld: 2, SkippedAlreadySent: 2, SkippedLedger: 3,
		SkippedLedgerStates: map[string]int{"redriven": 2, "none": 1},
	}, 62*24*time.Hour)
	require.Equal(t, `read 9 dead-lettered records, 9 matched: 2 redriven
  2 skipped: dead-lettered more than --fence-retention 1488h0m0s ago; their fence keys may have expired: check the ledger, then redrive them with --force
  3 skipped: the ledger's latest state is not failed or dead_lettered (none 1, redriven 2)
  2 skipped: the ledger or the fence says sent
`, out)
}

// BenchmarkIntegrationRedrive measures a redrive of 10,000 dead-lettered
// jobs on the real broker: two reads of the DLQ, one of the ledger, the
// fence calls (an in-memory fence here) and the produce of 10,000 jobs and
// ledger entries. Run with -benchtime=1x: a second redrive finds them
// redriven.
func BenchmarkIntegrationRedrive(b *testing.B) {
	seeds := testenv.Kafka(b)
	prefix := testenv.Name(b, "redrive")
	cfg := DefaultConfig()
	cfg.Topics.Prefix = prefix
	cfg.Partitions = 4
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(b, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(b, kafka.EnsureTopics(ctx, cl, cfg.Layout(), nil))
	const n = 10_000
	now := time.Now()
	var recs []*kgo.Record
	for i := range n {
		j := testJob("bench", "u"+strconv.Itoa(i), 8)
		r, err := job.Record(cfg.Topics.DLQ(), j)
		require.NoError(b, err)
		job.SetHeader(r, job.HeaderDLQReason, retry.ReasonExhausted)
		job.SetHeader(r, job.HeaderDeadLettered, strconv.FormatInt(now.UnixMilli(), 10))
		l, err := ledger.Record(cfg.Topics.Ledger(), ledger.Entry{Campaign: "bench", UserID: j.UserID, State: ledger.DeadLettered, At: now})
		require.NoError(b, err)
		recs = append(recs, r, l)
	}
	require.NoError(b, cl.ProduceSync(ctx, recs...).FirstErr())
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rep, err := Redrive(ctx, cl, &mapFence{m: map[string]fence.State{}}, RedriveOptions{Topics: cfg.Topics})
		require.NoError(b, err)
		b.ReportMetric(float64(rep.Read)/time.Since(start).Seconds(), "dlq_records/s")
		b.ReportMetric(float64(rep.Redriven), "redriven")
	}
}
