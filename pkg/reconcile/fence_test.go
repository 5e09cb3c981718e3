package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
)

// The adapter against the real fence code (on miniredis): an ambiguous
// attempt settled by its events, then a fact, then another attempt.
func TestFenceSettler(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	f, err := fence.New(rdb, fence.Config{Prefix: "t", Shards: 1, Buckets: 4}, func() time.Time { return now })
	require.NoError(t, err)
	ctx := context.Background()
	_, err = f.Establish(ctx)
	require.NoError(t, err)
	cl, err := f.Claim(ctx, camp, "u-1")
	require.NoError(t, err)
	require.NoError(t, f.Arm(ctx, camp, "u-1", cl.Token))
	require.NoError(t, f.MarkAmbiguous(ctx, camp, "u-1", cl.Token, "ses 503"))

	s := FenceSettler{F: f}
	ev := SettleEvent{Campaign: camp, User: "u-1", Attempt: cl.Token, Verdict: VerdictSent, MessageID: "ses-1"}
	got, err := s.Settle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, Settled, got.Outcome)
	require.Equal(t, State("ambiguous"), got.Prev.State)
	require.Equal(t, StateSent, got.Now.State)
	require.True(t, got.Now.ByEvent)
	require.Equal(t, "ses-1", got.Now.MessageID)
	require.Equal(t, cl.Token, got.Now.Attempt)

	got, err = s.Settle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, Already, got.Outcome)

	ev.Fact = FactBounced
	got, err = s.Settle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, FactAdded, got.Outcome)
	require.Equal(t, FactBounced, got.Now.Fact)

	ev.Fact = FactDelivered
	got, err = s.Settle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, Already, got.Outcome, "never downgraded")
	require.Equal(t, FactBounced, got.Now.Fact)

	ev.Attempt = "another"
	got, err = s.Settle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, OtherAttempt, got.Outcome)

	got, err = s.Settle(ctx, SettleEvent{Campaign: camp, User: "nobody", Attempt: "x", Verdict: VerdictSent, MessageID: "m"})
	require.NoError(t, err)
	require.Equal(t, Unknown, got.Outcome)

	cl2, err := f.Claim(ctx, camp, "u-2")
	require.NoError(t, err)
	require.NoError(t, f.Arm(ctx, camp, "u-2", cl2.Token))
	got, err = s.Settle(ctx, SettleEvent{Campaign: camp, User: "u-2", Attempt: cl2.Token, Verdict: VerdictFailed, MessageID: "m2", Reason: "rejected by SES: Bad content"})
	require.NoError(t, err)
	require.Equal(t, Settled, got.Outcome, "an event before the sender's own mark")
	require.Equal(t, StateFailed, got.Now.State)
	require.True(t, got.Now.ByEvent)

	mr.Close() // Redis down: retried by the reconciler, not a refusal
	_, err = s.Settle(ctx, ev)
	require.ErrorIs(t, err, fence.ErrUnavailable)
	require.NotErrorIs(t, err, ErrInvalid)
}
