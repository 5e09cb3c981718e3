package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/source"
)

func smallOptions(t *testing.T, users int) Options {
	o := DefaultOptions()
	o.Users = users
	o.OutboxDir = filepath.Join(t.TempDir(), "outbox")
	o.Tiers = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	o.Partitions = 4
	o.Timeout = time.Minute
	o.Now = func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }
	return o
}

func TestRunSendsExactlyOneEmailPerValidUser(t *testing.T) {
	o := smallOptions(t, 300)
	var out bytes.Buffer
	rep, err := Run(context.Background(), o, &out)
	require.NoError(t, err, out.String())

	require.Equal(t, "usage-2026-10", rep.Campaign)
	require.Equal(t, 300, rep.Rows)
	// 300 rows: 4 invalid (one empty user id, one too long, two bad
	// addresses) and 2 repeating an earlier user id.
	require.Equal(t, 294, rep.Valid)
	require.Equal(t, map[string]int{"missing_user_id": 1, "user_id_too_long": 1, "invalid_email": 2}, rep.Rejected)
	require.Equal(t, 2, rep.DuplicateRows)
	require.Equal(t, 294, rep.Published)
	require.Equal(t, 294, rep.Sent)
	require.Equal(t, 294, rep.Accepted, "the local SES accepted one email per valid user, no more")
	require.True(t, rep.Status.Complete)
	require.Zero(t, rep.Ambiguous+rep.Failed+rep.DeadLettered+rep.Expired)
	require.True(t, rep.Restarted, "the mid-run sender restart happened (RestartAt %g)", o.RestartAt)

	// The injected throttles were retried through the tiers.
	require.Positive(t, rep.Throttled)
	retried := 0
	for _, n := range rep.Retried {
		retried += n
	}
	// Every attempt sent to a tier (throttled, or busy / not sent if the
	// restart caused any) came back through the retrier.
	require.Equal(t, rep.Throttled+rep.Outcomes["busy"]+rep.Outcomes["not_sent"], retried)
	require.Equal(t, rep.Sent, rep.Outcomes["sent"])

	require.True(t, rep.Outbox.OK(), "%+v", rep.Outbox)
	require.Equal(t, 294, rep.Outbox.Once)
	require.Equal(t, 294, rep.Outbox.Files)
	require.Equal(t, filepath.Join(o.OutboxDir, "usage-2026-10"), rep.Outbox.Dir)
	require.Contains(t, out.String(), "OK: every valid user got exactly one email")

	// It ends with the per-user lookup (a retried user: its history holds
	// the throttle and the send) and the report.
	u := rep.Answers.User
	require.Equal(t, ledger.Sent, u.State)
	require.NotEmpty(t, u.MessageID)
	require.GreaterOrEqual(t, len(u.History), 2, "a retried user was picked")
	require.GreaterOrEqual(t, u.Attempts, 2)
	require.NotNil(t, u.Fence)
	require.Equal(t, u.MessageID, u.Fence.MessageID, "the ledger and the fence agree")
	require.Equal(t, producer.ReportSummary{Users: 294, ByState: map[ledger.State]int64{ledger.Sent: 294}}, rep.Answers.Report)
	require.Len(t, rep.Answers.ReportHead, 6)
	require.Equal(t, "user_id,state,message_id,reason,at,fact,bounce_type", rep.Answers.ReportHead[0])
	require.Contains(t, out.String(), "$ producer status --campaign usage-2026-10 --user "+u.UserID+"\n")
	require.Contains(t, out.String(), "message id   "+u.MessageID+"\n")
	require.Contains(t, out.String(), "$ producer report --campaign usage-2026-10 --format csv\n")
	require.True(t, strings.HasSuffix(out.String(), "... 289 more rows\nreport: 294 users, sent 294\n"), "the demo ends with the report")

	// A second run into the same outbox starts from an empty campaign
	// folder, so the check sees that run only; --keep=false removes it.
	o.Keep = false
	o.RestartAt = 0
	rep2, err := Run(context.Background(), o, io.Discard)
	require.NoError(t, err)
	require.True(t, rep2.Outbox.OK())
	_, err = os.Stat(rep2.Outbox.Dir)
	require.True(t, os.IsNotExist(err), "the outbox is removed with Keep false")
}

func TestRunFailsWhenTheOutboxHoldsADuplicate(t *testing.T) {
	o := smallOptions(t, 50)
	o.RestartAt = 0
	// A stray email to a valid user lands in the outbox mid-run (as a
	// duplicate send would); the check must catch it and Run must fail.
	dir := filepath.Join(o.OutboxDir, "usage-2026-10")
	var planted bool
	o.afterSettled = func(p *population) {
		for addr := range p.Valid {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "stray.eml"), []byte("To: "+addr+"\r\nSubject: x\r\n\r\nx\r\n"), 0o644))
			planted = true
			return
		}
	}
	rep, err := Run(context.Background(), o, io.Discard)
	require.True(t, planted)
	require.ErrorIs(t, err, ErrCheckFailed)
	require.Len(t, rep.Outbox.Duplicated, 1)
	require.False(t, rep.OK())
}

func TestGenerateMatchesTheProducersValidation(t *testing.T) {
	for _, rows := range []int{10, 300, 5000} {
		var a, b bytes.Buffer
		pa, err := generate(&a, rows, 7, "October 2026")
		require.NoError(t, err)
		_, err = generate(&b, rows, 7, "October 2026")
		require.NoError(t, err)
		require.Equal(t, a.String(), b.String(), "the same seed gives the same CSV")

		// Read the CSV back through the producer's own source and row
		// checks: the rows it accepts are exactly the population's valid
		// users, and it rejects for the reasons the generator meant.
		r, err := source.NewCSV(strings.NewReader(a.String()))
		require.NoError(t, err)
		got := map[string]int{}
		seen := map[string]bool{}
		valid := map[string]string{}
		n := 0
		for {
			row, err := r.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			n++
			if reason, _ := producer.CheckRow(&row); reason != "" {
				got[string(reason)]++
				continue
			}
			if seen[row.UserID] {
				got[string(producer.ReasonDuplicateUser)]++
				continue
			}
			seen[row.UserID] = true
			valid[row.Email] = row.UserID
		}
		require.Equal(t, rows, n)
		require.Equal(t, pa.Rejects, got, "rows %d", rows)
		require.Equal(t, pa.Valid, valid, "rows %d", rows)
		for addr := range pa.Forbidden {
			_, ok := pa.Valid[addr]
			require.False(t, ok, "a forbidden address is not a valid user's: %s", addr)
		}
	}
}

func TestCheckOutbox(t *testing.T) {
	p := &population{
		Valid:     map[string]string{"a@example.com": "u1", "b@example.com": "u2", "c@example.com": "u3"},
		Forbidden: map[string]bool{"moved@example.com": true},
	}
	dir := t.TempDir()
	write := func(name, to string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("From: r@example.com\r\nTo: "+to+"\r\nSubject: s\r\n\r\nbody\r\n"), 0o644))
	}

	write("1.eml", "a@example.com")
	write("2.eml", "b@example.com")
	write("3.eml", "c@example.com")
	c, err := checkOutbox(dir, p)
	require.NoError(t, err)
	require.True(t, c.OK())
	require.Equal(t, 3, c.Once)

	write("4.eml", "B@example.com")
	require.NoError(t, os.Remove(filepath.Join(dir, "3.eml")))
	write("5.eml", "moved@example.com")
	write("6.eml", "who@example.com")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "7.eml"), []byte("no header at all"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644))
	c, err = checkOutbox(dir, p)
	require.NoError(t, err)
	require.False(t, c.OK())
	require.Equal(t, 1, c.Once)
	require.Equal(t, []string{"b@example.com"}, c.Duplicated)
	require.Equal(t, []string{"c@example.com"}, c.Missing)
	require.Equal(t, []string{"moved@example.com"}, c.Forbidden)
	require.Equal(t, []string{"who@example.com"}, c.Unknown)
	require.Equal(t, []string{"7.eml"}, c.Unreadable)
	require.Equal(t, 6, c.Files)
}

func TestThrottlerIsRepeatableAndBursty(t *testing.T) {
	calls := func() []bool {
		th := newThrottler(1000, 6)
		var out []bool
		for i := range 1000 {
			out = append(out, th.fault(sendTo(i)) != nil)
		}
		return out
	}
	a := calls()
	require.Equal(t, a, calls())
	n := 0
	for i, thr := range a {
		if thr {
			n++
			require.True(t, (i >= 150 && i < 230) || (i >= 550 && i < 590), "call %d throttled outside the storms", i)
		}
	}
	require.InDelta(t, 60, n, 20, "about half of the 120 first attempts in the storms")

	th := newThrottler(1000, 0)
	for i := range 1000 {
		require.Nil(t, th.fault(sendTo(i)))
	}
}

func sendTo(i int) *sesfake.SendRequest {
	return &sesfake.SendRequest{To: []string{fmt.Sprintf("user%d@example.com", i)}}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Options)
		want error
	}{
		{func(o *Options) { o.Users = 9 }, ErrUsers},
		{func(o *Options) { o.OutboxDir = "" }, ErrOutbox},
		{func(o *Options) { o.ThrottlePercent = 60 }, ErrThrottle},
		{func(o *Options) { o.RestartAt = 1 }, ErrRestart},
		{func(o *Options) { o.MaxSendRate = 0 }, ErrRate},
		{func(o *Options) {}, nil},
	} {
		o := DefaultOptions()
		tc.mod(&o)
		err := o.Validate()
		if tc.want == nil {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, tc.want)
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 9970: "9,970", 1234567: "1,234,567", -1500: "-1,500"} {
		require.Equal(t, want, num(n))
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	p := newProgress(&b, false, start)
	s := snapshot{published: 10, valid: 10, sent: 4, limit: 1800}
	p.update(start.Add(time.Second), s, true)
	p.update(start.Add(time.Second), s, true) // the same line is not printed twice
	p.update(start.Add(1500*time.Millisecond), s, false)
	s.sent = 10
	p.update(start.Add(2*time.Second), s, true)
	p.event(start.Add(2*time.Second), "sender-%d stopped", 2)
	require.Equal(t, "  1.0s  published 10/10  sent 4  retrying 0  0 emails/s (limit 1,800/s)\n"+
		"  2.0s  published 10/10  sent 10  retrying 0  6 emails/s (limit 1,800/s)\n"+
		"  2.0s  sender-2 stopped\n", b.String())
}
