package sender

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retrier"
	"github.com/sendonce/sendonce/pkg/sesfault"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// startRetrier runs the real retrier in-process on the env's tiers.
func (e *env) startRetrier() {
	e.t.Helper()
	cfg := retrier.DefaultConfig()
	cfg.Topics = e.topics
	cfg.Policy = e.cfg.Policy
	cfg.DrainTimeout = 5 * time.Second
	cfg.CommitInterval = 100 * time.Millisecond
	r, err := retrier.New(cfg, retrier.Deps{Registerer: prometheus.NewRegistry()})
	require.NoError(e.t, err)
	cl := e.client(r.ClientOpts()...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, cl) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(e.t, err)
		case <-time.After(30 * time.Second):
			e.t.Error("retrier did not stop")
		}
	})
}

// TestRealThrottlingIsRetriedThroughTheTiers puts a fault proxy in front of
// the SES emulator that throttles 30% of calls; every email still arrives
// exactly once, brought back by the real retrier.
//
// Both send paths: a throttled SendBulkEmail call throttles all its entries.
func TestRealThrottlingIsRetriedThroughTheTiers(t *testing.T) {
	for _, size := range batchSizes {
		t.Run(fmt.Sprintf("batch=%d", size), func(t *testing.T) { throttledRetried(t, size) })
	}
}

func throttledRetried(t *testing.T, batchSize int) {
	e, domain := realEnv(t)
	proxy, err := sesfault.New(sesfault.Config{Target: e.sesURL, ThrottleRatio: 0.3, Seed: 7})
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	e.sesURL = proxy.URL()
	e.cfg.Policy.MaxAttempts = 20 // 0.3^20: no job runs out of attempts

	const n = 500
	e.publish("thr", n, domain)
	e.startRetrier()
	r := e.start(func(c *Config) { c.BatchSize = batchSize })
	waitFor(t, 2*time.Minute, "every job sent", func() bool { return r.outcome(outSent) >= n })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	require.Positive(t, proxy.Stats().Throttled)
	require.Positive(t, r.outcome(outThrottled))
	emails, err := testenv.SESStore(context.Background(), testenv.SESEndpoint(t))
	require.NoError(t, err)
	counts := testenv.RecipientCounts(emails, "@"+domain)
	require.Len(t, counts, n)
	for to, c := range counts {
		require.Equal(t, 1, c, "emails to %s", to)
	}
	for u, st := range e.ledgerStates("thr") {
		require.Equal(t, ledger.Sent, st, "user %s", u)
	}
}

// TestRealRejectedThenRedrivenIsSentOnce: a recipient SES rejects for good
// lands in the DLQ as failed; once the cause is fixed, a redrive brings it
// back and it is sent exactly once, while users already sent are left alone.
func TestRealRejectedThenRedrivenIsSentOnce(t *testing.T) {
	e, domain := realEnv(t)
	var rejecting atomic.Bool
	rejecting.Store(true)
	proxy, err := sesfault.New(sesfault.Config{Target: e.sesURL, RejectRecipient: func(to string) bool {
		return rejecting.Load() && strings.HasPrefix(to, "user00003@")
	}})
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	e.sesURL = proxy.URL()

	e.publish("rd", 10, domain)
	e.startRetrier()
	r := e.start(nil)
	waitFor(t, time.Minute, "group lag 0", func() bool { return e.groupLag() == 0 })
	require.Equal(t, ledger.Failed, e.ledgerStates("rd")["u00003"])
	require.Equal(t, 9, r.outcome(outSent))

	rejecting.Store(false)
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	cl := e.client()
	rep, err := retrier.Redrive(context.Background(), cl, fnc, retrier.RedriveOptions{Topics: e.topics, Campaign: "rd"})
	cl.Close()
	require.NoError(t, err)
	require.Equal(t, 1, rep.Redriven)

	waitFor(t, time.Minute, "the redriven job sent", func() bool { return r.outcome(outSent) == 10 })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	// A second redrive finds the user sent and re-publishes nothing.
	cl = e.client()
	rep, err = retrier.Redrive(context.Background(), cl, fnc, retrier.RedriveOptions{Topics: e.topics, Campaign: "rd"})
	cl.Close()
	require.NoError(t, err)
	require.Equal(t, 0, rep.Redriven)
	require.Equal(t, 1, rep.SkippedAlreadySent)

	emails, err := testenv.SESStore(context.Background(), testenv.SESEndpoint(t))
	require.NoError(t, err)
	counts := testenv.RecipientCounts(emails, "@"+domain)
	require.Len(t, counts, 10)
	for to, c := range counts {
		require.Equal(t, 1, c, "emails to %s", to)
	}
	require.Equal(t, ledger.Sent, e.ledgerStates("rd")["u00003"])
}
