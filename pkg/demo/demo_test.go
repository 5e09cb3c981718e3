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
	"github.com/sendonce/sendonce/pkg/sesevents"
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
	require.Zero(t, rep.Ambiguous+rep.Failed+rep.DeadLettered+rep.Expired, "0 unsettled at the end")
	require.True(t, rep.Restarted, "the mid-run sender restart happened (RestartAt %g)", o.RestartAt)

	// The senders ran batches: SendBulkEmail calls of several users.
	b := rep.Batches
	require.Positive(t, b.BulkCalls, "SendBulkEmail calls")
	require.Equal(t, b.BulkCalls, b.SESBulkAnswered+len(rep.Injected), "every bulk call reached the local SES (the injected one answered 503)")
	require.Greater(t, b.Mean(), 1.0, "users per batch")
	require.GreaterOrEqual(t, b.Users, rep.Valid)
	require.Contains(t, out.String(), fmt.Sprintf("%s SendBulkEmail calls", num(b.BulkCalls)))

	// One SendBulkEmail was accepted by SES and answered 503: each of its
	// users was ambiguous, then settled by the reconciler from SES's
	// events (ledger sent, settled_by_event), and never sent again.
	set := rep.Settlement
	require.Len(t, rep.Injected, 1)
	require.GreaterOrEqual(t, set.InjectedUsers, 2, "a bulk call has several users")
	require.Equal(t, set.InjectedUsers, set.InjectedSettled, "unsettled: %v", set.Unsettled)
	require.Empty(t, set.Unsettled)
	require.Positive(t, set.AmbiguousBefore, "the ledger called them ambiguous before their events came")
	require.GreaterOrEqual(t, int(rep.Status.SettledByEvent), set.InjectedUsers)
	require.Zero(t, set.DuplicateEmails, "no event proved a second email")
	require.Zero(t, rep.Outcomes["resolved_not_sent"], "nothing was declared not sent and sent again")
	require.Equal(t, 294, int(rep.Status.Delivered), "every email's Delivery event reached the ledger")
	require.Positive(t, set.EventOutcomes["settled"])
	require.Equal(t, 2*294+set.EventCopies, set.EventsPublished["Send"]+set.EventsPublished["Delivery"], "a Send and a Delivery of each email, some twice")
	require.Zero(t, set.EventsLost)
	require.Contains(t, out.String(), fmt.Sprintf("%d of the %d injected users", set.InjectedUsers, set.InjectedUsers))
	require.Contains(t, out.String(), "ambiguous              "+num(set.AmbiguousBefore)+" before settlement, 0 after")

	// Sent by the senders' own mark, or settled by an event (which may
	// also come before a mark that then finds the key sent): each sent
	// user is at least one of the two.
	require.LessOrEqual(t, rep.Outcomes["sent"], rep.Sent)
	require.GreaterOrEqual(t, rep.Outcomes["sent"]+int(rep.Status.SettledByEvent), rep.Sent)

	// The injected throttles were retried through the tiers.
	require.Positive(t, rep.Throttled)
	retried := 0
	for _, n := range rep.Retried {
		retried += n
	}
	// Every attempt sent to a tier (throttled, or busy / not sent if the
	// restart caused any) came back through the retrier; an ambiguous one
	// awaiting its event may still wait in its tier when the run ends.
	toTiers := rep.Throttled + rep.Outcomes["busy"] + rep.Outcomes["not_sent"]
	require.GreaterOrEqual(t, retried, toTiers)
	require.LessOrEqual(t, retried, toTiers+rep.Outcomes["ambiguous"]+rep.Outcomes["unsettled"])

	require.True(t, rep.Outbox.OK(), "%+v", rep.Outbox)
	require.Equal(t, 294, rep.Outbox.Once)
	require.Equal(t, 294, rep.Outbox.Files)
	require.Equal(t, filepath.Join(o.OutboxDir, "usage-2026-10"), rep.Outbox.Dir)
	require.Contains(t, out.String(), "OK: every valid user got exactly one email")

	// It ends with the per-user lookup (an injected user: its history
	// holds the ambiguous send and its settlement by event) and the
	// report.
	u := rep.Answers.User
	require.Equal(t, rep.Injected[0].Users[0], u.UserID)
	require.Equal(t, ledger.Sent, u.State)
	require.Equal(t, ledger.ReasonSettledByEvent, u.Reason)
	require.Equal(t, ledger.FactDelivered, u.Fact)
	require.NotEmpty(t, u.MessageID)
	require.NotEmpty(t, u.AttemptID, "the event named the attempt")
	settledBy := 0
	for _, e := range u.History {
		if e.State == ledger.Sent && e.Reason == ledger.ReasonSettledByEvent {
			settledBy++
		}
	}
	require.Positive(t, settledBy, "history: %+v", u.History)
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

// Without SES's events nothing settles the injected users: after
// --resolve-after each is declared not sent and sent again, a duplicate
// that the outbox check catches, and the report names them unsettled.
func TestRunFailsWhenTheEventsAreLost(t *testing.T) {
	o := smallOptions(t, 100)
	o.RestartAt = 0
	o.ThrottlePercent = 0
	o.ResolveAfter = time.Second
	o.dropEvent = func(sesevents.Accepted) bool { return true }
	rep, err := Run(context.Background(), o, io.Discard)
	require.ErrorIs(t, err, ErrCheckFailed)
	require.False(t, rep.OK())
	set := rep.Settlement
	require.Len(t, rep.Injected, 1)
	require.GreaterOrEqual(t, set.InjectedUsers, 2)
	require.Zero(t, set.InjectedSettled)
	require.Len(t, set.Unsettled, set.InjectedUsers)
	require.Positive(t, set.EventsLost)
	require.Zero(t, rep.Status.SettledByEvent+rep.Status.Delivered)
	require.Equal(t, set.InjectedUsers, rep.Outcomes["resolved_not_sent"], "declared not sent after --resolve-after")
	require.Len(t, rep.Outbox.Duplicated, set.InjectedUsers, "and sent again: a duplicate each")
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

func TestAmbiguityInjectsTheDueCallAndSparesIt(t *testing.T) {
	owners := map[string]string{}
	for i := range 20 {
		owners[fmt.Sprintf("user%d@example.com", i)] = fmt.Sprintf("u-%02d", i)
	}
	bulk := func(from, n int) []sesfake.SendRequest {
		var out []sesfake.SendRequest
		for i := from; i < from+n; i++ {
			out = append(out, *sendTo(i))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		calls, at int
		bulk      bool
		// want: the users of the injected calls, in order.
		want [][]string
	}{
		{"bulk, the first call after 4 emails", 1, 4, true, [][]string{{"u-06", "u-07", "u-08"}}},
		{"bulk, two calls", 2, 4, true, [][]string{{"u-06", "u-07", "u-08"}, {"u-09", "u-10", "u-11"}}},
		{"bulk, none", 0, 0, true, nil},
		{"single sends", 2, 3, false, [][]string{{"u-03"}, {"u-04"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAmbiguity(tc.calls, tc.at, tc.bulk, owners)
			thr := newThrottler(20, 50)
			thr.storms = [][2]int{{0, 1000}} // every first attempt may be throttled
			fault := faults(a, thr)
			var answered []*sesfake.Fault
			if tc.bulk {
				for from := 0; from < 12; from += 3 {
					entries := bulk(from, 3)
					answered = append(answered, a.bulkFault(entries))
					for i := range entries {
						f := fault(&entries[i])
						if spared := answered[len(answered)-1] != nil; spared {
							require.Nil(t, f, "an entry of an injected call is accepted, never throttled")
						}
					}
				}
			} else {
				for i := range 6 {
					answered = append(answered, fault(sendTo(i)))
				}
			}
			var got [][]string
			for _, c := range a.Injected() {
				got = append(got, c.Users)
			}
			require.Equal(t, tc.want, got)
			n := 0
			for _, f := range answered {
				if f != nil && f.Name == sesfake.UnavailableAfterAccept.Name {
					require.True(t, f.Accept, "accepted, then 503")
					n++
				}
			}
			require.Equal(t, len(tc.want), n)
		})
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
		{func(o *Options) { o.BatchSize = 51 }, ErrBatch},
		{func(o *Options) { o.AmbiguousCalls = -1 }, ErrInject},
		{func(o *Options) { o.AmbiguousAt = 1 }, ErrInject},
		{func(o *Options) { o.ResolveAfter = -time.Second }, ErrResolve},
		{func(o *Options) { o.EventDelay = [2]time.Duration{time.Second, 0} }, ErrEvents},
		{func(o *Options) { o.EventDuplicates = 2 }, ErrEvents},
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
