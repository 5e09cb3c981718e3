package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/ses"
)

// env is one sender test's world: brokers, Redis, an SES endpoint and
// topic names no other test uses.
type env struct {
	t       *testing.T
	brokers []string
	rdb     redis.UniversalClient
	sesURL  string
	topics  kafka.Topics
	cfg     Config
	// limRdb, when set, is the rate limiter's Redis (tests break it alone).
	limRdb redis.UniversalClient
	// fenceLease overrides the fence lease (default 10s).
	fenceLease time.Duration
	// control starts a campaign-control watcher for each sender.
	control bool
}

func newEnv(t *testing.T, brokers []string, rdb redis.UniversalClient, sesURL, prefix string) *env {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	cfg := DefaultConfig()
	cfg.Topics = kafka.Topics{Prefix: prefix}
	cfg.Policy.Tiers = []time.Duration{time.Second, 2 * time.Second}
	cfg.Policy.MaxAttempts = 3
	cfg.DrainTimeout = 5 * time.Second
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.InfraBackoff = 50 * time.Millisecond
	cfg.MaxSendRate = 0
	e := &env{t: t, brokers: brokers, rdb: rdb, sesURL: sesURL, topics: cfg.Topics, cfg: cfg}
	cl := e.client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: e.topics, Partitions: 3, ReplicationFactor: -1, Tiers: cfg.Policy.Tiers}, nil))
	return e
}

func (e *env) client(opts ...kgo.Opt) *kgo.Client {
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: e.brokers}, opts...)
	require.NoError(e.t, err)
	return cl
}

func miniRedis(t *testing.T) redis.UniversalClient {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func testJob(campaign string, i int, domain string) *job.Job {
	return &job.Job{
		Version: job.SchemaVersion, Campaign: campaign, UserID: fmt.Sprintf("u%05d", i),
		Email: fmt.Sprintf("user%05d@%s", i, domain), Template: "usage",
		Data: json.RawMessage(fmt.Sprintf(`{"name":"User %d","kwh":"%d"}`, i, i%500)),
		From: "reports@example.com", CreatedAt: time.Now().UTC(),
	}
}

// publish produces n jobs of campaign to the jobs topic.
func (e *env) publish(campaign string, n int, domain string) {
	jobs := make([]*job.Job, 0, n)
	for i := range n {
		jobs = append(jobs, testJob(campaign, i, domain))
	}
	e.publishJobs(jobs...)
}

// publishJobs produces jobs to the jobs topic.
func (e *env) publishJobs(jobs ...*job.Job) {
	cl := e.client()
	defer cl.Close()
	recs := make([]*kgo.Record, 0, len(jobs))
	for _, j := range jobs {
		r, err := job.Record(e.topics.Jobs(), j)
		require.NoError(e.t, err)
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(e.t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// running is a sender started by start.
type running struct {
	s      *Sender
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func (e *env) start(mod func(*Config)) *running {
	e.t.Helper()
	cfg := e.cfg
	if mod != nil {
		mod(&cfg)
	}
	lease := 10 * time.Second
	if e.fenceLease > 0 {
		lease = e.fenceLease
	}
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix, Lease: lease, OnAbandoned: cfg.OnAmbiguous}, nil)
	require.NoError(e.t, err)
	limRdb := e.rdb
	if e.limRdb != nil {
		limRdb = e.limRdb
	}
	lim, err := ratelimit.New(limRdb, ratelimit.Config{Key: e.topics.Prefix + ":rate", Rate: cfg.MaxSendRate}, nil)
	require.NoError(e.t, err)
	reg := prometheus.NewRegistry()
	// A minute: the real emulator is shared by every package under test
	// and answers one request at a time; a timeout would be an ambiguous
	// send, which these tests do not inject.
	mailer, err := ses.New(context.Background(), ses.Config{Timeout: time.Minute}, reg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(e.sesURL) })
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	deps := Deps{Fence: fnc, Limiter: lim, Mailer: mailer, Registerer: reg}
	if e.control {
		w := control.NewWatcher(e.topics, nil)
		wcl := e.client(w.ClientOpts()...)
		e.t.Cleanup(wcl.Close)
		go w.Run(ctx, wcl)
		deps.Control = w
	}
	s, err := New(cfg, deps)
	require.NoError(e.t, err)
	cl := e.client(s.ClientOpts()...)
	r := &running{s: s, cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { r.done <- s.Run(ctx, cl) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

var stopOnce sync.Map

func (r *running) stop(t *testing.T) {
	if _, loaded := stopOnce.LoadOrStore(r, true); loaded {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("sender did not stop within 30s")
	}
}

func (r *running) outcome(o string) int {
	return int(testutil.ToFloat64(r.s.m.jobs.WithLabelValues(o)))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupLag is the sender group's total lag on the jobs topic.
func (e *env) groupLag() int64 {
	cl := e.client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(ctx, e.topics.SenderGroup())
	if err != nil {
		return -1
	}
	var total int64
	for _, gl := range lags {
		if gl.Error() != nil {
			return -1
		}
		for _, pl := range gl.Lag[e.topics.Jobs()] {
			if pl.Commit.At < 0 {
				total += pl.End.Offset
				continue
			}
			total += pl.Lag
		}
		if len(gl.Lag[e.topics.Jobs()]) == 0 {
			return -1
		}
	}
	return total
}

// ledgerStates reads the ledger: the latest state per user of campaign.
func (e *env) ledgerStates(campaign string) map[string]ledger.State {
	out := map[string]ledger.State{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.client()
	defer cl.Close()
	require.NoError(e.t, kafka.ReadToEnd(ctx, cl, []string{e.topics.Ledger()}, func(r *kgo.Record) error {
		le, err := ledger.Decode(r.Value)
		if err == nil && le.Campaign == campaign {
			out[le.UserID] = le.State
		}
		return nil
	}))
	return out
}

// count reads a topic and counts its records.
func (e *env) count(topic string, fn func(*kgo.Record)) int {
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.client()
	defer cl.Close()
	require.NoError(e.t, kafka.ReadToEnd(ctx, cl, []string{topic}, func(r *kgo.Record) error {
		n++
		if fn != nil {
			fn(r)
		}
		return nil
	}))
	return n
}
