package fence

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// suite is the behaviour every backend must show; it runs on miniredis
// (fast, always) and on the real Redis (integration, skipped by -short).
var suite = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"ClaimAbsent", testClaimAbsent},
	{"ConcurrentClaimsOneWinner", testConcurrentClaims},
	{"LiveLeaseIsBusy", testLiveLeaseBusy},
	{"ExpiredClaimIsReclaimable", testExpiredClaim},
	{"ExpiredSendingHold", testExpiredSendingHold},
	{"ExpiredSendingResend", testExpiredSendingResend},
	{"DoneForEachTerminalState", testDoneForTerminal},
	{"StaleOwner", testStaleOwner},
	{"RepeatsAreIdempotent", testRepeats},
	{"Reopen", testReopen},
	{"Restore", testRestore},
	{"TTLs", testTTLs},
	{"EmptyKey", testEmptyKey},
	{"Resendable", testResendable},
	{"SentWins", testSentWins},
	{"LeasesOnRedisClock", testLeasesOnRedisClock},
	{"SameTokenClaim", testSameTokenClaim},
}

func TestFence(t *testing.T) {
	for _, b := range []backend{miniBackend, realBackend} {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range suite {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
			}
		})
	}
}

const (
	camp = "2026-11"
	user = "u-42"
)

func mustClaim(t *testing.T, f *Fence, want Outcome) Claim {
	t.Helper()
	c, err := f.Claim(context.Background(), camp, user)
	require.NoError(t, err)
	require.Equal(t, want, c.Outcome, "claim outcome (record %+v)", c.Record)
	return c
}

func mustGet(t *testing.T, f *Fence) Record {
	t.Helper()
	r, ok, err := f.Get(context.Background(), camp, user)
	require.NoError(t, err)
	require.True(t, ok, "key must exist")
	return r
}

func testClaimAbsent(t *testing.T, b backend) {
	f, clk, _ := newFence(t, b, Config{})
	_, ok, err := f.Get(context.Background(), camp, user)
	require.NoError(t, err)
	require.False(t, ok)

	c := mustClaim(t, f, Won)
	require.Len(t, c.Token, 11)
	require.Regexp(t, `^[A-Za-z0-9_-]{11}$`, c.Token, "an attempt id must be a valid SES tag value")
	require.False(t, c.Reclaimed)
	require.Equal(t, Record{}, c.Record)

	r := mustGet(t, f)
	require.Equal(t, Claimed, r.State)
	require.Equal(t, c.Token, r.Owner)
	require.True(t, r.Deadline.Equal(clk.Now().Add(time.Minute)), "deadline %s", r.Deadline)

	// A new claim gets a new token.
	f2, _, _ := newFence(t, b, Config{})
	c2, err := f2.Claim(context.Background(), camp, user)
	require.NoError(t, err)
	require.NotEqual(t, c.Token, c2.Token)
}

func testConcurrentClaims(t *testing.T, b backend) {
	f, _, _ := newFence(t, b, Config{})
	const n = 50
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		outcomes = make([]Outcome, n)
		errs     = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := f.Claim(context.Background(), camp, user)
			outcomes[i], errs[i] = c.Outcome, err
		})
	}
	close(start)
	wg.Wait()
	count := map[Outcome]int{}
	for i := range n {
		require.NoError(t, errs[i])
		count[outcomes[i]]++
	}
	require.Equal(t, map[Outcome]int{Won: 1, Busy: n - 1}, count)
}

func testLiveLeaseBusy(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second})
	a := mustClaim(t, f, Won)

	clk.Add(9 * time.Second)
	busy := mustClaim(t, f, Busy)
	require.Equal(t, Claimed, busy.Record.State)
	require.Equal(t, a.Token, busy.Record.Owner)
	require.Empty(t, busy.Token)

	// Arm renews the lease from now.
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	clk.Add(9 * time.Second)
	busy = mustClaim(t, f, Busy)
	require.Equal(t, Sending, busy.Record.State)
	require.Equal(t, a.Token, busy.Record.Owner)

	// The owner can still finish after its lease ran out if nobody took
	// over.
	clk.Add(time.Hour)
	require.NoError(t, f.MarkSent(ctx, camp, user, a.Token, sesID))
	require.Equal(t, Sent, mustGet(t, f).State)
}

func testExpiredClaim(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second, OnAbandoned: Hold})
	a := mustClaim(t, f, Won)

	clk.Add(10 * time.Second) // the deadline itself is expired
	c := mustClaim(t, f, Won)
	require.False(t, c.Reclaimed, "a claimed key never had its request written: no ambiguity")
	require.Equal(t, Claimed, c.Record.State)
	require.Equal(t, a.Token, c.Record.Owner)
	require.NotEqual(t, a.Token, c.Token)

	// The former owner can no longer arm: it must not send.
	require.ErrorIs(t, f.Arm(ctx, camp, user, a.Token), ErrNotOwner)
	require.NoError(t, f.Arm(ctx, camp, user, c.Token))
	r := mustGet(t, f)
	require.Equal(t, Sending, r.State)
	require.Equal(t, c.Token, r.Owner)
}

func testExpiredSendingHold(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, rdb := newFence(t, b, Config{Lease: 10 * time.Second, Retention: time.Hour, OnAbandoned: Hold})
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))

	clk.Add(11 * time.Second)
	h := mustClaim(t, f, Held)
	require.Empty(t, h.Token)
	require.Equal(t, Sending, h.Record.State)
	require.Equal(t, a.Token, h.Record.Owner)

	r := mustGet(t, f)
	require.Equal(t, Ambiguous, r.State)
	require.True(t, r.At.Equal(clk.Now()))
	require.Equal(t, "lease expired while sending", r.Reason)
	requireTTL(t, rdb, f.Key(camp, user), time.Hour)

	// Ambiguous is terminal: later claims skip.
	d := mustClaim(t, f, Done)
	require.Equal(t, Ambiguous, d.Record.State)
	// The former owner cannot overwrite it.
	require.ErrorIs(t, f.MarkSent(ctx, camp, user, a.Token, sesID), ErrNotOwner)
	require.ErrorIs(t, f.Release(ctx, camp, user, a.Token), ErrNotOwner)
	require.Equal(t, Ambiguous, mustGet(t, f).State)
}

func testExpiredSendingResend(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, rdb := newFence(t, b, Config{Lease: 10 * time.Second, OnAbandoned: Resend})
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))

	clk.Add(11 * time.Second)
	c := mustClaim(t, f, Won)
	require.True(t, c.Reclaimed)
	require.Equal(t, Sending, c.Record.State)
	require.Equal(t, a.Token, c.Record.Owner)
	r := mustGet(t, f)
	require.Equal(t, Claimed, r.State)
	require.Equal(t, c.Token, r.Owner)
	requireTTL(t, rdb, f.Key(camp, user), DefaultRetention) // every write renews the bucket

	require.ErrorIs(t, f.MarkFailed(ctx, camp, user, a.Token, "x"), ErrNotOwner)
	require.NoError(t, f.Arm(ctx, camp, user, c.Token))
	require.NoError(t, f.MarkSent(ctx, camp, user, c.Token, "ses-c"))
	require.Equal(t, "ses-c", mustGet(t, f).MessageID)

	// The resend's own lease expiring while sending is held, whatever the
	// policy: a user is resent at most once.
	u2 := "u-twice"
	first := mustClaimUser(t, f, u2)
	require.NoError(t, f.Arm(ctx, camp, u2, first.Token))
	clk.Add(11 * time.Second)
	second, err := f.Claim(ctx, camp, u2)
	require.NoError(t, err)
	require.Equal(t, Won, second.Outcome)
	require.True(t, second.Reclaimed)
	require.True(t, mustGetUser(t, f, u2).Resend, "the resend is marked in the key")
	require.NoError(t, f.Arm(ctx, camp, u2, second.Token))
	require.True(t, mustGetUser(t, f, u2).Resend, "arming keeps the mark")
	clk.Add(11 * time.Second)
	third, err := f.Claim(ctx, camp, u2)
	require.NoError(t, err)
	require.Equal(t, Held, third.Outcome, "the one resend was used")
	require.Equal(t, Ambiguous, mustGetUser(t, f, u2).State)
}

func mustGetUser(t *testing.T, f *Fence, u string) Record {
	t.Helper()
	r, ok, err := f.Get(context.Background(), camp, u)
	require.NoError(t, err)
	require.True(t, ok, "key of %s must exist", u)
	return r
}

// testResendable: an ambiguous SES answer under --on-ambiguous resend
// releases the key for one resend; the resend's own ambiguous answer is
// refused (ErrResendSpent) and must be held.
func testResendable(t *testing.T, b backend) {
	ctx := context.Background()
	f, _, rdb := newFence(t, b, Config{Lease: 10 * time.Second, Retention: time.Hour, OnAbandoned: Resend})
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	require.NoError(t, f.MarkResendable(ctx, camp, user, a.Token, "ses 503"))
	r := mustGet(t, f)
	require.Equal(t, Resendable, r.State)
	require.Equal(t, "ses 503", r.Reason)
	require.False(t, r.State.Terminal())
	requireTTL(t, rdb, f.Key(camp, user), time.Hour)

	c := mustClaim(t, f, Won)
	require.True(t, c.Reclaimed)
	require.Equal(t, Resendable, c.Record.State)
	require.NoError(t, f.Arm(ctx, camp, user, c.Token))
	require.ErrorIs(t, f.MarkResendable(ctx, camp, user, c.Token, "ses 503 again"), ErrResendSpent)
	require.Equal(t, Sending, mustGet(t, f).State, "a refused resendable mark changes nothing")
	require.NoError(t, f.MarkAmbiguous(ctx, camp, user, c.Token, "ses 503 again"))
	mustClaim(t, f, Done)

	// A claim resent after a lost reply keeps saying reclaimed.
	u := "u-lost-reply"
	x := mustClaimUser(t, f, u)
	require.NoError(t, f.Arm(ctx, camp, u, x.Token))
	require.NoError(t, f.MarkResendable(ctx, camp, u, x.Token, "503"))
	y, err := f.Claim(ctx, camp, u)
	require.NoError(t, err)
	require.True(t, y.Reclaimed)
}

// testSentWins: the sent mark of an owner that lost its key still records
// sent, unless another owner already settled the key.
func testSentWins(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, rdb := newFence(t, b, Config{Lease: 10 * time.Second, Retention: time.Hour})

	// A failover lost the key while the request was on the wire.
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	require.NoError(t, rdb.Del(ctx, f.Key(camp, user)).Err())
	require.ErrorIs(t, f.MarkSent(ctx, camp, user, a.Token, sesID), ErrSentOverLostClaim)
	r := mustGet(t, f)
	require.Equal(t, Sent, r.State)
	require.Equal(t, sesID, r.MessageID)
	requireTTL(t, rdb, f.Key(camp, user), time.Hour)
	mustClaim(t, f, Done)

	// Another sender claimed the lost key: sent wins, and that claim can no
	// longer arm (it must not send).
	u := "u-taken"
	old := mustClaimUser(t, f, u)
	require.NoError(t, f.Arm(ctx, camp, u, old.Token))
	require.NoError(t, rdb.Del(ctx, f.Key(camp, u)).Err())
	taker := mustClaimUser(t, f, u)
	require.ErrorIs(t, f.MarkSent(ctx, camp, u, old.Token, sesID), ErrSentOverLostClaim)
	require.ErrorIs(t, f.Arm(ctx, camp, u, taker.Token), ErrNotOwner)
	require.Equal(t, Sent, mustGetUser(t, f, u).State)

	// Another owner already recorded a terminal state: that stands.
	u = "u-settled"
	old = mustClaimUser(t, f, u)
	clk.Add(10 * time.Second)
	cur := mustClaimUser(t, f, u)
	require.NoError(t, f.MarkFailed(ctx, camp, u, cur.Token, "rejected"))
	require.ErrorIs(t, f.MarkSent(ctx, camp, u, old.Token, sesID), ErrNotOwner)
	require.Equal(t, Failed, mustGetUser(t, f, u).State)
}

func testDoneForTerminal(t *testing.T, b backend) {
	ctx := context.Background()
	tests := []struct {
		state  State
		mark   func(f *Fence, token string) error
		reason string
		msgID  string
	}{
		{Sent, func(f *Fence, tok string) error { return f.MarkSent(ctx, camp, user, tok, sesID) }, "", sesID},
		{Failed, func(f *Fence, tok string) error { return f.MarkFailed(ctx, camp, user, tok, "rejected") }, "rejected", ""},
		{Ambiguous, func(f *Fence, tok string) error { return f.MarkAmbiguous(ctx, camp, user, tok, "ses 503") }, "ses 503", ""},
		{DeadLettered, func(f *Fence, tok string) error { return f.MarkDeadLettered(ctx, camp, user, tok, "max attempts") }, "max attempts", ""},
		{Expired, func(f *Fence, tok string) error { return f.MarkExpired(ctx, camp, user, tok) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			f, clk, rdb := newFence(t, b, Config{Lease: 10 * time.Second, Retention: 48 * time.Hour})
			a := mustClaim(t, f, Won)
			require.NoError(t, f.Arm(ctx, camp, user, a.Token))
			clk.Add(time.Second)
			require.NoError(t, tt.mark(f, a.Token))
			at := clk.Now()

			clk.Add(24 * time.Hour) // long after every lease
			d := mustClaim(t, f, Done)
			require.Equal(t, tt.state, d.Record.State)
			require.True(t, d.Record.At.Equal(at), "at %s, want %s", d.Record.At, at)
			require.Equal(t, tt.reason, d.Record.Reason)
			require.Equal(t, tt.msgID, d.Record.MessageID)
			require.Empty(t, d.Record.Owner)
			require.Empty(t, d.Token)
			requireTTL(t, rdb, f.Key(camp, user), 48*time.Hour)
		})
	}
}

func testStaleOwner(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second})
	stale := mustClaim(t, f, Won)
	clk.Add(10 * time.Second)
	cur := mustClaim(t, f, Won)

	for name, err := range map[string]error{
		"arm":       f.Arm(ctx, camp, user, stale.Token),
		"release":   f.Release(ctx, camp, user, stale.Token),
		"failed":    f.MarkFailed(ctx, camp, user, stale.Token, "x"),
		"dead":      f.MarkDeadLettered(ctx, camp, user, stale.Token, "x"),
		"expired":   f.MarkExpired(ctx, camp, user, stale.Token),
		"ambiguous": f.MarkAmbiguous(ctx, camp, user, stale.Token, "x"),
		"resend":    f.MarkResendable(ctx, camp, user, stale.Token, "x"),
		"garbage":   f.MarkFailed(ctx, camp, user, "not-a-token", "x"),
	} {
		require.ErrorIs(t, err, ErrNotOwner, name)
	}
	r := mustGet(t, f)
	require.Equal(t, Claimed, r.State)
	require.Equal(t, cur.Token, r.Owner, "the current owner is untouched")

	// Once settled, nobody owns it any more; release never deletes it.
	require.NoError(t, f.MarkSent(ctx, camp, user, cur.Token, sesID))
	require.ErrorIs(t, f.Release(ctx, camp, user, cur.Token), ErrNotOwner)
	require.ErrorIs(t, f.MarkFailed(ctx, camp, user, cur.Token, "x"), ErrNotOwner)
	require.ErrorIs(t, f.MarkSent(ctx, camp, user, stale.Token, "ses-other"), ErrNotOwner)
	require.Equal(t, Sent, mustGet(t, f).State)

	// Marking a key nobody claimed is not allowed either (sent aside: see
	// testSentWins).
	require.ErrorIs(t, f.MarkFailed(ctx, "other", user, cur.Token, "x"), ErrNotOwner)
}

func testRepeats(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, _ := newFence(t, b, Config{})
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	require.NoError(t, f.Arm(ctx, camp, user, a.Token), "arming twice renews")
	require.NoError(t, f.MarkSent(ctx, camp, user, a.Token, sesID))
	clk.Add(time.Second)
	require.NoError(t, f.MarkSent(ctx, camp, user, a.Token, sesID), "the same mark resent after a lost reply")
	require.ErrorIs(t, f.MarkSent(ctx, camp, user, a.Token, "ses-different"), ErrNotOwner)
	require.ErrorIs(t, f.MarkFailed(ctx, camp, user, a.Token, ""), ErrNotOwner)

	// Release, then release again: the second finds nothing to release.
	r := mustClaimUser(t, f, "u-release")
	require.NoError(t, f.Release(ctx, camp, "u-release", r.Token))
	_, ok, err := f.Get(ctx, camp, "u-release")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, f.Release(ctx, camp, "u-release", r.Token))
	mustClaimUser(t, f, "u-release")
}

func mustClaimUser(t *testing.T, f *Fence, u string) Claim {
	t.Helper()
	c, err := f.Claim(context.Background(), camp, u)
	require.NoError(t, err)
	require.Equal(t, Won, c.Outcome)
	return c
}

func testReopen(t *testing.T, b backend) {
	ctx := context.Background()
	tests := []struct {
		name   string
		setup  func(f *Fence, u string)
		reopen bool
	}{
		{"failed", func(f *Fence, u string) {
			require.NoError(t, f.MarkFailed(ctx, camp, u, mustClaimUser(t, f, u).Token, "x"))
		}, true},
		{"dead_lettered", func(f *Fence, u string) {
			require.NoError(t, f.MarkDeadLettered(ctx, camp, u, mustClaimUser(t, f, u).Token, "x"))
		}, true},
		{"sent", func(f *Fence, u string) {
			require.NoError(t, f.MarkSent(ctx, camp, u, mustClaimUser(t, f, u).Token, sesID))
		}, false},
		{"ambiguous", func(f *Fence, u string) {
			require.NoError(t, f.MarkAmbiguous(ctx, camp, u, mustClaimUser(t, f, u).Token, "x"))
		}, false},
		{"expired", func(f *Fence, u string) {
			require.NoError(t, f.MarkExpired(ctx, camp, u, mustClaimUser(t, f, u).Token))
		}, false},
		{"claimed", func(f *Fence, u string) { mustClaimUser(t, f, u) }, false},
		{"sending", func(f *Fence, u string) {
			require.NoError(t, f.Arm(ctx, camp, u, mustClaimUser(t, f, u).Token))
		}, false},
		{"absent", func(*Fence, string) {}, false},
	}
	f, _, _ := newFence(t, b, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := "u-" + tt.name
			tt.setup(f, u)
			before, existed, err := f.Get(ctx, camp, u)
			require.NoError(t, err)

			ok, err := f.Reopen(ctx, camp, u)
			require.NoError(t, err)
			require.Equal(t, tt.reopen, ok)

			after, exists, err := f.Get(ctx, camp, u)
			require.NoError(t, err)
			if tt.reopen {
				require.False(t, exists)
				mustClaimUser(t, f, u) // the redriven job can be sent
				return
			}
			require.Equal(t, existed, exists)
			require.Equal(t, before, after)
		})
	}
}

func testRestore(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, rdb := newFence(t, b, Config{Retention: 72 * time.Hour})
	at := clk.Now().Add(-time.Hour)
	rec := Record{State: Sent, At: at, MessageID: sesID}

	ok, err := f.Restore(ctx, camp, user, rec)
	require.NoError(t, err)
	require.True(t, ok)
	got := mustGet(t, f)
	require.True(t, got.At.Equal(at))
	got.At = rec.At
	require.Equal(t, rec, got)
	requireTTL(t, rdb, f.Key(camp, user), 72*time.Hour)
	mustClaim(t, f, Done)

	// Present: never overwritten, whatever is there.
	ok, err = f.Restore(ctx, camp, user, Record{State: Failed, At: at, Reason: "x"})
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, Sent, mustGet(t, f).State)

	c := mustClaimUser(t, f, "u-inflight")
	ok, err = f.Restore(ctx, camp, "u-inflight", Record{State: Sent, At: at, MessageID: "m"})
	require.NoError(t, err)
	require.False(t, ok)
	r, _, err := f.Get(ctx, camp, "u-inflight")
	require.NoError(t, err)
	require.Equal(t, c.Token, r.Owner)

	// Only terminal records can be restored.
	_, err = f.Restore(ctx, camp, "u-x", Record{State: Claimed, At: at})
	require.Error(t, err)

	// A zero time becomes now.
	ok, err = f.Restore(ctx, camp, "u-zero", Record{State: Expired})
	require.NoError(t, err)
	require.True(t, ok)
	r, _, err = f.Get(ctx, camp, "u-zero")
	require.NoError(t, err)
	require.True(t, r.At.Equal(clk.Now()))
}

func testTTLs(t *testing.T, b backend) {
	ctx := context.Background()
	f, _, rdb := newFence(t, b, Config{Lease: 30 * time.Second, Retention: 62 * 24 * time.Hour})
	key := f.Key(camp, user)
	a := mustClaim(t, f, Won)
	requireTTL(t, rdb, key, 62*24*time.Hour) // claimed: the bucket lives the retention after each write
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	requireTTL(t, rdb, key, 62*24*time.Hour) // sending: must outlive its discovery
	require.NoError(t, f.MarkSent(ctx, camp, user, a.Token, sesID))
	requireTTL(t, rdb, key, 62*24*time.Hour) // sent: retention
}

func testEmptyKey(t *testing.T, b backend) {
	ctx := context.Background()
	f, _, _ := newFence(t, b, Config{})
	_, err := f.Claim(ctx, "", user)
	require.ErrorIs(t, err, ErrKey)
	_, _, err = f.Get(ctx, camp, "")
	require.ErrorIs(t, err, ErrKey)
	require.ErrorIs(t, f.MarkSent(ctx, "", "", "t", "m"), ErrKey)
	_, err = f.Reopen(ctx, "", user)
	require.ErrorIs(t, err, ErrKey)
	_, err = f.Restore(ctx, camp, "", Record{State: Sent})
	require.ErrorIs(t, err, ErrKey)
}

// requireTTL checks the key's TTL is want, give or take the test's own
// duration.
func requireTTL(t *testing.T, rdb redis.UniversalClient, key string, want time.Duration) {
	t.Helper()
	got, err := rdb.PTTL(context.Background(), key).Result()
	require.NoError(t, err)
	require.InDelta(t, want.Seconds(), got.Seconds(), 5, "TTL of %s", key)
}

// testLeasesOnRedisClock: without an injected clock the lease deadline is
// Redis's TIME plus the lease.
func testLeasesOnRedisClock(t *testing.T, b backend) {
	ctx := context.Background()
	rdb, prefix := b.client(t)
	f, err := New(rdb, Config{Prefix: prefix, Lease: time.Minute}, nil)
	require.NoError(t, err)
	before, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	c := mustClaim(t, f, Won)
	r := mustGet(t, f)
	require.WithinDuration(t, before.Add(time.Minute), r.Deadline, 2*time.Second)
	require.NoError(t, f.Arm(ctx, camp, user, c.Token))
	require.WithinDuration(t, before.Add(time.Minute), mustGet(t, f).Deadline, 2*time.Second)
}

// A sender's clock never decides a lease: with Redis's clock far from the
// local one, deadlines follow Redis, and a claim is busy or free by Redis's
// time alone.
func TestLeaseUsesRedisTimeNotLocalClock(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	redisNow := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	mr.SetTime(redisNow)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{Lease: 10 * time.Second}, nil)
	require.NoError(t, err)

	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	r := mustGet(t, f)
	require.True(t, r.Deadline.Equal(redisNow.Add(10*time.Second)), "deadline %s", r.Deadline)

	// By the local clock (2026) the lease is long over; by Redis's it is not.
	mustClaim(t, f, Busy)
	mr.SetTime(redisNow.Add(11 * time.Second))
	mustClaim(t, f, Held)
}

// testSameTokenClaim: a claim resent by the client after its reply was lost
// finds the key its own (Won), not Busy; any other token is Busy.
func testSameTokenClaim(t *testing.T, b backend) {
	ctx := context.Background()
	f, _, _ := newFence(t, b, Config{})
	items := []Item{{Campaign: camp, User: user}}
	first, err := f.ClaimBatchWith(ctx, items, []string{"token-aaaaaaaaaa"})
	require.NoError(t, err)
	require.Equal(t, Won, first[0].Outcome)
	again, err := f.ClaimBatchWith(ctx, items, []string{"token-aaaaaaaaaa"})
	require.NoError(t, err)
	require.Equal(t, Won, again[0].Outcome, "the same claim, resent")
	require.Equal(t, "token-aaaaaaaaaa", again[0].Token)
	other, err := f.ClaimBatchWith(ctx, items, []string{"token-bbbbbbbbbb"})
	require.NoError(t, err)
	require.Equal(t, Busy, other[0].Outcome)
	require.NoError(t, f.Arm(ctx, camp, user, "token-aaaaaaaaaa"))
}
