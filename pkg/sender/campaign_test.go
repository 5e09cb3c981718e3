package sender

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// Pause, resume and cancel act on one campaign while others keep sending:
// a paused campaign's jobs are parked without using an attempt (nothing
// waits behind them), resume sends each once, cancel ends the rest
// cancelled, and cancel is final.
func TestPauseResumeCancelAcrossLiveCampaigns(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	e.control = true
	ctx := context.Background()
	cl := e.client()
	defer cl.Close()
	distinct := func(c string) func(*job.Job) { return func(j *job.Job) { j.UserID = c + "-" + j.UserID } }

	require.NoError(t, control.Set(ctx, cl, e.topics, "a", control.Paused, time.Now()))
	e.publishJobs(jobsOf("a", 50, "a.example", distinct("a"))...)
	e.publishJobs(jobsOf("b", 50, "b.example", distinct("b"))...)
	r := e.start(nil)
	waitFor(t, 30*time.Second, "campaign b sent while a is paused", func() bool { return len(recipientsAt(srv, "b.example")) == 50 })
	waitFor(t, 30*time.Second, "campaign a parked", func() bool { return r.outcome(outParked) == 50 })
	waitFor(t, 10*time.Second, "group lag 0 (parked jobs hold nothing back)", func() bool { return e.groupLag() == 0 })
	require.Empty(t, recipientsAt(srv, "a.example"))
	require.Empty(t, e.ledgerStates("a"), "a parked job uses no attempt")

	// Resume a: every sender sees it within a second; then its parked jobs
	// come back.
	require.NoError(t, control.Set(ctx, cl, e.topics, "a", control.Active, time.Now()))
	time.Sleep(2 * time.Second)
	n, err := control.Sweep(ctx, cl, e.topics, "a")
	require.NoError(t, err)
	require.Equal(t, 50, n)
	waitFor(t, 30*time.Second, "campaign a sent after resume", func() bool { return len(recipientsAt(srv, "a.example")) == 50 })

	// Campaign c is paused, then cancelled; d keeps sending throughout.
	require.NoError(t, control.Set(ctx, cl, e.topics, "c", control.Paused, time.Now()))
	e.publishJobs(jobsOf("c", 30, "c.example", distinct("c"))...)
	e.publishJobs(jobsOf("d", 30, "d.example", distinct("d"))...)
	waitFor(t, 30*time.Second, "campaign c parked", func() bool { return r.outcome(outParked) == 80 })
	require.NoError(t, control.Set(ctx, cl, e.topics, "c", control.Cancelled, time.Now()))
	time.Sleep(2 * time.Second)
	n, err = control.Sweep(ctx, cl, e.topics, "c")
	require.NoError(t, err)
	require.Equal(t, 30, n)
	waitFor(t, 30*time.Second, "campaign c cancelled", func() bool { return r.outcome(outCancelled) == 30 })
	waitFor(t, 30*time.Second, "campaign d sent", func() bool { return len(recipientsAt(srv, "d.example")) == 30 })
	waitFor(t, 10*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	requireOnceEach(t, srv.Recipients(), 130)
	require.Empty(t, recipientsAt(srv, "c.example"))
	for u, st := range e.ledgerStates("c") {
		require.Equal(t, ledger.Cancelled, st, u)
	}
	require.Len(t, e.ledgerStates("c"), 30)
	for u, st := range e.ledgerStates("a") {
		require.Equal(t, ledger.Sent, st, u)
	}
	require.ErrorIs(t, control.Set(ctx, cl, e.topics, "c", control.Active, time.Now()), control.ErrCancelled, "cancel is final")
}
