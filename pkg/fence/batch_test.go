package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// scriptCalls counts the script round trips a client makes (EVALSHA, or
// EVAL after NOSCRIPT: one round trip each that is answered).
type scriptCalls struct{ n atomic.Int64 }

func (*scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if n := cmd.Name(); (n == "evalsha" || n == "eval") && (err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT")) {
			c.n.Add(1)
		}
		return err
	}
}
func (*scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func countCalls(t *testing.T, rdb redis.UniversalClient) *scriptCalls {
	c := &scriptCalls{}
	h, ok := rdb.(interface{ AddHook(redis.Hook) })
	require.True(t, ok)
	h.AddHook(c)
	return c
}

func TestBatch(t *testing.T) {
	for _, b := range []backend{miniBackend, realBackend} {
		t.Run(b.name, func(t *testing.T) {
			t.Run("ClaimVerdicts", func(t *testing.T) { testClaimBatchVerdicts(t, b) })
			t.Run("ArmAndMarkNotOwnerInTheMiddle", func(t *testing.T) { testArmMarkBatch(t, b) })
			t.Run("SlotGroups", func(t *testing.T) { testSlotGroups(t, b) })
		})
	}
}

// testClaimBatchVerdicts: one batch, one user per verdict; then the same
// call resent after a lost reply (same tokens).
func testClaimBatchVerdicts(t *testing.T, b backend) {
	for _, resolveAfter := range []time.Duration{0, 10 * time.Minute} {
		t.Run(fmt.Sprint("resolve-after=", resolveAfter), func(t *testing.T) {
			ctx := context.Background()
			f, clk, _ := newFence(t, b, Config{Lease: 10 * time.Second, ResolveAfter: resolveAfter, Shards: 1, Buckets: 4})
			claim := func(u string) Claim { return mustClaimUser(t, f, u) }
			ambiguousAt := clk.Now()
			r := claim("resolved")
			require.NoError(t, f.Arm(ctx, camp, "resolved", r.Token))
			require.NoError(t, f.MarkAmbiguous(ctx, camp, "resolved", r.Token, "ses 503"))
			clk.Add(11 * time.Minute)
			h := claim("held")
			require.NoError(t, f.Arm(ctx, camp, "held", h.Token))
			d := claim("done")
			require.NoError(t, f.Arm(ctx, camp, "done", d.Token))
			require.NoError(t, f.MarkSent(ctx, camp, "done", d.Token, sesID))
			clk.Add(11 * time.Second)
			busy := claim("busy")
			u := claim("unsettled")
			require.NoError(t, f.Arm(ctx, camp, "unsettled", u.Token))
			require.NoError(t, f.MarkAmbiguous(ctx, camp, "unsettled", u.Token, "timeout"))

			type want struct {
				user     string
				outcome  Outcome
				resolved bool
				prev     State
				attempt  string // of the previous record
			}
			wants := []want{
				{"new", Won, false, "", ""},
				{"done", Done, false, Sent, d.Token},
				{"busy", Busy, false, Claimed, busy.Token},
				{"held", Held, false, Sending, h.Token},
				{"unsettled", Unsettled, false, Ambiguous, u.Token},
				{"resolved", Won, true, Ambiguous, r.Token},
				{"", 0, false, "", ""}, // ErrKey, for this item only
			}
			if resolveAfter == 0 { // ambiguous is final
				wants[4].outcome = Done
				wants[5].outcome, wants[5].resolved = Done, false
			}
			items := make([]Item, len(wants))
			tokens := make([]string, len(wants))
			for i, w := range wants {
				items[i] = Item{Campaign: camp, User: w.user}
				tokens[i] = fmt.Sprintf("tok-%d", i)
			}
			claims, err := f.ClaimBatchWith(ctx, items, tokens)
			require.NoError(t, err)
			require.Len(t, claims, len(wants))
			for i, w := range wants {
				c := claims[i]
				if w.user == "" {
					require.ErrorIs(t, c.Err, ErrKey)
					continue
				}
				require.NoError(t, c.Err, w.user)
				require.Equal(t, w.outcome, c.Outcome, w.user)
				require.Equal(t, w.resolved, c.Resolved, w.user)
				require.Equal(t, w.prev, c.Record.State, w.user)
				require.Equal(t, w.attempt, c.Record.Attempt, w.user)
				if w.outcome == Won {
					require.Equal(t, tokens[i], c.Token, w.user)
				} else {
					require.Empty(t, c.Token, w.user)
				}
			}
			if resolveAfter > 0 {
				require.True(t, claims[5].Record.At.Equal(ambiguousAt), "the window counts from the ambiguous record's time")
			}
			// The held record keeps the abandoned attempt: its SES events
			// can still settle it.
			held := mustGetUser(t, f, "held")
			require.Equal(t, Ambiguous, held.State)
			require.Equal(t, h.Token, held.Attempt)

			// The same call resent after a lost reply: every claim it won is
			// still its own, nothing else changes.
			again, err := f.ClaimBatchWith(ctx, items, tokens)
			require.NoError(t, err)
			for i, w := range wants {
				switch {
				case w.user == "":
					require.ErrorIs(t, again[i].Err, ErrKey)
				case w.outcome == Won:
					require.Equal(t, Won, again[i].Outcome, w.user)
					require.Equal(t, tokens[i], again[i].Token, w.user)
				case w.user == "held" && resolveAfter > 0:
					require.Equal(t, Unsettled, again[i].Outcome, "held is now an unsettled ambiguous record")
				case w.user == "held":
					require.Equal(t, Done, again[i].Outcome)
				default:
					require.Equal(t, w.outcome, again[i].Outcome, w.user)
				}
			}
		})
	}
}

// testArmMarkBatch: a stale token in the middle of a batch is refused for
// its item only; the batch resent after a lost reply changes nothing.
func testArmMarkBatch(t *testing.T, b backend) {
	ctx := context.Background()
	f, clk, rdb := newFence(t, b, Config{Lease: 10 * time.Second, Retention: time.Hour, Shards: 1, Buckets: 2})
	users := []string{"a", "b", "c", "d", "e"}
	items := make([]Item, len(users))
	for i, u := range users {
		items[i] = Item{Campaign: camp, User: u}
	}
	claims, err := f.ClaimBatch(ctx, items)
	require.NoError(t, err)
	tokens := make([]string, len(items))
	for i, c := range claims {
		require.Equal(t, Won, c.Outcome)
		tokens[i] = c.Token
	}
	// b's lease is taken over before it arms.
	stale := tokens[1]
	clk.Add(11 * time.Second)
	taker := mustClaimUser(t, f, "b")
	for _, i := range []int{0, 2, 3, 4} {
		require.NoError(t, f.Arm(ctx, camp, users[i], tokens[i])) // renew the others' leases
	}

	errs, err := f.ArmBatch(ctx, items, tokens)
	require.NoError(t, err)
	require.Len(t, errs, len(items))
	for i, e := range errs {
		if i == 1 {
			require.ErrorIs(t, e, ErrNotOwner)
		} else {
			require.NoError(t, e, users[i])
		}
	}
	require.Equal(t, taker.Token, mustGetUser(t, f, "b").Owner, "the refused item is untouched")

	// d's record was lost (a failover): sent wins. e is released for its
	// one resend.
	require.NoError(t, rdb.HDel(ctx, f.Key(camp, "d"), "d").Err())
	marks := []Mark{
		{Item: items[0], Token: tokens[0], Op: OpSent, MessageID: sesID},
		{Item: items[1], Token: stale, Op: OpFailed, Reason: "rejected"},
		{Item: items[2], Token: tokens[2], Op: OpAmbiguous, Reason: "ses 503"},
		{Item: items[3], Token: tokens[3], Op: OpSent, MessageID: "ses-d"},
		{Item: items[4], Token: tokens[4], Op: OpResendable, Reason: "ses 503"},
		{Item: Item{Campaign: camp}, Token: "x", Op: OpExpired},
	}
	want := []error{nil, ErrNotOwner, nil, ErrSentOverLostClaim, nil, ErrKey}
	errs, err = f.MarkBatch(ctx, marks)
	require.NoError(t, err)
	for i := range want {
		if want[i] == nil {
			require.NoError(t, errs[i], i)
		} else {
			require.ErrorIs(t, errs[i], want[i], i)
		}
	}
	before := map[string]Record{}
	for _, u := range users {
		before[u] = mustGetUser(t, f, u)
	}
	require.Equal(t, Sent, before["a"].State)
	require.Equal(t, tokens[0], before["a"].Attempt)
	require.Equal(t, Claimed, before["b"].State)
	require.Equal(t, Ambiguous, before["c"].State)
	require.Equal(t, tokens[2], before["c"].Attempt)
	require.Equal(t, "ses-d", before["d"].MessageID)
	require.Equal(t, Resendable, before["e"].State)

	// The reply was lost: the caller resends the whole call.
	clk.Add(time.Second)
	errs, err = f.MarkBatch(ctx, marks)
	require.NoError(t, err)
	want[3] = nil // sent is there now, as this attempt's
	for i := range want {
		if want[i] == nil {
			require.NoError(t, errs[i], i)
		} else {
			require.ErrorIs(t, errs[i], want[i], i)
		}
	}
	for _, u := range users {
		require.Equal(t, before[u], mustGetUser(t, f, u), "a resent mark changes nothing (%s)", u)
	}

	// Marks of another attempt over settled records are refused.
	errs, err = f.MarkBatch(ctx, []Mark{
		{Item: items[0], Token: taker.Token, Op: OpSent, MessageID: sesID},
		{Item: items[2], Token: tokens[0], Op: OpAmbiguous, Reason: "ses 503"},
	})
	require.NoError(t, err)
	require.ErrorIs(t, errs[0], ErrNotOwner)
	require.ErrorIs(t, errs[1], ErrNotOwner)

	// A refused resendable mark of the one resend.
	r := mustClaimUser(t, f, "e")
	require.True(t, r.Reclaimed)
	errs, err = f.MarkBatch(ctx, []Mark{{Item: items[4], Token: r.Token, Op: OpResendable, Reason: "again"}})
	require.NoError(t, err)
	require.ErrorIs(t, errs[0], ErrResendSpent)

	// Mismatched arguments are a call error.
	_, err = f.ArmBatch(ctx, items, tokens[:1])
	require.Error(t, err)
	_, err = f.MarkBatch(ctx, []Mark{{Item: items[0], Token: "t", Op: Op(99)}})
	require.Error(t, err)
}

// testSlotGroups: a batch is one script call per (campaign, shard); items
// of other groups are split off, whatever their order.
func testSlotGroups(t *testing.T, b backend) {
	ctx := context.Background()
	f, _, rdb := newFence(t, b, Config{Shards: 4, Buckets: 8})
	_, err := f.Establish(ctx)
	require.NoError(t, err)
	calls := countCalls(t, rdb)
	l := f.currentLayout()

	// 40 users of one shard: one call for claim, arm and mark each.
	var one []Item
	for i := 0; len(one) < 40; i++ {
		if u := fmt.Sprintf("user-%07d", i); l.Shard(u) == 2 {
			one = append(one, Item{Campaign: camp, User: u})
		}
	}
	sendBatch(t, f, one, func(int) string { return sesID })
	require.EqualValues(t, 3, calls.n.Load())

	// Mixed: two campaigns, every shard, interleaved.
	var mixed []Item
	for i := range 60 {
		mixed = append(mixed, Item{Campaign: []string{"c1", "c2"}[i%2], User: fmt.Sprintf("mixed-%d", i)})
	}
	groups := map[string]bool{}
	for _, it := range mixed {
		_, tag := l.key(f.cfg.Prefix, it.Campaign, it.User)
		groups[tag] = true
	}
	require.Len(t, groups, 8)
	calls.n.Store(0)
	claims, err := f.ClaimBatch(ctx, mixed)
	require.NoError(t, err)
	require.EqualValues(t, len(groups), calls.n.Load(), "one call per slot group")
	for i, c := range claims {
		require.Equal(t, Won, c.Outcome)
		r, ok, err := f.Get(ctx, mixed[i].Campaign, mixed[i].User)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, c.Token, r.Owner, "answers stay in the callers' order")
	}
	// Every key of a group carries its group's hash tag.
	keys, err := rdb.Keys(ctx, f.cfg.Prefix+":f:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		require.Regexp(t, `^`+f.cfg.Prefix+`:f:\{(2026-11|c1|c2):[0-3]\}:[0-7]$`, k)
	}
}

// A call error leaves nothing known; errs is nil.
func TestBatchCallError(t *testing.T) {
	rdb, err := NewClient("redis://"+closedPort(t), 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{Timeout: 100 * time.Millisecond}, nil)
	require.NoError(t, err)
	ctx := context.Background()
	items := []Item{{Campaign: camp, User: user}}
	_, err = f.ClaimBatch(ctx, items)
	require.ErrorIs(t, err, ErrUnavailable)
	errs, err := f.MarkBatch(ctx, []Mark{{Item: items[0], Token: "t", Op: OpSent}})
	require.ErrorIs(t, err, ErrUnavailable)
	require.Nil(t, errs)
	_, err = f.Settle(ctx, Event{Campaign: camp, User: user, Attempt: "t", Verdict: VerdictSent})
	require.True(t, errors.Is(err, ErrUnavailable), "%v", err)
}

func TestClaimBatchWithRejectsBadTokens(t *testing.T) {
	f, _, _ := newFence(t, miniBackend, Config{})
	ctx := context.Background()
	items := []Item{{Campaign: camp, User: user}}
	for _, tok := range []string{"", "a|b", "a b", strings.Repeat("a", 65)} {
		_, err := f.ClaimBatchWith(ctx, items, []string{tok})
		require.Error(t, err, "%q", tok)
	}
	_, err := f.ClaimBatchWith(ctx, items, nil)
	require.Error(t, err)
	tok, err := NewAttempt()
	require.NoError(t, err)
	cs, err := f.ClaimBatchWith(ctx, items, []string{tok})
	require.NoError(t, err)
	require.Equal(t, tok, cs[0].Token)
}

// Without an injected clock the resolve-after window is measured on
// Redis's clock, from the time Redis recorded the ambiguous state.
func TestResolveAfterUsesRedisTime(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	redisNow := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	mr.SetTime(redisNow)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{Lease: 10 * time.Second, ResolveAfter: time.Hour}, nil)
	require.NoError(t, err)
	a := mustClaim(t, f, Won)
	require.NoError(t, f.Arm(ctx, camp, user, a.Token))
	require.NoError(t, f.MarkAmbiguous(ctx, camp, user, a.Token, "ses 503"))
	require.True(t, mustGet(t, f).At.Equal(redisNow), "recorded on Redis's clock")
	mustClaim(t, f, Unsettled) // by the local clock (2026) the window is long over
	mr.SetTime(redisNow.Add(time.Hour - time.Millisecond))
	mustClaim(t, f, Unsettled)
	mr.SetTime(redisNow.Add(time.Hour))
	c := mustClaim(t, f, Won)
	require.True(t, c.Resolved)
}
