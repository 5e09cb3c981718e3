package sender

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// The faults production brings, on kfake and miniredis: each test names the
// guarantee it pins.

// jobsOf builds n jobs of campaign with recipients at domain, changed by mod.
func jobsOf(campaign string, n int, domain string, mod func(*job.Job)) []*job.Job {
	out := make([]*job.Job, 0, n)
	for i := range n {
		j := testJob(campaign, i, domain)
		if mod != nil {
			mod(j)
		}
		out = append(out, j)
	}
	return out
}

// recipientsAt counts accepted emails per recipient of domain.
func recipientsAt(srv *sesfake.Server, domain string) map[string]int {
	out := map[string]int{}
	for to, n := range srv.Recipients() {
		if strings.HasSuffix(to, "@"+domain) {
			out[to] = n
		}
	}
	return out
}

func requireOnceEach(t *testing.T, got map[string]int, want int) {
	t.Helper()
	require.Len(t, got, want)
	for to, n := range got {
		require.Equal(t, 1, n, "recipient %s", to)
	}
}

// An error of the rate limiter's Redis (a restart, LOADING, a reset) must
// never release the claim and abandon the record: the partition would never
// commit past it and the user would never be sent.
func TestLimiterRedisOutageNeverAbandonsAJob(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	lmr := miniredis.RunT(t)
	e.limRdb = redis.NewClient(&redis.Options{Addr: lmr.Addr()})
	t.Cleanup(func() { e.limRdb.Close() })

	e.publish("c1", 40, "example.com")
	lmr.SetError("LOADING Redis is loading the dataset in memory")
	r := e.start(nil)
	time.Sleep(1500 * time.Millisecond)
	require.Zero(t, srv.Count(), "nothing is sent without a rate slot")
	waitFor(t, 5*time.Second, "the oldest-unfinished gauge to show the stuck records", func() bool {
		return testutil.ToFloat64(r.s.m.oldest) >= 1
	})

	lmr.SetError("")
	waitFor(t, 30*time.Second, "40 emails", func() bool { return srv.Count() >= 40 })
	waitFor(t, 10*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	waitFor(t, 5*time.Second, "nothing unfinished", func() bool { return testutil.ToFloat64(r.s.m.oldest) == 0 })
	r.stop(t)
	requireOnceEach(t, srv.Recipients(), 40)
	require.Positive(t, testutil.ToFloat64(r.s.m.infraErrors.WithLabelValues("rate_limit")))
}

// A paused configuration set stops only its own jobs, and they are not
// retried while SES says the set is still paused (no release-and-retry loop
// on a healthy GetAccount); they resume when GetConfigurationSet says so,
// without using an attempt.
func TestConfigurationSetPauseStopsOnlyItsJobs(t *testing.T) {
	var paused atomic.Bool
	paused.Store(true)
	e, srv := unitEnv(t, sesfake.Config{Fault: func(r *sesfake.SendRequest) *sesfake.Fault {
		if paused.Load() && r.ConfigurationSet == "cs-paused" {
			return sesfake.ConfigurationSetPaused
		}
		return nil
	}})
	srv.SetConfigurationSetSending("cs-paused", false)
	e.cfg.AccountRefresh = 100 * time.Millisecond
	e.cfg.MaxStopCycles = 1000
	// Distinct users: a paused job keeps its user's place in the
	// partition, so another campaign's job for the same user waits too.
	e.publishJobs(jobsOf("a", 20, "a.example", func(j *job.Job) { j.ConfigurationSet = "cs-paused" })...)
	e.publishJobs(jobsOf("b", 20, "b.example", func(j *job.Job) { j.UserID = "b-" + j.UserID })...)

	r := e.start(nil)
	waitFor(t, 30*time.Second, "campaign b sent", func() bool { return len(recipientsAt(srv, "b.example")) == 20 })
	waitFor(t, 5*time.Second, "the pause to show", func() bool {
		return testutil.ToFloat64(r.s.m.paused.WithLabelValues(scopeConfigSet)) == 1
	})
	time.Sleep(500 * time.Millisecond) // the sends already past the gate land
	before := srv.Calls()[sesfake.ConfigurationSetPaused.Name]
	time.Sleep(time.Second) // ten refresh cycles
	after := srv.Calls()[sesfake.ConfigurationSetPaused.Name]
	require.Equal(t, before, after, "a paused configuration set is not tried again while SES says it is paused")
	require.LessOrEqual(t, before, 20)
	require.Empty(t, recipientsAt(srv, "a.example"))
	require.Empty(t, e.ledgerStates("a"), "a paused job uses no attempt and is not retried")

	paused.Store(false)
	srv.SetConfigurationSetSending("cs-paused", true)
	waitFor(t, 30*time.Second, "campaign a sent", func() bool { return len(recipientsAt(srv, "a.example")) == 20 })
	waitFor(t, 10*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	requireOnceEach(t, srv.Recipients(), 40)
	require.Zero(t, testutil.ToFloat64(r.s.m.paused.WithLabelValues(scopeConfigSet)))
	for u, st := range e.ledgerStates("a") {
		require.Equal(t, ledger.Sent, st, u)
	}
}

// AccessDenied on one identity that does not lift gives up after
// --stop-cycles checks: its jobs go to the DLQ with reason "stopped" (to be
// redriven), and every other identity keeps sending.
func TestStoppedIdentityGivesUpToTheDLQ(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{Fault: func(r *sesfake.SendRequest) *sesfake.Fault {
		if r.From == "blocked@example.com" {
			return sesfake.IdentityAccessDenied
		}
		return nil
	}})
	srv.SetIdentitySending("blocked@example.com", false)
	srv.SetIdentitySending("example.com", false)
	e.cfg.AccountRefresh = 50 * time.Millisecond
	e.cfg.MaxStopCycles = 3
	e.publishJobs(jobsOf("a", 10, "a.example", func(j *job.Job) { j.From = "blocked@example.com" })...)
	e.publishJobs(jobsOf("b", 10, "b.example", func(j *job.Job) { j.UserID = "b-" + j.UserID })...)

	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	requireOnceEach(t, recipientsAt(srv, "b.example"), 10)
	require.Empty(t, recipientsAt(srv, "a.example"))
	require.LessOrEqual(t, srv.Calls()[sesfake.IdentityAccessDenied.Name], 20, "no retry loop")

	states := e.ledgerStates("a")
	require.Len(t, states, 10)
	for u, st := range states {
		require.Equal(t, ledger.DeadLettered, st, u)
	}
	var reasons []string
	e.count(e.topics.DLQ(), func(rec *kgo.Record) { reasons = append(reasons, job.Header(rec, job.HeaderDLQReason)) })
	require.Len(t, reasons, 10)
	for _, why := range reasons {
		require.Equal(t, retry.ReasonStopped, why)
	}
	// The fence lets a redrive send them once the identity is fixed.
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	ok, err := fnc.Reopen(context.Background(), "a", "u00000")
	require.NoError(t, err)
	require.True(t, ok)
}

// While the daily quota is used up, nothing is sent, no attempt is used and
// nothing goes to a retry tier; when GetAccount shows room, every job is
// sent once.
func TestQuotaPauseSendsNothingAndUsesNoAttempt(t *testing.T) {
	var calls atomic.Int64
	var raised atomic.Bool
	e, srv := unitEnv(t, sesfake.Config{Max24HourSend: 5, Fault: func(*sesfake.SendRequest) *sesfake.Fault {
		if calls.Add(1) > 5 && !raised.Load() {
			return sesfake.QuotaExceeded
		}
		return nil
	}})
	e.cfg.AccountRefresh = 100 * time.Millisecond
	e.publish("c1", 20, "example.com")
	r := e.start(nil)
	waitFor(t, 30*time.Second, "the quota pause", func() bool {
		return testutil.ToFloat64(r.s.m.paused.WithLabelValues(pauseQuota)) == 1
	})
	time.Sleep(300 * time.Millisecond) // let in-flight calls land
	before := calls.Load()
	time.Sleep(time.Second)
	require.Equal(t, before, calls.Load(), "no SendEmail while paused")
	require.Equal(t, 5, srv.Count())
	require.Zero(t, e.count(e.topics.Retry(e.cfg.Policy.Tiers[0]), nil), "a quota pause uses no attempt")
	for u, st := range e.ledgerStates("c1") {
		require.Equal(t, ledger.Sent, st, u)
	}

	raised.Store(true)
	srv.SetMax24HourSend(1000)
	waitFor(t, 30*time.Second, "20 emails", func() bool { return srv.Count() >= 20 })
	waitFor(t, 10*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	requireOnceEach(t, srv.Recipients(), 20)
	for _, j := range jobsOf("c1", 20, "", nil) {
		require.Equal(t, ledger.Sent, e.ledgerStates("c1")[j.UserID])
	}
}

// --on-ambiguous resend resends a user at most once: three copies of a job
// whose every send is ambiguous reach SES twice, then the user is held.
func TestResendAtMostOncePerUser(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{Fault: func(r *sesfake.SendRequest) *sesfake.Fault {
		if strings.HasPrefix(r.To[0], "user00001@") {
			return sesfake.UnavailableAfterAccept
		}
		return nil
	}})
	e.cfg.OnAmbiguous = fence.Resend
	e.cfg.Policy.MaxAttempts = 8
	jobs := jobsOf("c1", 3, "example.com", nil)
	e.publishJobs(jobs...)
	e.publishJobs(jobs[1], jobs[1]) // the ambiguous user comes back twice (retrier, rerun)

	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 2, srv.Accepted("user00001@example.com"), "one send and one resend, never more")
	require.Equal(t, 1, srv.Accepted("user00000@example.com"))
	require.Equal(t, 1, srv.Accepted("user00002@example.com"))
	require.Equal(t, ledger.Ambiguous, e.ledgerStates("c1")["u00001"])
	require.Equal(t, 1, r.outcome(outResent), "resent once")
	require.Equal(t, 1, r.outcome(outAmbiguous), "held after the resend")
}

// A key a dead sender left in "sending" is held under --on-ambiguous hold:
// reported ambiguous, never sent again.
func TestAbandonedSendingKeyIsHeld(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	ctx := context.Background()
	hourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	dead, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix, Lease: time.Second}, hourAgo)
	require.NoError(t, err)
	c, err := dead.Claim(ctx, "c1", "u00000")
	require.NoError(t, err)
	require.NoError(t, dead.Arm(ctx, "c1", "u00000", c.Token))

	e.publish("c1", 3, "example.com")
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Zero(t, srv.Accepted("user00000@example.com"), "held, not resent")
	require.Equal(t, 2, srv.Count())
	states := e.ledgerStates("c1")
	require.Equal(t, ledger.Ambiguous, states["u00000"])
	require.Equal(t, ledger.Sent, states["u00001"])
	require.Equal(t, 1, r.outcome(outAmbiguous))
}

// A claim that lapsed while the job waited (another sender took the key)
// fails to arm, and a job that cannot arm is never sent.
func TestLapsedClaimIsNeverSent(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	lmr := miniredis.RunT(t)
	e.limRdb = redis.NewClient(&redis.Options{Addr: lmr.Addr()})
	t.Cleanup(func() { e.limRdb.Close() })
	e.fenceLease = 300 * time.Millisecond

	e.publish("c1", 1, "example.com")
	lmr.SetError("LOADING Redis is loading the dataset in memory") // hold the job between claim and arm
	r := e.start(nil)
	other, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix, Lease: time.Minute}, nil)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the sender's claim", func() bool {
		rec, ok, err := other.Get(context.Background(), "c1", "u00000")
		require.NoError(t, err)
		return ok && rec.State == fence.Claimed
	})
	time.Sleep(400 * time.Millisecond) // its lease (300ms) is over
	took, err := other.Claim(context.Background(), "c1", "u00000")
	require.NoError(t, err)
	require.Equal(t, fence.Won, took.Outcome, "another sender takes the lapsed claim")
	require.Equal(t, fence.Claimed, took.Record.State)
	lmr.SetError("")
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Zero(t, srv.Count(), "the job whose claim lapsed must not be sent")
	require.Equal(t, ledger.Retrying, e.ledgerStates("c1")["u00000"])
	require.Equal(t, 1, r.outcome(outBusy))
}

// A record that is not a job but names its campaign and user reaches the
// ledger as dead_lettered (malformed), so that the campaign can complete.
func TestMalformedJobReachesTheLedger(t *testing.T) {
	e, _ := unitEnv(t, sesfake.Config{})
	rec := &kgo.Record{Topic: e.topics.Jobs(), Key: []byte("u-bad"), Value: []byte("{not json")}
	job.SetHeader(rec, job.HeaderCampaign, "c1")
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), rec).FirstErr())
	cl.Close()
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, ledger.DeadLettered, e.ledgerStates("c1")["u-bad"])
	require.Equal(t, 1, r.outcome(outMalformed))
}

// A tombstone on the jobs topic (producer erase) is passed over: not sent,
// not dead-lettered, and its partition commits past it.
func TestTombstoneIsPassedOver(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	e.publish("c1", 2, "example.com")
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: e.topics.Jobs(), Key: []byte("u00000")}).FirstErr())
	cl.Close()
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 2, srv.Count())
	require.Zero(t, e.count(e.topics.DLQ(), nil))
	require.Zero(t, r.outcome(outMalformed))
}

// The bookkeeping of a send cut off by the end of the drain time still
// lands: the key ends ambiguous (the request was written) with a ledger
// entry, instead of staying "sending" for the next owner to find.
func TestBookkeepingOutlivesTheDrain(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{Latency: 3 * time.Second})
	e.cfg.DrainTimeout = 300 * time.Millisecond
	e.publish("c1", 1, "example.com")
	r := e.start(nil)
	waitFor(t, 10*time.Second, "the request to reach SES", func() bool { return srv.Count() == 1 })
	r.stop(t)

	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	rec, ok, err := fnc.Get(context.Background(), "c1", "u00000")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, fence.Ambiguous, rec.State, "recorded after the drain time, not left sending")
	require.Equal(t, ledger.Ambiguous, e.ledgerStates("c1")["u00000"])
}

// Under --redis-eviction-check require a Redis that cannot show its
// eviction policy is refused with the fix in the message.
func TestRefusesARedisThatCannotShowItsEvictionPolicy(t *testing.T) {
	e, _ := unitEnv(t, sesfake.Config{})
	e.cfg.EvictionCheck = EvictionRequire
	cfg := e.cfg
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	s, err := New(cfg, Deps{Fence: fnc, Mailer: nopMailer{}})
	require.NoError(t, err)
	err = s.Run(context.Background(), e.client(s.ClientOpts()...))
	require.ErrorIs(t, err, ErrEvictingRedis)
	require.ErrorContains(t, err, "--redis-eviction-check warn")
}

type nopMailer struct{ Mailer }

// The watermark commits only the unbroken finished prefix: a finished
// record behind an unfinished one is never committed past.
func TestCommitWatermarkNeverPassesUnfinished(t *testing.T) {
	recs := make([]*kgo.Record, 4)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint("u", i)), Offset: int64(10 + i), LeaderEpoch: 1}
	}
	tests := []struct {
		name   string
		finish []int
		want   int64 // committable offset; -1: nothing to commit
	}{
		{"nothing finished", nil, -1},
		{"a later record finished first", []int{2}, -1},
		{"two later records finished", []int{1, 3}, -1},
		{"the head finished", []int{0}, 11},
		{"head then a gap", []int{0, 2}, 11},
		{"the gap closed", []int{2, 0, 1}, 13},
		{"all", []int{3, 2, 1, 0}, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPartition(context.Background(), "t", 0)
			for _, r := range recs {
				require.True(t, p.add(r, time.Now()))
			}
			for _, i := range tt.finish {
				p.finish(recs[i])
			}
			eo, ok := p.take()
			if tt.want < 0 {
				require.False(t, ok, "committed %v past an unfinished record", eo)
				return
			}
			require.True(t, ok)
			require.Equal(t, tt.want, eo.Offset)
		})
	}
}
