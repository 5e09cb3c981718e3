package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// produceLedgerAt writes ledger entries whose Kafka timestamps are their
// At, as a sender writing them at that time would. Its client has no
// delivery timeout (ClientOpts'), which counts from the record's timestamp.
func produceLedgerAt(t *testing.T, e env, entries ...ledger.Entry) {
	t.Helper()
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: testenv.Kafka(t), ClientID: "ledger-at"})
	require.NoError(t, err)
	defer cl.Close()
	var recs []*kgo.Record
	for _, en := range entries {
		r, err := ledger.Record(e.topics.Ledger(), en)
		require.NoError(t, err)
		r.Timestamp = en.At
		recs = append(recs, r)
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	// A topic just created can answer its offsets as unknown for a moment
	// to a client that has not used it: wait until the test's client reads
	// what was written.
	require.Eventually(t, func() bool {
		n := 0
		err := kafka.ReadToEnd(context.Background(), e.cl, []string{e.topics.Ledger()}, func(*kgo.Record) error { n++; return nil })
		return err == nil && n >= len(recs)
	}, 30*time.Second, 100*time.Millisecond)
}

// TestProgressPercentRateETA: on the real broker, a campaign of 10 users,
// 8 settled (one long ago, seven within the rate window), 2 pending:
// 80%, 7 settled over the 5-minute window, ETA 2 / (7/300 s), and the
// failure reasons counted per user by latest state.
func TestProgressPercentRateETA(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	const c = "2026-11"
	now := time.Now().UTC().Truncate(time.Second)
	fin := now.Add(-time.Hour)
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: c, Total: 10, Status: StatusPublished, StartedAt: fin, FinishedAt: &fin}))
	produceMembers(t, e, c, ids(1, 11)...)
	const rejected = "ses: MessageRejected: Email address is not verified"
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	produceLedgerAt(t, e,
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: at(10 * time.Minute), MessageID: "m1"},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Sent, At: at(4 * time.Minute), MessageID: "m2"},
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Sent, At: at(3 * time.Minute), MessageID: "m3"},
		ledger.Entry{Campaign: c, UserID: "u4", State: ledger.Sent, At: at(2 * time.Minute), MessageID: "m4"},
		ledger.Entry{Campaign: c, UserID: "u5", State: ledger.Sent, At: at(time.Minute), MessageID: "m5"},
		ledger.Entry{Campaign: c, UserID: "u6", State: ledger.Retrying, At: at(50 * time.Second), Reason: "throttled"},
		ledger.Entry{Campaign: c, UserID: "u6", State: ledger.Failed, At: at(30 * time.Second), Reason: rejected},
		ledger.Entry{Campaign: c, UserID: "u7", State: ledger.Failed, At: at(30 * time.Second), Reason: rejected},
		ledger.Entry{Campaign: c, UserID: "u8", State: ledger.DeadLettered, At: at(20 * time.Second), Reason: "exhausted: 8 attempts"},
		ledger.Entry{Campaign: c, UserID: "u9", State: ledger.Retrying, At: at(10 * time.Second), Reason: "ses: TooManyRequestsException"},
		// Another campaign's failures are not this one's.
		ledger.Entry{Campaign: "other", UserID: "u1", State: ledger.Failed, At: at(time.Second), Reason: rejected},
	)

	rep, err := Progress(ctx, e.cl, e.topics, c, now)
	require.NoError(t, err)
	require.EqualValues(t, 10, rep.Published)
	require.EqualValues(t, 2, rep.Pending)
	require.InDelta(t, 80.0, rep.Percent, 1e-9)
	require.InDelta(t, 7.0/300, rep.RatePerSecond, 1e-9)
	require.NotNil(t, rep.ETASeconds)
	require.InDelta(t, 2/(7.0/300), *rep.ETASeconds, 1e-6)
	require.Equal(t, at(20*time.Second), rep.LastSettled.UTC())
	require.Equal(t, []ReasonCount{
		{State: ledger.Failed, Reason: rejected, Users: 2},
		{State: ledger.DeadLettered, Reason: "exhausted: 8 attempts", Users: 1},
		{State: ledger.Retrying, Reason: "ses: TooManyRequestsException", Users: 1},
	}, rep.TopReasons)

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	for _, k := range []string{"campaign", "published", "sent", "failed", "retrying", "dead_lettered", "expired", "ambiguous", "pending", "complete",
		"percent", "rate_per_second", "eta_seconds", "last_settled", "top_reasons"} {
		require.Contains(t, m, k)
	}
	require.EqualValues(t, 2, m["failed"])

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "pending        2\n")
	require.Contains(t, text.String(), "80.0% settled")
	require.Contains(t, text.String(), "1m26s (2 pending)")
	require.Contains(t, text.String(), "2  failed         "+rejected)
	require.Contains(t, rep.Line(now), "80.0% settled")
	require.Contains(t, rep.Line(now), "eta 1m26s")

	// Nothing settled in the window: no rate, the ETA is unknown and says why.
	rep, err = Progress(ctx, e.cl, e.topics, c, now.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, rep.RatePerSecond)
	require.Nil(t, rep.ETASeconds)
	text.Reset()
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "eta       unknown: nothing settled in the last 5m0s")
}

// TestProgressUnknownCampaign: a campaign nobody published and the ledger
// does not know is ErrNotFound, not zeros; one with only ledger entries is
// known.
func TestProgressUnknownCampaign(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	_, err := Progress(ctx, e.cl, e.topics, "nosuch", time.Now())
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), `campaign "nosuch": not found`)

	produceLedger(t, e, ledger.Entry{Campaign: "legacy", UserID: "u1", State: ledger.Sent, At: time.Now()})
	rep, err := Progress(ctx, e.cl, e.topics, "legacy", time.Now())
	require.NoError(t, err)
	require.Zero(t, rep.Published)
	require.Equal(t, []ReasonCount{}, rep.TopReasons)
}
