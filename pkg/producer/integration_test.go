package producer

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/ledger"
)

// TestPublishTenThousandUsers: 10,000 users (and 500 duplicate rows) give
// exactly 10,000 records with 10,000 distinct keys on the real broker.
func TestPublishTenThousandUsers(t *testing.T) {
	e := realEnv(t)
	var dups []string
	for i := 0; i < 10000; i += 20 {
		dups = append(dups, fmt.Sprintf("u%d,other%d@example.com,dup", i, i))
	}
	cfg := testConfig()
	cfg.Topics = e.topics
	start := time.Now()
	sum, err := Publish(context.Background(), cfg, Deps{Client: e.cl, Source: csvSource(t, 10000, dups...)})
	require.NoError(t, err)
	t.Logf("published %d jobs in %s (%.0f jobs/s, including the campaign records and the ledger read)", sum.Published, time.Since(start), float64(sum.Published)/time.Since(start).Seconds())
	require.EqualValues(t, 10500, sum.Rows)
	require.EqualValues(t, 10000, sum.Published)
	require.EqualValues(t, 500, sum.Duplicates)
	require.EqualValues(t, 0, sum.Rejected)

	records, jobs := readJobs(t, e)
	require.Equal(t, 10000, records, "duplicates are published once")
	require.Len(t, jobs, 10000)
	for i := range 10000 {
		j := jobs[fmt.Sprintf("u%d", i)]
		require.NotNil(t, j, "user u%d", i)
		require.Equal(t, fmt.Sprintf("u%d@example.com", i), j.Email)
		require.Equal(t, "2026-11", j.Campaign)
	}
	rep, err := Status(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: "2026-11", Published: 10000, Pending: 10000, Record: rep.Record}, rep)
}

// TestPublishKilledThenRerun: a run interrupted midway leaves the campaign
// "publishing"; the rerun publishes every user and marks it published.
func TestPublishKilledThenRerun(t *testing.T) {
	e := realEnv(t)
	cfg := testConfig()
	cfg.Topics = e.topics
	const users = 5000

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &hookSource{Reader: csvSource(t, users), hook: func(n int) {
		if n == 2000 {
			cancel()
		}
	}}
	sum, err := Publish(ctx, cfg, Deps{Client: e.cl, Source: first})
	require.ErrorIs(t, err, ErrInterrupted)
	require.EqualValues(t, 2000, sum.Published)
	rec, err := ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusPublishing, rec.Status)
	rep, err := Status(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.False(t, rep.Complete)

	// Meanwhile the sender sent some of them.
	for i := range 150 {
		produceLedger(t, e, ledger.Entry{Campaign: cfg.Campaign, UserID: fmt.Sprintf("u%d", i), State: ledger.Sent, At: time.Now()})
	}

	sum, err = Publish(context.Background(), cfg, Deps{Client: e.cl, Source: csvSource(t, users)})
	require.NoError(t, err)
	require.EqualValues(t, users, sum.Published)
	require.EqualValues(t, 150, sum.AlreadySent)
	require.NotNil(t, sum.Previous)
	require.Equal(t, StatusPublishing, sum.Previous.Status)

	records, jobs := readJobs(t, e)
	require.Equal(t, users+2000, records, "the rerun republishes everything; compaction will drop the older copies")
	require.Len(t, jobs, users, "every user is in the topic")
	rec, err = ReadCampaign(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.Equal(t, StatusPublished, rec.Status)
	require.EqualValues(t, users, rec.Total)
	rep, err = Status(context.Background(), e.cl, e.topics, cfg.Campaign)
	require.NoError(t, err)
	require.EqualValues(t, users, rep.Published)
	require.EqualValues(t, 150, rep.Sent)
	require.EqualValues(t, users-150, rep.Pending)
}

func produceLedger(t *testing.T, e env, entries ...ledger.Entry) {
	t.Helper()
	var recs []*kgo.Record
	for _, en := range entries {
		r, err := ledger.Record(e.topics.Ledger(), en)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	require.NoError(t, e.cl.ProduceSync(context.Background(), recs...).FirstErr())
}

// produceMembers writes the membership records of users, as a publish run
// of campaign does.
func produceMembers(t *testing.T, e env, campaign string, users ...string) {
	t.Helper()
	var recs []*kgo.Record
	for _, u := range users {
		enc, err := newMemberEncoder(MembersTopic(e.topics), campaign, time.Now().UTC())
		require.NoError(t, err)
		recs = append(recs, enc.record(u))
	}
	require.NoError(t, e.cl.ProduceSync(context.Background(), recs...).FirstErr())
}

func TestStatusCountsTheLedger(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	const c = "2026-11"

	rep, err := Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: c}, rep, "nothing published yet")

	fin := time.Now().UTC()
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: c, Total: 5, Status: StatusPublished, StartedAt: fin, FinishedAt: &fin}))
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "other", Total: 99, Status: StatusPublished}))
	produceMembers(t, e, c, "u1", "u2", "u3", "u4", "u5")
	produceMembers(t, e, "other", "u6")
	produceMembers(t, e, c+"x", "u7")
	at := time.Now()
	produceLedger(t, e,
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Retrying, At: at},
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: at}, // last entry wins
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Sent, At: at},
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Failed, At: at},
		ledger.Entry{Campaign: c, UserID: "u4", State: ledger.Ambiguous, At: at},
		ledger.Entry{Campaign: c, UserID: "u5", State: ledger.Retrying, At: at},
		ledger.Entry{Campaign: c, UserID: "u8", State: ledger.Sent, At: at}, // not a member: not counted
		ledger.Entry{Campaign: "other", UserID: "u6", State: ledger.Sent, At: at},
		ledger.Entry{Campaign: c + "x", UserID: "u7", State: ledger.Sent, At: at}, // a campaign whose id starts alike
	)
	rep, err = Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: c, Published: 5, Sent: 2, Failed: 1, Ambiguous: 1, Retrying: 1, Pending: 1, Complete: false, Record: rep.Record}, rep)

	produceLedger(t, e, ledger.Entry{Campaign: c, UserID: "u5", State: ledger.Sent, At: at})
	rep, err = Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: c, Published: 5, Sent: 3, Failed: 1, Ambiguous: 1, Complete: true, Record: rep.Record}, rep)

	// Redriven jobs are back in flight; dead-lettered and expired are terminal.
	produceLedger(t, e,
		ledger.Entry{Campaign: c, UserID: "u3", State: ledger.Redriven, At: at},
		ledger.Entry{Campaign: c, UserID: "u4", State: ledger.DeadLettered, At: at},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.Expired, At: at},
	)
	rep, err = Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: c, Published: 5, Sent: 2, Retrying: 1, DeadLettered: 1, Expired: 1, Pending: 1, Complete: false, Record: rep.Record}, rep)

	var js, text bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	require.JSONEq(t, `{"campaign":"2026-11","published":5,"sent":2,"failed":0,"retrying":1,"dead_lettered":1,"expired":1,"ambiguous":0,"cancelled":0,"control":"active","pending":1,"complete":false,"settled_by_event":0,"delivered":0,"bounced":0,"complained":0}`, js.String())
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "dead_lettered  1\n")
	require.Contains(t, text.String(), "publish run    published")

	// A membership tombstone (the user was erased) removes the user; a
	// cancelled user is settled.
	require.NoError(t, e.cl.ProduceSync(ctx, &kgo.Record{Topic: MembersTopic(e.topics), Key: []byte(c + ":u3")}).FirstErr())
	produceLedger(t, e, ledger.Entry{Campaign: c, UserID: "u1", State: "cancelled", At: at})
	rep, err = Status(ctx, e.cl, e.topics, c)
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: c, Published: 4, Sent: 1, DeadLettered: 1, Expired: 1, Cancelled: 1, Complete: true, Record: rep.Record}, rep)
}

// TestStatusWithoutMembershipRecords: a campaign published before the
// membership topic existed counts as before: published is its record's
// total and every ledger entry of the campaign counts.
func TestStatusWithoutMembershipRecords(t *testing.T) {
	e := fakeEnv(t)
	ctx := context.Background()
	fin := time.Now().UTC()
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "c", Total: 3, Status: StatusPublished, FinishedAt: &fin}))
	produceMembers(t, e, "other", "u1")
	produceLedger(t, e,
		ledger.Entry{Campaign: "c", UserID: "u1", State: ledger.Sent, At: fin},
		ledger.Entry{Campaign: "c", UserID: "u2", State: ledger.Retrying, At: fin},
	)
	rep, err := Status(ctx, e.cl, e.topics, "c")
	require.NoError(t, err)
	require.Equal(t, StatusReport{Campaign: "c", Published: 3, Sent: 1, Retrying: 1, Pending: 2, Record: rep.Record, FromRecord: true}, rep)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "no membership records")
}

func TestStatusWhileRepublishing(t *testing.T) {
	// A rerun of a published campaign keeps the previous total while it
	// publishes, and is not complete until it has finished.
	e := fakeEnv(t)
	ctx := context.Background()
	fin := time.Now().UTC()
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "c", Total: 1, Status: StatusPublished, FinishedAt: &fin}))
	produceLedger(t, e, ledger.Entry{Campaign: "c", UserID: "u1", State: ledger.Sent, At: fin})
	rep, err := Status(ctx, e.cl, e.topics, "c")
	require.NoError(t, err)
	require.True(t, rep.Complete)
	require.NoError(t, writeCampaign(ctx, e.cl, e.topics, CampaignRecord{Campaign: "c", Total: 1, Status: StatusPublishing}))
	rep, err = Status(ctx, e.cl, e.topics, "c")
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Published)
	require.False(t, rep.Complete)
}
