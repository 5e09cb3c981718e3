package sender

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

func fakeSES(t *testing.T, cfg sesfake.Config) *sesfake.Server {
	t.Helper()
	srv := sesfake.New(cfg)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Close() })
	require.NoError(t, srv.CreateTemplate("usage", "Your usage, {{name}}", "<p>{{kwh}} kWh</p>", "{{kwh}} kWh"))
	return srv
}

func unitEnv(t *testing.T, cfg sesfake.Config) (*env, *sesfake.Server) {
	_, brokers := kafkatest.Cluster(t)
	srv := fakeSES(t, cfg)
	e := newEnv(t, brokers, miniRedis(t), srv.URL(), "unit")
	e.cfg.EvictionCheck = EvictionWarn // miniredis has no CONFIG
	return e, srv
}

func TestSendsEachJobOnceAndCommits(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	e.publish("c1", 300, "example.com")
	r := e.start(nil)
	waitFor(t, 30*time.Second, "300 emails", func() bool { return srv.Count() >= 300 })
	waitFor(t, 10*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	rec := srv.Recipients()
	require.Len(t, rec, 300)
	for to, n := range rec {
		require.Equal(t, 1, n, "recipient %s", to)
	}
	require.Equal(t, 300, r.outcome(outSent))
	states := e.ledgerStates("c1")
	require.Len(t, states, 300)
	for u, st := range states {
		require.Equal(t, ledger.Sent, st, "user %s", u)
	}
}

func TestReplayAndDuplicateJobsSendNothingTwice(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	e.publish("c1", 100, "example.com")
	e.publish("c1", 100, "example.com") // a producer rerun: every job twice
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 100, srv.Count())
	require.Equal(t, 100, r.outcome(outDuplicate))

	// Replay from the start: everything is consumed again, nothing is sent.
	cl := e.client()
	_, err := Replay(context.Background(), kadm.NewClient(cl), e.topics.SenderGroup(), e.topics.Jobs(), ReplayTarget{Earliest: true})
	cl.Close()
	require.NoError(t, err)
	require.Equal(t, int64(200), e.groupLag())
	r2 := e.start(nil)
	waitFor(t, 30*time.Second, "replayed group lag 0", func() bool { return e.groupLag() == 0 })
	r2.stop(t)
	require.Equal(t, 100, srv.Count())
	require.Equal(t, 200, r2.outcome(outDuplicate))
}

func TestReplayRefusesALiveGroup(t *testing.T) {
	e, _ := unitEnv(t, sesfake.Config{})
	e.publish("c1", 3, "example.com")
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	cl := e.client()
	defer cl.Close()
	_, err := Replay(context.Background(), kadm.NewClient(cl), e.topics.SenderGroup(), e.topics.Jobs(), ReplayTarget{Earliest: true})
	require.ErrorIs(t, err, ErrGroupNotEmpty)
	require.ErrorContains(t, err, "stop every sender first")
	r.stop(t)
}

func TestFailuresAreRoutedByClass(t *testing.T) {
	fault := func(r *sesfake.SendRequest) *sesfake.Fault {
		switch {
		case strings.HasPrefix(r.To[0], "user00000"):
			return sesfake.Reject
		case strings.HasPrefix(r.To[0], "user00001"):
			return sesfake.Throttle
		case strings.HasPrefix(r.To[0], "user00002"):
			return sesfake.UnavailableAfterAccept
		}
		return nil
	}
	e, srv := unitEnv(t, sesfake.Config{Fault: fault})
	e.publish("c1", 10, "example.com")
	// A poison record in the middle must not block its partition.
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: e.topics.Jobs(), Key: []byte("u00003"), Value: []byte("{not json")}).FirstErr())
	cl.Close()
	e.publish("c1", 10, "example.com")

	// One SendEmail per user: each fault is its user's alone (batches:
	// batch_test.go).
	r := e.start(func(c *Config) { c.BatchSize = 1 })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	states := e.ledgerStates("c1")
	require.Equal(t, ledger.Failed, states["u00000"])
	require.Equal(t, ledger.Retrying, states["u00001"])
	require.Equal(t, ledger.Ambiguous, states["u00002"])
	for i := 3; i < 10; i++ {
		require.Equal(t, ledger.Sent, states[testJob("c1", i, "").UserID])
	}
	// 7 plain sends plus the accepted-then-503 one; none twice.
	require.Equal(t, 8, srv.Count())
	for to, n := range srv.Recipients() {
		require.Equal(t, 1, n, to)
	}

	var dlqReasons []string
	e.count(e.topics.DLQ(), func(r *kgo.Record) { dlqReasons = append(dlqReasons, job.Header(r, job.HeaderDLQReason)) })
	require.ElementsMatch(t, []string{retry.ReasonPermanent, retry.ReasonMalformed}, dlqReasons)

	// The throttled job waits in the first tier with its retry headers;
	// the second copy of it was throttled again or found it busy.
	var tier []*kgo.Record
	e.count(e.topics.Retry(e.cfg.Policy.Tiers[0]), func(r *kgo.Record) { tier = append(tier, r) })
	require.NotEmpty(t, tier)
	for _, rec := range tier {
		j, err := job.Decode(rec.Value)
		require.NoError(t, err)
		require.Equal(t, "u00001", j.UserID)
		nb, ok := job.NotBefore(rec)
		require.True(t, ok)
		require.True(t, nb.After(rec.Timestamp.Add(-time.Second)))
		require.Equal(t, e.topics.Jobs(), job.Header(rec, job.HeaderOrigTopic))
	}
	require.Equal(t, 1, r.outcome(outMalformed))
}

func TestAttemptsExhaustedGoToTheDLQ(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{Fault: func(*sesfake.SendRequest) *sesfake.Fault { return sesfake.Throttle }})
	j := testJob("c1", 7, "example.com")
	j.Attempt = e.cfg.Policy.MaxAttempts - 1 // this is the last attempt
	rec, err := job.Record(e.topics.Jobs(), j)
	require.NoError(t, err)
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), rec).FirstErr())
	cl.Close()

	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 0, srv.Count())
	require.Equal(t, ledger.DeadLettered, e.ledgerStates("c1")["u00007"])
	var reasons []string
	e.count(e.topics.DLQ(), func(r *kgo.Record) { reasons = append(reasons, job.Header(r, job.HeaderDLQReason)) })
	require.Equal(t, []string{retry.ReasonExhausted}, reasons)
}

func TestExpiredJobsAreNotSent(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	j := testJob("c1", 1, "example.com")
	past := time.Now().Add(-time.Hour)
	j.ExpiresAt = &past
	rec, err := job.Record(e.topics.Jobs(), j)
	require.NoError(t, err)
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), rec).FirstErr())
	cl.Close()
	r := e.start(nil)
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)
	require.Equal(t, 0, srv.Count())
	require.Equal(t, ledger.Expired, e.ledgerStates("c1")["u00001"])
}

func TestMessageCarriesTheJobAndNoUserID(t *testing.T) {
	j := testJob("c1", 42, "example.com")
	j.ConfigurationSet = "cs"
	j.Headers = map[string]string{"List-Unsubscribe": "<https://u>"}
	m := message(j, nil, "")
	require.Equal(t, j.Email, m.To)
	require.Equal(t, j.From, m.From)
	require.Equal(t, "usage", m.Template)
	require.JSONEq(t, string(j.Data), m.TemplateData)
	require.Equal(t, "cs", m.ConfigurationSet)
	require.Equal(t, j.Headers, m.Headers)
	require.Equal(t, "c1", m.Tags["campaign"])
	require.Len(t, m.Tags["user_hash"], 16)
	for _, v := range m.Tags {
		require.NotContains(t, v, j.UserID)
	}
	j.Data = nil
	require.Equal(t, "{}", message(j, nil, "").TemplateData)
}

func TestReadyWithNothingToSend(t *testing.T) {
	e, _ := unitEnv(t, sesfake.Config{})
	r := e.start(nil)
	waitFor(t, 10*time.Second, "ready on an empty topic", func() bool { return r.s.Ready(context.Background()) == nil })
	r.stop(t)
}
