package sender

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// In a batch, each entry's SES status settles that user alone: a rejected
// entry fails, a throttled one is retried, the others are sent, in one
// SendBulkEmail call per batch rather than one SendEmail per user.
func TestBatchEntriesAreSettledOneByOne(t *testing.T) {
	fault := func(r *sesfake.SendRequest) *sesfake.Fault {
		switch {
		case strings.HasPrefix(r.To[0], "user00000"):
			return sesfake.Reject
		case strings.HasPrefix(r.To[0], "user00001"):
			return sesfake.Throttle
		}
		return nil
	}
	e, srv := unitEnv(t, sesfake.Config{Fault: fault})
	const n = 40
	e.publish("c1", n, "example.com")
	r := e.start(func(c *Config) { c.BatchSize = 50; c.BatchLinger = 50 * time.Millisecond })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	states := e.ledgerStates("c1")
	require.Equal(t, ledger.Failed, states["u00000"])
	require.Equal(t, ledger.Retrying, states["u00001"])
	for i := 2; i < n; i++ {
		require.Equal(t, ledger.Sent, states[testJob("c1", i, "").UserID])
	}
	require.Equal(t, n-2, srv.Count())
	for to, c := range srv.Recipients() {
		require.Equal(t, 1, c, to)
	}
	calls := int(testutil.ToFloat64(r.s.m.bulkCalls))
	require.Positive(t, calls, "SendBulkEmail calls")
	require.Less(t, calls, n/2, "jobs ready together share a call")
}

// An answer of the whole call that may follow acceptance (a 503 after SES
// wrote the emails) leaves every entry of the call ambiguous: the blast
// radius of a batch. None is sent twice.
func TestBulkCallAmbiguityCoversEveryEntry(t *testing.T) {
	var first atomic.Bool
	var inCall atomic.Int64 // recipients of the call answered 503
	e, srv := unitEnv(t, sesfake.Config{BulkFault: func(reqs []sesfake.SendRequest) *sesfake.Fault {
		if first.CompareAndSwap(false, true) {
			inCall.Store(int64(len(reqs)))
			return sesfake.UnavailableAfterAccept
		}
		return nil
	}})
	const n = 30
	e.publish("c1", n, "example.com")
	r := e.start(func(c *Config) { c.BatchSize = 50; c.BatchLinger = 100 * time.Millisecond })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	states := e.ledgerStates("c1")
	var ambiguous, sent int
	for _, st := range states {
		switch st {
		case ledger.Ambiguous:
			ambiguous++
		case ledger.Sent:
			sent++
		}
	}
	require.Equal(t, n, ambiguous+sent, "every user settled: %v", states)
	require.Greater(t, inCall.Load(), int64(1), "a batch of several answered 503")
	require.Equal(t, int(inCall.Load()), ambiguous, "every entry of the 503 call, and only those")
	require.Equal(t, ambiguous, r.outcome(outAmbiguous))
	// The emails of the ambiguous call were accepted once and never resent.
	require.Equal(t, n, srv.Count())
	for to, c := range srv.Recipients() {
		require.Equal(t, 1, c, to)
	}
}

// The user_ref tag seals the campaign with the user when the campaign tag
// cannot carry it unaltered, and only then.
func TestUserRefCarriesAnAlteredCampaign(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, tc := range []struct{ campaign, want string }{
		{"2026-11", "u1"},
		{"2026.11", "2026.11" + pseudonym.RefSeparator + "u1"},
	} {
		m := message(&job.Job{Campaign: tc.campaign, UserID: "u1", Email: "a@example.com", From: "f@example.com", Template: "t"}, key, "att")
		got, err := pseudonym.OpenUserRef(key, m.Tags["user_ref"])
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.campaign)
		require.Equal(t, "att", m.Tags["attempt"])
	}
}
