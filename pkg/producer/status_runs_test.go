package producer

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/source"
)

// ids returns the user ids u<from> .. u<to-1>.
func ids(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("u%d", i))
	}
	return out
}

// csvOf is a CSV source with one row per user id.
func csvOf(t *testing.T, users []string) source.Reader {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("user_id,email\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s@example.com\n", u, u)
	}
	r, err := source.NewCSV(&b)
	require.NoError(t, err)
	return r
}

// publishUsers runs a complete publish of users for campaign.
func publishUsers(t *testing.T, e env, campaign string, users []string) {
	t.Helper()
	cfg := testConfig()
	cfg.Topics, cfg.Campaign = e.topics, campaign
	sum, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: csvOf(t, users)})
	require.NoError(t, err)
	require.EqualValues(t, len(users), sum.Published)
}

// record writes, in order, the ledger entries a sender would write: user,
// state, user, state, ...
func record(t *testing.T, e env, campaign string, userStates ...string) {
	t.Helper()
	require.Zero(t, len(userStates)%2)
	var es []ledger.Entry
	for i := 0; i < len(userStates); i += 2 {
		es = append(es, ledger.Entry{Campaign: campaign, UserID: userStates[i], State: ledger.State(userStates[i+1]), At: time.Now().UTC()})
	}
	produceLedger(t, e, es...)
}

// counts is the report without the campaign record, for comparing.
func counts(t *testing.T, e env, campaign string) StatusReport {
	t.Helper()
	rep, err := Status(context.Background(), e.cl, e.topics, campaign)
	require.NoError(t, err)
	rep.Record = nil
	return rep
}

// TestStatusAcrossPublishRuns: a campaign published from one file, settled
// by the senders, then published again from a subset, a superset or a
// disjoint file, counts the distinct users of both runs, each once, by its
// latest ledger state; users the second run added are pending until the
// senders settle them.
func TestStatusAcrossPublishRuns(t *testing.T) {
	e := realEnv(t)
	first := ids(0, 10)
	for _, tc := range []struct {
		name   string
		second []string
		// afterRun is the report right after the second run; settled once
		// the senders handled its jobs.
		afterRun, settled StatusReport
	}{
		{
			name:     "subset",
			second:   ids(0, 4),
			afterRun: StatusReport{Published: 10, Sent: 8, Failed: 1, Ambiguous: 1, Complete: true},
			settled:  StatusReport{Published: 10, Sent: 8, Failed: 1, Ambiguous: 1, Complete: true},
		},
		{
			name:     "superset",
			second:   ids(0, 15),
			afterRun: StatusReport{Published: 15, Sent: 8, Failed: 1, Ambiguous: 1, Pending: 5},
			settled:  StatusReport{Published: 15, Sent: 13, Failed: 1, Ambiguous: 1, Complete: true},
		},
		{
			name:     "disjoint",
			second:   ids(20, 26),
			afterRun: StatusReport{Published: 16, Sent: 8, Failed: 1, Ambiguous: 1, Pending: 6},
			settled:  StatusReport{Published: 16, Sent: 14, Failed: 1, Ambiguous: 1, Complete: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := "runs-" + tc.name
			publishUsers(t, e, c, first)
			require.Equal(t, StatusReport{Campaign: c, Published: 10, Pending: 10}, counts(t, e, c))

			// The senders settle the first run: u0 was retried, then
			// sent (it counts once, as sent). u99 has a ledger entry of
			// this campaign but was never published: it does not count.
			record(t, e, c, "u0", "retrying")
			require.Equal(t, StatusReport{Campaign: c, Published: 10, Retrying: 1, Pending: 10}, counts(t, e, c),
				"a retrying user is published with no terminal state: pending")
			record(t, e, c, "u0", "sent", "u1", "ambiguous", "u2", "failed", "u99", "sent")
			for _, u := range ids(3, 10) {
				record(t, e, c, u, "sent")
			}
			want := StatusReport{Campaign: c, Published: 10, Sent: 8, Failed: 1, Ambiguous: 1, Complete: true}
			require.Equal(t, want, counts(t, e, c))

			publishUsers(t, e, c, tc.second)
			tc.afterRun.Campaign = c
			require.Equal(t, tc.afterRun, counts(t, e, c), "right after the second run")

			// The senders handle the second run's jobs: a user the fence
			// already settled gets its state re-reported as it was, a new
			// user is sent.
			settledBefore := map[string]string{"u0": "sent", "u1": "ambiguous", "u2": "failed"}
			for _, u := range tc.second {
				st, ok := settledBefore[u]
				if !ok {
					st = "sent"
				}
				record(t, e, c, u, st)
			}
			tc.settled.Campaign = c
			require.Equal(t, tc.settled, counts(t, e, c), "after the senders handled the second run")
		})
	}
}

// TestStatusRepublishAmbiguousUsers follows the runbook's "Resolving
// ambiguous users": a campaign completes with some users ambiguous; the
// operator re-publishes just those users from their own file (after
// deleting their fence keys, or not). Published stays the campaign's whole
// set, nobody counts twice, and the counts follow what the senders then
// write to the ledger: sent when the fence key was deleted and the email
// sent, ambiguous again when the fence still held the key and the sender
// skipped the job, re-reporting the fence's state.
func TestStatusRepublishAmbiguousUsers(t *testing.T) {
	e := realEnv(t)
	for _, tc := range []struct {
		name    string
		outcome string // what the sender records for a re-published user
		want    StatusReport
	}{
		{name: "fence keys deleted", outcome: "sent", want: StatusReport{Published: 20, Sent: 19, Ambiguous: 1, Complete: true}},
		{name: "fence keys kept", outcome: "ambiguous", want: StatusReport{Published: 20, Sent: 17, Ambiguous: 3, Complete: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := "ambiguous-" + map[string]string{"sent": "resent", "ambiguous": "kept"}[tc.outcome]
			publishUsers(t, e, c, ids(0, 20))
			for _, u := range ids(0, 17) {
				record(t, e, c, u, "sent")
			}
			record(t, e, c, "u17", "ambiguous", "u18", "ambiguous", "u19", "ambiguous")
			before := StatusReport{Campaign: c, Published: 20, Sent: 17, Ambiguous: 3, Complete: true}
			require.Equal(t, before, counts(t, e, c))

			// The operator decides to resend u17 and u18, and leaves u19.
			publishUsers(t, e, c, []string{"u17", "u18"})
			rec, err := ReadCampaign(context.Background(), e.cl, e.topics, c)
			require.NoError(t, err)
			require.EqualValues(t, 2, rec.Total, "the campaign record knows only the last run")
			require.Equal(t, before, counts(t, e, c), "until the senders handle the re-published jobs, their users keep their state")

			record(t, e, c, "u17", tc.outcome, "u18", tc.outcome)
			tc.want.Campaign = c
			require.Equal(t, tc.want, counts(t, e, c))
		})
	}
}
