package producer

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestUserStatus looks users up on the real broker and the real Redis: a
// user sent on its second attempt (history, attempts, message id from the
// ledger, the fence's sent record), a published user nobody has touched
// (pending), a user in flight that only the fence knows, and an unknown
// user (ErrNotFound).
func TestUserStatus(t *testing.T) {
	e := realEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	fnc, err := fence.New(rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)

	const c = "2026-11"
	produceMembers(t, e, c, "u1", "u2")
	t0 := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	produceLedger(t, e,
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Retrying, At: t0, Attempt: 1, Reason: "ses: TooManyRequestsException: rate exceeded"},
		// As the sender writes them: the retry carries the attempts made (1),
		// the send the attempts before it (1).
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Sent, At: t0.Add(30 * time.Second), Attempt: 1, MessageID: "0100-m1"},
		ledger.Entry{Campaign: "other", UserID: "u1", State: ledger.Failed, At: t0},
		ledger.Entry{Campaign: c + "x", UserID: "u1", State: ledger.Failed, At: t0},
	)
	cl1, err := fnc.Claim(ctx, c, "u1")
	require.NoError(t, err)
	require.NoError(t, fnc.Arm(ctx, c, "u1", cl1.Token))
	require.NoError(t, fnc.MarkSent(ctx, c, "u1", cl1.Token, "0100-m1"))
	_, err = fnc.Claim(ctx, c, "u3") // in flight, not a member, no ledger entry
	require.NoError(t, err)

	rep, err := UserStatus(ctx, e.cl, e.topics, fnc, c, "u1")
	require.NoError(t, err)
	require.Equal(t, ledger.Sent, rep.State)
	require.Equal(t, 2, rep.Attempts)
	require.Equal(t, "0100-m1", rep.MessageID)
	require.Empty(t, rep.Reason, "the latest entry's reason")
	require.True(t, rep.Published)
	require.NotNil(t, rep.PublishedAt)
	require.Equal(t, t0, rep.FirstAt.UTC())
	require.Equal(t, t0.Add(30*time.Second), rep.LastAt.UTC())
	require.Len(t, rep.History, 2, "this campaign's entries only")
	require.Equal(t, ledger.Retrying, rep.History[0].State)
	require.NotNil(t, rep.Fence)
	require.Equal(t, fence.Sent, rep.Fence.State)
	require.Equal(t, "0100-m1", rep.Fence.MessageID)

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	for _, want := range []string{"state        sent\n", "attempts     2\n", "message id   0100-m1\n", "fence        sent at ", "history (ledger, oldest first):",
		"2026-11-01T06:00:00Z  retrying  attempt 1  -        -  ses: TooManyRequestsException: rate exceeded",
		"2026-11-01T06:00:30Z  sent      attempt 2  0100-m1  -  -"} {
		require.Contains(t, text.String(), want)
	}
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	for _, k := range []string{"campaign", "user_id", "state", "attempts", "message_id", "reason", "published", "first_at", "last_at", "history", "fence"} {
		require.Contains(t, m, k)
	}

	rep, err = UserStatus(ctx, e.cl, e.topics, fnc, c, "u2")
	require.NoError(t, err)
	require.Equal(t, pendingState, rep.State)
	require.Nil(t, rep.Fence)
	require.Empty(t, rep.History)

	rep, err = UserStatus(ctx, e.cl, e.topics, fnc, c, "u3")
	require.NoError(t, err)
	require.Equal(t, ledger.State(fence.Claimed), rep.State, "only the fence knows it")
	require.False(t, rep.Published)
	require.NotNil(t, rep.Fence.LeaseUntil)

	_, err = UserStatus(ctx, e.cl, e.topics, fnc, c, "u9")
	require.ErrorIs(t, err, ErrNotFound)

	// Redis unreachable: the ledger still answers, and the report says so.
	rep, err = UserStatus(ctx, e.cl, e.topics, failingFence{errors.New("redis unreachable")}, c, "u1")
	require.NoError(t, err)
	require.Equal(t, ledger.Sent, rep.State)
	require.Equal(t, "redis unreachable", rep.FenceError)
}

type failingFence struct{ err error }

func (f failingFence) Get(context.Context, string, string) (fence.Record, bool, error) {
	return fence.Record{}, false, f.err
}

// TestReportStreamsEveryUser exports a campaign from the real broker as CSV
// and JSONL: every member once with its latest entry (pending without
// one), quoted where CSV needs it, in user id order; non-members and other
// campaigns left out; an unknown campaign is ErrNotFound.
func TestReportStreamsEveryUser(t *testing.T) {
	e := realEnv(t)
	ctx := context.Background()
	const c = "2026-11"
	publishUsers(t, e, c, ids(0, 4))
	at := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	produceLedger(t, e,
		ledger.Entry{Campaign: c, UserID: "u0", State: ledger.Retrying, At: at, Reason: "throttled"},
		ledger.Entry{Campaign: c, UserID: "u0", State: ledger.Sent, At: at.Add(time.Minute), MessageID: "m-0", Attempt: 2},
		ledger.Entry{Campaign: c, UserID: "u1", State: ledger.Failed, At: at, Reason: `MessageRejected: "bad", really`},
		ledger.Entry{Campaign: c, UserID: "u2", State: ledger.DeadLettered, At: at, Reason: "exhausted"},
		ledger.Entry{Campaign: c, UserID: "u9", State: ledger.Sent, At: at}, // not a member
		ledger.Entry{Campaign: "other", UserID: "u3", State: ledger.Sent, At: at},
	)

	var out bytes.Buffer
	sum, err := Report(ctx, e.cl, e.topics, c, FormatCSV, &out)
	require.NoError(t, err)
	require.Equal(t, ReportSummary{Users: 4, ByState: map[ledger.State]int64{ledger.Sent: 1, ledger.Failed: 1, ledger.DeadLettered: 1, pendingState: 1}}, sum)
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{
		{"user_id", "state", "message_id", "reason", "at", "fact", "bounce_type"},
		{"u0", "sent", "m-0", "", "2026-11-01T06:01:00Z", "", ""},
		{"u1", "failed", "", `MessageRejected: "bad", really`, "2026-11-01T06:00:00Z", "", ""},
		{"u2", "dead_lettered", "", "exhausted", "2026-11-01T06:00:00Z", "", ""},
		{"u3", "pending", "", "", "", "", ""},
	}, rows)

	out.Reset()
	_, err = Report(ctx, e.cl, e.topics, c, FormatJSONL, &out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 4)
	require.JSONEq(t, `{"user_id":"u0","state":"sent","message_id":"m-0","reason":"","at":"2026-11-01T06:01:00Z","fact":"","bounce_type":""}`, lines[0])
	require.JSONEq(t, `{"user_id":"u3","state":"pending","message_id":"","reason":"","at":null,"fact":"","bounce_type":""}`, lines[3])

	var s strings.Builder
	sum.WriteText(&s)
	require.Equal(t, "report: 4 users, dead_lettered 1, failed 1, pending 1, sent 1\n", s.String())

	_, err = Report(ctx, e.cl, e.topics, "nosuch", FormatCSV, &out)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = Report(ctx, e.cl, e.topics, c, "xml", &out)
	require.ErrorContains(t, err, "--format must be csv or jsonl")
}

// TestReportWritesAsItGoes: the rows reach the writer in pieces as they
// are formatted, not as one buffer of the whole campaign at the end.
func TestReportWritesAsItGoes(t *testing.T) {
	e := realEnv(t)
	const c = "big"
	publishUsers(t, e, c, ids(0, 3000))
	w := &countingWriter{}
	sum, err := Report(context.Background(), e.cl, e.topics, c, FormatJSONL, w)
	require.NoError(t, err)
	require.EqualValues(t, 3000, sum.Users)
	require.Greater(t, w.writes, 10, "written in pieces")
	require.LessOrEqual(t, w.largest, 4096, "no write larger than the buffer")
}

type countingWriter struct{ writes, largest, total int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	c.largest = max(c.largest, len(p))
	c.total += len(p)
	return len(p), nil
}
