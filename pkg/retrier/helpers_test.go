package retrier

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
)

const wait = 20 * time.Second

// harness is a prefix of topics on one cluster, with a producer that picks
// partitions by hand and an admin client.
type harness struct {
	t     *testing.T
	seeds []string
	cfg   Config
	clock Clock
	prod  *kgo.Client
	adm   *kadm.Client
}

func newHarness(t *testing.T, seeds []string, prefix string, clock Clock) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Topics = kafka.Topics{Prefix: prefix}
	cfg.Group = prefix + ".retrier"
	cfg.Partitions = 2
	cfg.Policy.Tiers = []time.Duration{30 * time.Second, 2 * time.Minute}
	// Topics are created by a client of their own: a client that asked
	// for a topic before it existed answers "unknown" from its metadata
	// cache for a few seconds after.
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, admin, cfg.Layout(), nil))
	admin.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	return &harness{t: t, seeds: seeds, cfg: cfg, clock: clock, prod: prod, adm: kadm.NewClient(prod)}
}

// running is one retrier instance running in the background.
type running struct {
	r      *Retrier
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) start(mutate func(*Config)) *running {
	h.t.Helper()
	cfg := h.cfg
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	r, err := New(cfg, Deps{Log: log, Registerer: prometheus.NewRegistry(), Clock: h.clock})
	require.NoError(h.t, err)
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: h.seeds, ClientID: "retrier-test", Logger: log}, r.ClientOpts()...)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	x := &running{r: r, cl: cl, cancel: cancel, done: make(chan error, 1)}
	go func() { x.done <- r.Run(ctx, cl) }()
	h.t.Cleanup(func() { x.stop(h.t) })
	require.Eventually(h.t, func() bool { return r.Ready() == nil }, wait, 5*time.Millisecond, "the retrier never joined its group")
	return x
}

// stop cancels Run and waits for it; a second call does nothing.
func (x *running) stop(t *testing.T) {
	t.Helper()
	if x.cancel == nil {
		return
	}
	x.cancel()
	x.cancel = nil
	select {
	case err := <-x.done:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func testJob(campaign, user string, attempt int) *job.Job {
	return &job.Job{
		Campaign: campaign, UserID: user, Email: user + "@example.com", Template: "welcome",
		From: "news@example.com", CreatedAt: time.Unix(1_700_000_000, 0).UTC(), Attempt: attempt,
	}
}

// produceTier writes j to a tier partition as the sender would, due at nb
// (zero: no not-before header).
func (h *harness) produceTier(tier time.Duration, part int32, j *job.Job, nb time.Time) *kgo.Record {
	h.t.Helper()
	r, err := job.Record(h.cfg.Topics.Retry(tier), j)
	require.NoError(h.t, err)
	r.Partition = part
	if !nb.IsZero() {
		job.SetHeader(r, job.HeaderNotBefore, strconv.FormatInt(nb.UnixMilli(), 10))
	}
	job.SetHeader(r, job.HeaderErrorClass, "throttled")
	job.SetHeader(r, job.HeaderLastError, "slow down")
	job.SetHeader(r, job.HeaderOrigTopic, h.cfg.Topics.Jobs())
	job.SetHeader(r, job.HeaderOrigPart, "0")
	job.SetHeader(r, job.HeaderOrigOffset, "41")
	h.produce(r)
	return r
}

func (h *harness) produce(rs ...*kgo.Record) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(h.t, h.prod.ProduceSync(ctx, rs...).FirstErr())
}

// count is the number of records ever written to topic.
func (h *harness) count(topic string) int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ends, err := h.adm.ListEndOffsets(ctx, topic)
	require.NoError(h.t, err)
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		require.NoError(h.t, o.Err)
		n += o.Offset
	})
	return n
}

// readAll reads every record of topic written so far.
func (h *harness) readAll(topic string) []*kgo.Record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ends, err := h.adm.ListEndOffsets(ctx, topic)
	require.NoError(h.t, err)
	left := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(left) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	require.NoError(h.t, err)
	defer cl.Close()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(h.t, ctx.Err(), "reading %s", topic)
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset < end {
				out = append(out, r)
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
	}
	return out
}

// committed returns the group's committed offset of a partition (-1: none).
func (h *harness) committed(group, topic string, part int32) int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	offs, err := h.adm.FetchOffsets(ctx, group)
	require.NoError(h.t, err)
	o, ok := offs.Lookup(topic, part)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

// users returns the user ids of job records, in order.
func users(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Key)
	}
	return out
}
