package producer

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
)

// sesFactsLedger is a campaign of 8 members as `sender reconcile` leaves
// its ledger: users settled from SES's events, facts added to users the
// sender had already recorded sent, one still ambiguous, one settled by
// event and then declared otherwise, and a non-member with a fact.
func sesFactsLedger(t *testing.T, e env, c string, now time.Time) {
	t.Helper()
	fin := now.Add(-time.Hour)
	require.NoError(t, writeCampaign(context.Background(), e.cl, e.topics, CampaignRecord{Campaign: c, Total: 8, Status: StatusPublished, StartedAt: fin, FinishedAt: &fin}))
	produceMembers(t, e, c, ids(1, 9)...)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	byEvent := ledger.ReasonSettledByEvent
	produceLedgerAt(t, e,
		// u1: sent by the sender, then delivered.
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: at(20 * time.Minute), MessageID: "m1", AttemptID: "a1"},
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: at(19 * time.Minute), MessageID: "m1", AttemptID: "a1", Fact: ledger.FactDelivered},
		// u2: ambiguous, settled from its Send event, then a hard bounce.
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Ambiguous, At: at(20 * time.Minute), Reason: "lease expired"},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Sent, At: at(18 * time.Minute), MessageID: "m2", AttemptID: "a2", Reason: byEvent},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Sent, At: at(17 * time.Minute), MessageID: "m2", AttemptID: "a2", Fact: ledger.FactBounced, BounceType: ledger.BounceHard},
		// u3: delivered, then a complaint (the latest fact wins).
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Sent, At: at(20 * time.Minute), MessageID: "m3"},
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Sent, At: at(16 * time.Minute), MessageID: "m3", Fact: ledger.FactDelivered},
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Sent, At: at(15 * time.Minute), MessageID: "m3", Fact: ledger.FactComplained},
		// u4: settled by event with its Delivery already known.
		ledger.Entry{Campaign: c, UserID: "u4", State: ledger.Sent, At: at(14 * time.Minute), MessageID: "m4", Reason: byEvent, Fact: ledger.FactDelivered},
		// u5: still ambiguous: not yet settled.
		ledger.Entry{Campaign: c, UserID: "u5", State: ledger.Ambiguous, At: at(13 * time.Minute), Reason: "ses timeout"},
		// u6: settled by event, then failed: no longer sent, so neither its
		// settlement nor its fact counts.
		ledger.Entry{Campaign: c, UserID: "u6", State: ledger.Sent, At: at(12 * time.Minute), Reason: byEvent, Fact: ledger.FactDelivered},
		ledger.Entry{Campaign: c, UserID: "u6", State: ledger.Failed, At: at(11 * time.Minute), Reason: "Reject: Bad content"},
		// u7: plain sent, no event; u8: soft bounce.
		ledger.Entry{Campaign: c, UserID: "u7", State: ledger.Sent, At: at(10 * time.Minute), MessageID: "m7"},
		ledger.Entry{Campaign: c, UserID: "u8", State: ledger.Sent, At: at(10 * time.Minute), MessageID: "m8", Fact: ledger.FactBounced, BounceType: ledger.BounceSoft},
		// Not a member: its fact does not count.
		ledger.Entry{Campaign: c, UserID: "u99", State: ledger.Sent, At: at(time.Minute), Reason: byEvent, Fact: ledger.FactComplained},
	)
}

// TestStatusCountsSESFacts: on the real broker, status counts the sent
// users per SES fact of their latest entry and those settled by an event
// (kept over the fact entries that follow), among members only; the JSON
// keeps every contract key and adds the new ones; the text says what
// ambiguous means now; a fact added to a user already sent does not count
// in the settling rate.
func TestStatusCountsSESFacts(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	const c = "2026-11"
	now := time.Now().UTC().Truncate(time.Second)
	sesFactsLedger(t, e, c, now)

	rep, err := Progress(ctx, e.cl, e.topics, c, now)
	require.NoError(t, err)
	want := StatusReport{Campaign: c, Published: 8, Sent: 6, Failed: 1, Ambiguous: 1,
		SettledByEvent: 2, Delivered: 2, Bounced: 2, Complained: 1, Complete: true, Record: rep.Record}
	require.Equal(t, want, rep.StatusReport)

	var js bytes.Buffer
	require.NoError(t, rep.StatusReport.WriteJSON(&js))
	require.JSONEq(t, `{"campaign":"2026-11","published":8,"sent":6,"failed":1,"retrying":0,"dead_lettered":0,"expired":0,
		"ambiguous":1,"cancelled":0,"control":"active","pending":0,"complete":true,
		"settled_by_event":2,"delivered":2,"bounced":2,"complained":1}`, js.String())
	js.Reset()
	require.NoError(t, rep.WriteJSON(&js))
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	for k, v := range map[string]float64{"delivered": 2, "bounced": 2, "complained": 1, "settled_by_event": 2, "ambiguous": 1, "sent": 6} {
		require.Equal(t, v, m[k], k)
	}

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	for _, w := range []string{
		"ambiguous      1 (not yet settled)\n",
		"pending        0\n", // the old rows keep their alignment
		"of sent, from SES events:\n",
		"  settled_by_event  2\n", "  delivered         2\n", "  bounced           2\n", "  complained        1\n",
	} {
		require.Contains(t, text.String(), w)
	}

	// The rate window [-17m, -12m] and after: u4, u5, u6 (twice: sent,
	// then failed), u7, u8 and u99 settle (7); the facts at -17m, -16m and
	// -15m are added to users already sent and do not count (10 if they did).
	late, err := Progress(ctx, e.cl, e.topics, c, now.Add(-12*time.Minute))
	require.NoError(t, err)
	require.InDelta(t, 7.0/RateWindow.Seconds(), late.RatePerSecond, 1e-9)
}

// TestStatusSESFactsWithoutMembership: a campaign published before
// membership records counts the facts of every ledger entry, as its states.
func TestStatusSESFactsWithoutMembership(t *testing.T) {
	e := fakeEnv(t)
	ctx := context.Background()
	const c = "old"
	fin := time.Now().UTC()
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: c, Total: 3, Status: StatusPublished, StartedAt: fin, FinishedAt: &fin}))
	produceLedger(t, e,
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: fin, Reason: ledger.ReasonSettledByEvent},
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: fin, Fact: ledger.FactDelivered},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Sent, At: fin, Fact: ledger.FactBounced, BounceType: ledger.BounceHard},
	)
	rep, err := Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.True(t, rep.FromRecord)
	require.EqualValues(t, 2, rep.Sent)
	require.EqualValues(t, 1, rep.SettledByEvent, "a fact entry after the settlement keeps it counted")
	require.EqualValues(t, 1, rep.Delivered)
	require.EqualValues(t, 1, rep.Bounced)
	require.Zero(t, rep.Complained)
}

// TestUserStatusShowsFactAndAttempt: one user's lookup shows the fact and
// bounce type of its latest entry and the attempt id SES's event named, in
// JSON and in text, history lines included.
func TestUserStatusShowsFactAndAttempt(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	const c = "2026-11"
	now := time.Now().UTC().Truncate(time.Second)
	sesFactsLedger(t, e, c, now)

	rep, err := UserStatus(ctx, e.cl, e.topics, nil, c, "u2")
	require.NoError(t, err)
	require.Equal(t, ledger.Sent, rep.State)
	require.Equal(t, ledger.FactBounced, rep.Fact)
	require.Equal(t, ledger.BounceHard, rep.BounceType)
	require.Equal(t, "a2", rep.AttemptID)
	require.Len(t, rep.History, 3)
	require.Equal(t, ledger.ReasonSettledByEvent, rep.History[1].Reason)

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	require.Equal(t, "bounced", m["fact"])
	require.Equal(t, "hard", m["bounce_type"])
	require.Equal(t, "a2", m["attempt_id"])

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	for _, w := range []string{"fact         bounced (hard)\n", "attempt id   a2\n", "settled_by_event", "bounced (hard)  -\n"} {
		require.Contains(t, text.String(), w)
	}

	rep, err = UserStatus(ctx, e.cl, e.topics, nil, c, "u7")
	require.NoError(t, err)
	require.Empty(t, rep.Fact)
	text.Reset()
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "fact         -\n")
	require.Contains(t, text.String(), "attempt id   -\n")
}

// TestReportAppendsFactColumns: the report keeps its columns in order and
// appends fact and bounce_type.
func TestReportAppendsFactColumns(t *testing.T) {
	e := realEnv(t)
	const c = "2026-11"
	now := time.Now().UTC().Truncate(time.Second)
	sesFactsLedger(t, e, c, now)

	var out bytes.Buffer
	_, err := Report(context.Background(), e.cl, e.topics, c, FormatCSV, &out)
	require.NoError(t, err)
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"user_id", "state", "message_id", "reason", "at", "fact", "bounce_type"}, rows[0])
	byUser := map[string][]string{}
	for _, r := range rows[1:] {
		byUser[r[0]] = r
	}
	require.Len(t, byUser, 8)
	require.Equal(t, []string{"sent", "m2", "", "bounced", "hard"}, []string{byUser["u2"][1], byUser["u2"][2], byUser["u2"][3], byUser["u2"][5], byUser["u2"][6]})
	require.Equal(t, "complained", byUser["u3"][5])
	require.Equal(t, ledger.ReasonSettledByEvent, byUser["u4"][3])
	require.Equal(t, "", byUser["u7"][5])

	out.Reset()
	_, err = Report(context.Background(), e.cl, e.topics, c, FormatJSONL, &out)
	require.NoError(t, err)
	require.Contains(t, out.String(), `"fact":"bounced","bounce_type":"hard"`)
}
