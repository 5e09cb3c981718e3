package fence

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const eventID = "0100019a7e3a2b1f-1f6a2c1e-3b7d-4e2a-8f1c-2d9e6b5a4c3f-000000"

func TestSettle(t *testing.T) {
	for _, b := range []backend{miniBackend, realBackend} {
		t.Run(b.name, func(t *testing.T) {
			t.Run("VerdictByState", func(t *testing.T) { testSettleTable(t, b) })
			t.Run("Sequences", func(t *testing.T) { testSettleSequences(t, b) })
		})
	}
}

// setups put a user in a state and return the attempt the record names.
func settleSetups(ctx context.Context, t *testing.T, f *Fence, clk *fakeClock) map[string]func(u string) string {
	claimArm := func(u string) string {
		c := mustClaimUser(t, f, u)
		require.NoError(t, f.Arm(ctx, camp, u, c.Token))
		return c.Token
	}
	return map[string]func(string) string{
		"claimed": func(u string) string { return mustClaimUser(t, f, u).Token },
		"sending": claimArm,
		"ambiguous": func(u string) string {
			tok := claimArm(u)
			require.NoError(t, f.MarkAmbiguous(ctx, camp, u, tok, "ses 503"))
			return tok
		},
		"held": func(u string) string {
			tok := claimArm(u)
			clk.Add(time.Minute)
			c, err := f.Claim(ctx, camp, u)
			require.NoError(t, err)
			require.Equal(t, Held, c.Outcome)
			return tok
		},
		"resendable": func(u string) string {
			tok := claimArm(u)
			require.NoError(t, f.MarkResendable(ctx, camp, u, tok, "ses 503"))
			return tok
		},
		"sent": func(u string) string {
			tok := claimArm(u)
			require.NoError(t, f.MarkSent(ctx, camp, u, tok, sesID))
			return tok
		},
		"failed": func(u string) string {
			tok := claimArm(u)
			require.NoError(t, f.MarkFailed(ctx, camp, u, tok, "MessageRejected"))
			return tok
		},
		"dead_lettered": func(u string) string {
			tok := claimArm(u)
			require.NoError(t, f.MarkDeadLettered(ctx, camp, u, tok, "max attempts"))
			return tok
		},
		"absent": func(string) string { return "never-claimed" },
	}
}

func testSettleTable(t *testing.T, b backend) {
	ctx := context.Background()
	type want struct {
		outcome SettleOutcome
		state   State // after
		byEvent bool
		msgID   string
		fact    Fact
		reason  string
	}
	sentByEvent := want{Settled, Sent, true, eventID, FactDelivered, ""}
	failedByEvent := want{Settled, Failed, true, "", "", "RenderingFailure"}
	tests := []struct {
		state   string
		verdict Verdict
		other   bool // the event names another attempt
		want    want
	}{
		{"claimed", VerdictSent, false, sentByEvent},
		{"sending", VerdictSent, false, sentByEvent},
		{"ambiguous", VerdictSent, false, sentByEvent},
		{"held", VerdictSent, false, sentByEvent},
		{"resendable", VerdictSent, false, sentByEvent},
		{"dead_lettered", VerdictSent, false, sentByEvent},
		{"sent", VerdictSent, false, want{FactAdded, Sent, false, sesID, FactDelivered, ""}},
		{"failed", VerdictSent, false, want{Already, Failed, false, "", "", "MessageRejected"}},
		{"absent", VerdictSent, false, want{outcome: Unknown}},
		{"sending", VerdictSent, true, want{OtherAttempt, Sending, false, "", "", ""}},
		{"sent", VerdictSent, true, want{OtherAttempt, Sent, false, sesID, "", ""}},

		{"claimed", VerdictFailed, false, failedByEvent},
		{"sending", VerdictFailed, false, failedByEvent},
		{"ambiguous", VerdictFailed, false, failedByEvent},
		{"held", VerdictFailed, false, failedByEvent},
		{"resendable", VerdictFailed, false, failedByEvent},
		{"sent", VerdictFailed, false, failedByEvent}, // accepted, then never sent
		{"dead_lettered", VerdictFailed, false, failedByEvent},
		{"failed", VerdictFailed, false, want{Already, Failed, false, "", "", "MessageRejected"}},
		{"absent", VerdictFailed, false, want{outcome: Unknown}},
		{"ambiguous", VerdictFailed, true, want{OtherAttempt, Ambiguous, false, "", "", "ses 503"}},
	}
	f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second, Retention: time.Hour})
	setups := settleSetups(ctx, t, f, clk)
	for i, tt := range tests {
		name := tt.state + "/" + map[Verdict]string{VerdictSent: "sent", VerdictFailed: "failed"}[tt.verdict]
		if tt.other {
			name += "/other-attempt"
		}
		t.Run(name, func(t *testing.T) {
			u := "u-" + string(rune('a'+i))
			attempt := setups[tt.state](u)
			before, _, err := f.Get(ctx, camp, u)
			require.NoError(t, err)
			e := Event{Campaign: camp, User: u, Attempt: attempt, Verdict: tt.verdict}
			if tt.other {
				e.Attempt = "other-attempt"
			}
			if tt.verdict == VerdictSent {
				e.MessageID, e.Fact = eventID, FactDelivered
			} else {
				e.Reason = "RenderingFailure"
			}
			s, err := f.Settle(ctx, e)
			require.NoError(t, err)
			require.Equal(t, tt.want.outcome, s.Outcome)
			got, ok, err := f.Get(ctx, camp, u)
			require.NoError(t, err)
			if tt.want.outcome == Unknown {
				require.False(t, ok, "nothing written")
				require.Equal(t, Settlement{Outcome: Unknown}, s)
				return
			}
			require.Equal(t, before, s.Prev)
			require.Equal(t, got, s.Now)
			if tt.want.outcome == OtherAttempt || tt.want.outcome == Already {
				require.Equal(t, before, got, "nothing written")
			}
			require.Equal(t, tt.want.state, got.State)
			require.Equal(t, tt.want.byEvent, got.ByEvent)
			require.Equal(t, tt.want.msgID, got.MessageID)
			require.Equal(t, tt.want.fact, got.Fact)
			require.Equal(t, tt.want.reason, got.Reason)
			require.Equal(t, attempt, got.Attempt, "the record still names its attempt")

			// The same event again (SQS delivers at least once) changes
			// nothing.
			again, err := f.Settle(ctx, e)
			require.NoError(t, err)
			if tt.want.outcome != OtherAttempt {
				require.Equal(t, Already, again.Outcome)
			}
			require.Equal(t, got, again.Now)
		})
	}
}

func testSettleSequences(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second, ResolveAfter: 30 * time.Minute})
	setups := settleSetups(ctx, t, f, clk)
	event := func(u, attempt string, v Verdict, fact Fact) Event {
		return Event{Campaign: camp, User: u, Attempt: attempt, Verdict: v, MessageID: eventID, Fact: fact, Reason: "Reject"}
	}
	type step struct {
		e    func(u, attempt string) Event
		want SettleOutcome
		fact Fact
		st   State
	}
	send := func(u, a string) Event { return event(u, a, VerdictSent, FactNone) }
	delivery := func(u, a string) Event { return event(u, a, VerdictSent, FactDelivered) }
	bounce := func(u, a string) Event { return event(u, a, VerdictSent, FactBounced) }
	complaint := func(u, a string) Event { return event(u, a, VerdictSent, FactComplained) }
	failure := func(u, a string) Event { return event(u, a, VerdictFailed, FactNone) }
	tests := []struct {
		name  string
		state string
		steps []step
	}{
		{"duplicate send", "sending", []step{{send, Settled, "", Sent}, {send, Already, "", Sent}}},
		{"delivery before send, facts only grow", "ambiguous", []step{
			{delivery, Settled, FactDelivered, Sent}, {send, Already, FactDelivered, Sent},
			{bounce, FactAdded, FactBounced, Sent}, {delivery, Already, FactBounced, Sent},
			{complaint, FactAdded, FactComplained, Sent}, {bounce, Already, FactComplained, Sent},
		}},
		{"rendering failure before send", "sending", []step{
			{failure, Settled, "", Failed}, {send, Already, "", Failed}, {delivery, Already, "", Failed},
		}},
		{"rendering failure after the sender's sent", "sent", []step{
			{send, Already, "", Sent}, {failure, Settled, "", Failed}, {failure, Already, "", Failed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := "u-" + tt.name
			a := setups[tt.state](u)
			for i, s := range tt.steps {
				got, err := f.Settle(ctx, s.e(u, a))
				require.NoError(t, err)
				require.Equal(t, s.want, got.Outcome, "step %d", i)
				require.Equal(t, s.st, got.Now.State, "step %d", i)
				require.Equal(t, s.fact, got.Now.Fact, "step %d", i)
			}
		})
	}

	// The resend of a resolved attempt whose claim was abandoned before it
	// armed (its sender died) is still a resolved resend for the next
	// owner, and for a resent claim of the same token.
	t.Run("resolved claim abandoned before arming", func(t *testing.T) {
		u := "u-resolved-abandoned"
		setups["ambiguous"](u)
		clk.Add(31 * time.Minute)
		c, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.True(t, c.Resolved)
		again, err := f.ClaimBatchWith(ctx, []Item{{Campaign: camp, User: u}}, []string{c.Token})
		require.NoError(t, err)
		require.True(t, again[0].Resolved, "the same claim resent")
		clk.Add(time.Minute) // its lease is over
		next, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Won, next.Outcome)
		require.True(t, next.Resolved)
		// Armed, then released (SES throttled it: surely not sent): the
		// next claim is still the resolved resend.
		require.NoError(t, f.Arm(ctx, camp, u, next.Token))
		require.NoError(t, f.Release(ctx, camp, u, next.Token))
		third, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Won, third.Outcome)
		require.True(t, third.Resolved)
		require.NoError(t, f.Arm(ctx, camp, u, third.Token))
		require.NoError(t, f.MarkSent(ctx, camp, u, third.Token, sesID))
		done, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Done, done.Outcome)
	})

	// The event of an ambiguous attempt comes after --resolve-after, when
	// the resend's claim exists but has not armed: the event wins and the
	// resend cannot arm (it would have been a duplicate). Once the resend
	// armed, the late event is another attempt's and changes nothing.
	t.Run("late event over the resend's claim", func(t *testing.T) {
		for _, armed := range []bool{false, true} {
			u := fmt.Sprintf("u-late-%v", armed)
			first := setups["ambiguous"](u)
			clk.Add(31 * time.Minute)
			c, err := f.Claim(ctx, camp, u)
			require.NoError(t, err)
			require.True(t, c.Resolved)
			if armed {
				require.NoError(t, f.Arm(ctx, camp, u, c.Token))
			}
			got, err := f.Settle(ctx, send(u, first))
			require.NoError(t, err)
			if armed {
				require.Equal(t, OtherAttempt, got.Outcome)
				require.NoError(t, f.MarkSent(ctx, camp, u, c.Token, sesID))
				continue
			}
			require.Equal(t, Settled, got.Outcome)
			require.Equal(t, Sent, got.Now.State)
			require.Equal(t, first, got.Now.Attempt)
			require.True(t, got.Now.ByEvent)
			require.ErrorIs(t, f.Arm(ctx, camp, u, c.Token), ErrNotOwner, "the resend must not arm")
			again, err := f.Settle(ctx, send(u, first))
			require.NoError(t, err)
			require.Equal(t, Already, again.Outcome)
		}
	})

	t.Run("event before the sender's own mark", func(t *testing.T) {
		for _, mark := range []struct {
			name string
			do   func(u, tok string) error
			want error
		}{
			{"sent, same id", func(u, tok string) error { return f.MarkSent(ctx, camp, u, tok, eventID) }, nil},
			{"sent, its own id", func(u, tok string) error { return f.MarkSent(ctx, camp, u, tok, sesID) }, nil},
			{"ambiguous", func(u, tok string) error { return f.MarkAmbiguous(ctx, camp, u, tok, "timeout") }, ErrNotOwner},
			{"resendable", func(u, tok string) error { return f.MarkResendable(ctx, camp, u, tok, "timeout") }, ErrNotOwner},
			{"release", func(u, tok string) error { return f.Release(ctx, camp, u, tok) }, ErrNotOwner},
			{"failed", func(u, tok string) error { return f.MarkFailed(ctx, camp, u, tok, "x") }, ErrNotOwner},
		} {
			u := "u-early-" + mark.name
			tok := setups["sending"](u)
			s, err := f.Settle(ctx, send(u, tok))
			require.NoError(t, err)
			require.Equal(t, Settled, s.Outcome)
			err = mark.do(u, tok)
			if mark.want == nil {
				require.NoError(t, err, mark.name)
			} else {
				require.ErrorIs(t, err, mark.want, mark.name)
			}
			r := mustGetUser(t, f, u)
			require.Equal(t, s.Now, r, "%s: the event's record stands", mark.name)
			require.True(t, r.ByEvent)
		}
	})

	t.Run("silence past the window, then a late event", func(t *testing.T) {
		u := "u-silent"
		old := setups["ambiguous"](u)
		c, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Unsettled, c.Outcome)
		clk.Add(30 * time.Minute)
		c, err = f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Won, c.Outcome)
		require.True(t, c.Resolved)
		require.Equal(t, old, c.Record.Attempt)
		require.NoError(t, f.Arm(ctx, camp, u, c.Token))
		// The old attempt's late Send after the resend armed: another
		// attempt owns the record and may be on the wire; the caller
		// counts a real duplicate if both were sent. (Before it armed,
		// the event wins: "late event over the resend's claim".)
		s, err := f.Settle(ctx, send(u, old))
		require.NoError(t, err)
		require.Equal(t, OtherAttempt, s.Outcome)
		require.Equal(t, c.Token, s.Now.Attempt)
		require.Equal(t, Sending, s.Now.State)
	})

	t.Run("held, then settled, then done", func(t *testing.T) {
		u := "u-held"
		a := setups["held"](u)
		s, err := f.Settle(ctx, delivery(u, a))
		require.NoError(t, err)
		require.Equal(t, Settled, s.Outcome)
		require.Equal(t, Ambiguous, s.Prev.State)
		require.Equal(t, eventID, s.Now.MessageID)
		c, err := f.Claim(ctx, camp, u)
		require.NoError(t, err)
		require.Equal(t, Done, c.Outcome)
	})

	t.Run("an event naming no attempt never matches a restored record", func(t *testing.T) {
		u := "u-restored"
		ok, err := f.Restore(ctx, camp, u, Record{State: Ambiguous, Reason: "restored"})
		require.NoError(t, err)
		require.True(t, ok)
		s, err := f.Settle(ctx, send(u, ""))
		require.NoError(t, err)
		require.Equal(t, OtherAttempt, s.Outcome)
		require.Equal(t, Ambiguous, mustGetUser(t, f, u).State)
	})

	t.Run("bad input", func(t *testing.T) {
		_, err := f.Settle(ctx, Event{Campaign: camp, Attempt: "a", Verdict: VerdictSent})
		require.ErrorIs(t, err, ErrKey)
		_, err = f.Settle(ctx, Event{Campaign: camp, User: user, Attempt: "a"})
		require.Error(t, err)
		_, err = f.Settle(ctx, Event{Campaign: camp, User: user, Attempt: "a", Verdict: VerdictSent, Fact: "opened"})
		require.Error(t, err)
	})
}
