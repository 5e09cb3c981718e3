package producer

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestEraseUser runs an erasure request against the real broker and the
// real Redis: a user in two campaigns, erased first from one campaign, then
// from all; neighbours (u10, a user id ending in ":u1") are untouched.
func TestEraseUser(t *testing.T) {
	e := realEnv(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Jobs: campaign 2026-11 for u0..u11, 2026-12 for u0..u2.
	for _, c := range []struct {
		campaign string
		users    int
	}{{"2026-11", 12}, {"2026-12", 3}} {
		cfg := testConfig()
		cfg.Topics, cfg.Campaign = e.topics, c.campaign
		_, err := Publish(ctx, cfg, Deps{Client: e.cl, Source: csvSource(t, c.users)})
		require.NoError(t, err)
	}
	// Ledger entries, fence keys and a DLQ copy, as the sender leaves them.
	fnc, err := fence.New(rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	var recs []*kgo.Record
	for _, cu := range [][2]string{{"2026-11", "u1"}, {"2026-12", "u1"}, {"2026-11", "u2"}, {"2026-11", "u10"}, {"2026-11", "x:u1"}} {
		r, err := ledger.Record(e.topics.Ledger(), ledger.Entry{Campaign: cu[0], UserID: cu[1], State: ledger.Sent, At: time.Now().UTC(), MessageID: "m"})
		require.NoError(t, err)
		recs = append(recs, r)
		_, err = fnc.Restore(ctx, cu[0], cu[1], fence.Record{State: fence.Sent, MessageID: "m"})
		require.NoError(t, err)
	}
	dlq, err := job.Record(e.topics.DLQ(), &job.Job{Version: 1, Campaign: "2026-11", UserID: "u1", Email: "u1@example.com", Template: "t", From: "n@example.com"})
	require.NoError(t, err)
	recs = append(recs, dlq)
	require.NoError(t, e.cl.ProduceSync(ctx, recs...).FirstErr())

	eraseCl, err := kafka.NewClient(kafka.ClientConfig{Brokers: testenv.Kafka(t)}, EraseClientOpts()...)
	require.NoError(t, err)
	t.Cleanup(eraseCl.Close)
	deps := EraseDeps{Client: eraseCl, Redis: rdb}
	cfg := EraseConfig{UserID: "u1", Campaign: "2026-11", Topics: e.topics}

	// One campaign: its ledger entry and fence key go; the jobs key is
	// shared with 2026-12, so it stays, and the report says why.
	rep, err := Erase(ctx, cfg, deps)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-11"}, rep.LedgerCampaigns)
	require.Equal(t, []string{"2026-11"}, rep.MemberCampaigns)
	require.Equal(t, []string{fnc.Key("2026-11", "u1")}, rep.FenceKeys)
	require.False(t, rep.JobsTombstoned)
	require.Contains(t, rep.KeptJobs, "2026-12")
	require.Equal(t, 1, rep.Copies[e.topics.DLQ()])
	requireFenced(t, fnc, "2026-12", "u1", true)

	// Every campaign: the jobs key is tombstoned, the rest goes too.
	cfg.Campaign = ""
	rep, err = Erase(ctx, cfg, deps)
	require.NoError(t, err)
	require.True(t, rep.JobsTombstoned)
	require.Equal(t, 2, rep.JobRecords)
	require.Equal(t, []string{"2026-12"}, rep.LedgerCampaigns)
	require.Equal(t, []string{"2026-12"}, rep.MemberCampaigns)
	require.Equal(t, []string{fnc.Key("2026-12", "u1")}, rep.FenceKeys)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "2 record(s) tombstoned")
	require.Contains(t, text.String(), "1 copy(ies) left")

	// What the topics and Redis hold now.
	latest := func(topic string) map[string][]byte {
		out := map[string][]byte{}
		require.NoError(t, kafka.ReadToEnd(ctx, e.cl, []string{topic}, func(r *kgo.Record) error {
			out[string(r.Key)] = r.Value
			return nil
		}))
		return out
	}
	jobs := latest(e.topics.Jobs())
	require.Contains(t, jobs, "u1")
	require.Nil(t, jobs["u1"], "the user's jobs key ends in a tombstone")
	for _, u := range []string{"u0", "u2", "u10", "u11"} {
		require.NotNil(t, jobs[u], u)
	}
	led := latest(e.topics.Ledger())
	for _, k := range []string{"2026-11:u1", "2026-12:u1"} {
		require.Contains(t, led, k)
		require.Nil(t, led[k], k)
	}
	for _, k := range []string{"2026-11:u2", "2026-11:u10", "2026-11:x:u1"} {
		require.NotNil(t, led[k], k)
	}
	for _, cu := range [][2]string{{"2026-11", "u2"}, {"2026-11", "u10"}, {"2026-11", "x:u1"}} {
		requireFenced(t, fnc, cu[0], cu[1], true)
	}
	for _, c := range []string{"2026-11", "2026-12"} {
		requireFenced(t, fnc, c, "u1", false)
	}
	st, err := Status(ctx, e.cl, e.topics, "2026-11")
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Sent, "u2 and u10 are still reported sent; u1 is gone")
	require.EqualValues(t, 11, st.Published, "u1 is no longer a member of the campaign")
	require.EqualValues(t, 9, st.Pending, "nor pending: the campaign can complete")

	// Again: nothing is left to remove.
	rep, err = Erase(ctx, cfg, deps)
	require.NoError(t, err)
	require.Zero(t, rep.JobRecords)
	require.Empty(t, rep.LedgerCampaigns)
	require.Empty(t, rep.MemberCampaigns)
	require.Empty(t, rep.FenceKeys)
	require.False(t, strings.Contains(text.String(), "@"), "the report holds no address")
}

func TestEraseConfigValidate(t *testing.T) {
	for _, c := range []EraseConfig{
		{Topics: kafka.Topics{Prefix: "p"}},
		{UserID: strings.Repeat("u", MaxUserIDBytes+1), Topics: kafka.Topics{Prefix: "p"}},
		{UserID: "u", Campaign: "a:b", Topics: kafka.Topics{Prefix: "p"}},
		{UserID: "u"},
	} {
		require.Error(t, c.Validate(), c)
	}
	c := EraseConfig{UserID: "u", Topics: kafka.Topics{Prefix: "p"}}
	require.NoError(t, c.Validate())
	require.Equal(t, "p", c.FencePrefix)
}

// requireFenced checks whether the fence holds a record of (campaign, user).
func requireFenced(t *testing.T, f *fence.Fence, campaign, user string, want bool) {
	t.Helper()
	_, ok, err := f.Get(context.Background(), campaign, user)
	require.NoError(t, err)
	require.Equal(t, want, ok, "fence record of %s in %s", user, campaign)
}
