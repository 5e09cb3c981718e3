package retrier

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// mapFence is a Fence over a map, with the Reopen rule of pkg/fence.
type mapFence struct {
	mu sync.Mutex
	m  map[string]fence.State
}

func (f *mapFence) Reopen(_ context.Context, c, u string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.m[c+"/"+u] {
	case fence.Failed, fence.DeadLettered:
		delete(f.m, c+"/"+u)
		return true, nil
	}
	return false, nil
}

func (f *mapFence) Get(_ context.Context, c, u string) (fence.Record, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[c+"/"+u]
	return fence.Record{State: s}, ok, nil
}

// dlqRecord is a job dead-lettered as the sender does it.
func (h *harness) dlqRecord(j *job.Job, reason string) *kgo.Record {
	h.t.Helper()
	r, err := job.Record(h.cfg.Topics.DLQ(), j)
	require.NoError(h.t, err)
	job.SetHeader(r, job.HeaderDLQReason, reason)
	job.SetHeader(r, job.HeaderDeadLettered, strconv.FormatInt(h.clock.Now().UnixMilli(), 10))
	return r
}

func TestRedriveOneCampaign(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	h := newHarness(t, seeds, "unit", newFakeClock(t0))
	exhausted, permanent := retry.ReasonExhausted, retry.ReasonPermanent
	h.produce(
		h.dlqRecord(testJob("c1", "dead", 8), exhausted),
		h.dlqRecord(testJob("c1", "failed", 1), permanent),
		h.dlqRecord(testJob("c1", "sent-since", 8), exhausted),
		h.dlqRecord(testJob("c1", "ambiguous", 8), exhausted),
		h.dlqRecord(testJob("c1", "forgotten", 8), exhausted),
		h.dlqRecord(testJob("c1", "dead", 8), exhausted), // dead-lettered twice
		h.dlqRecord(testJob("c2", "other", 8), exhausted),
	)
	bad := &kgo.Record{Topic: h.cfg.Topics.DLQ(), Key: []byte("x"), Value: []byte("nope")}
	job.SetHeader(bad, job.HeaderCampaign, "c1")
	job.SetHeader(bad, job.HeaderDLQReason, retry.ReasonMalformed)
	h.produce(bad)
	f := &mapFence{m: map[string]fence.State{
		"c1/dead": fence.DeadLettered, "c1/failed": fence.Failed, "c1/sent-since": fence.Sent,
		"c1/ambiguous": fence.Ambiguous, "c2/other": fence.DeadLettered,
	}}
	// The ledger lags the fence here: it still says dead_lettered (or
	// failed) for every user; the fence decides.
	h.ledger(
		ledger.Entry{Campaign: "c1", UserID: "dead", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c1", UserID: "failed", State: ledger.Failed},
		ledger.Entry{Campaign: "c1", UserID: "sent-since", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c1", UserID: "ambiguous", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c1", UserID: "forgotten", State: ledger.DeadLettered},
		ledger.Entry{Campaign: "c2", UserID: "other", State: ledger.DeadLettered},
	)
	ledgerBefore := h.count(h.cfg.Topics.Ledger())
	// readAll returns partitions in no order: new entries are told apart
	// by their state.

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	defer cl.Close()
	rep, err := Redrive(context.Background(), cl, f, RedriveOptions{Topics: h.cfg.Topics, Campaign: "c1", Clock: h.clock})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{Read: 8, Matched: 7, Redriven: 3, SkippedAlreadySent: 1, SkippedSettled: 1, SkippedDuplicate: 1, SkippedMalformed: 1}, rep)

	jobs := h.readAll(h.cfg.Topics.Jobs())
	require.ElementsMatch(t, []string{"dead", "failed", "forgotten"}, users(jobs))
	for _, r := range jobs {
		j, err := job.Decode(r.Value)
		require.NoError(t, err)
		require.Equal(t, "c1", j.Campaign)
		require.Equal(t, 0, j.Attempt)
		require.Equal(t, "0", job.Header(r, job.HeaderAttempt))
	}
	var redriven []string
	for _, r := range h.readAll(h.cfg.Topics.Ledger()) {
		e, err := ledger.Decode(r.Value)
		require.NoError(t, err)
		if e.State != ledger.Redriven {
			continue
		}
		require.Equal(t, "c1", e.Campaign)
		redriven = append(redriven, e.UserID)
	}
	require.ElementsMatch(t, []string{"dead", "failed", "forgotten"}, redriven)
	require.Equal(t, ledgerBefore+3, h.count(h.cfg.Topics.Ledger()), "one ledger entry per redriven job, and no other")
	require.Equal(t, map[string]fence.State{"c1/sent-since": fence.Sent, "c1/ambiguous": fence.Ambiguous, "c2/other": fence.DeadLettered}, f.m)

	// By reason: only the permanent failure of c1 matches; the ledger now
	// says it was redriven (it is on its way), so it is not sent again.
	rep, err = Redrive(context.Background(), cl, f, RedriveOptions{Topics: h.cfg.Topics, Reason: permanent})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{Read: 8, Matched: 1, SkippedLedger: 1, SkippedLedgerStates: map[string]int{"redriven": 1}}, rep)
	// Failed again: it goes again.
	h.ledger(ledger.Entry{Campaign: "c1", UserID: "failed", State: ledger.Failed})
	rep, err = Redrive(context.Background(), cl, f, RedriveOptions{Topics: h.cfg.Topics, Reason: permanent})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{Read: 8, Matched: 1, Redriven: 1}, rep)
}

// ledger writes ledger entries, at t0 unless set.
func (h *harness) ledger(es ...ledger.Entry) {
	h.t.Helper()
	for _, e := range es {
		if e.At.IsZero() {
			e.At = t0
		}
		r, err := ledger.Record(h.cfg.Topics.Ledger(), e)
		require.NoError(h.t, err)
		h.produce(r)
	}
}

func TestRedriveEmptyOrMissingDLQ(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	defer cl.Close()
	cfg := DefaultConfig()
	rep, err := Redrive(context.Background(), cl, &mapFence{}, RedriveOptions{Topics: cfg.Topics})
	require.NoError(t, err)
	require.Equal(t, RedriveReport{}, rep)
}
