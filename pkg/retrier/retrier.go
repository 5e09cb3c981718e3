package retrier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/loglimit"
	"github.com/sendonce/sendonce/pkg/retry"
)

// Deps are what the retrier needs besides its Kafka client.
type Deps struct {
	Log *slog.Logger
	// Registerer receives the retrier's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock is the time source; nil is the wall clock.
	Clock Clock
}

// ErrClientOpts is returned by Run when the client was not built with
// ClientOpts: the retrier needs its own group, manual commits and the
// rebalance callbacks.
var ErrClientOpts = errors.New("retrier: the Kafka client must be built with Retrier.ClientOpts()")

// ErrClientClosed is returned by Run when the client was closed under it.
var ErrClientClosed = errors.New("retrier: the Kafka client was closed while running")

// Retrier is one retrier instance.
type Retrier struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	clk    Clock
	tierOf map[string]string // topic → tier label

	cl      *kgo.Client
	workCtx context.Context

	mu    sync.Mutex
	parts map[string]map[int32]*partition
	extra map[string]bool // tier topics consumed that --retry-tiers does not list

	commitMu sync.Mutex
	logs     loglimit.Limiter // repeated failures: one line per step per 10 s
	ready    atomic.Bool
	stopped  atomic.Bool
	// noCommit makes every commit a no-op; tests set it to kill an
	// instance as a crash would, with nothing committed.
	noCommit atomic.Bool
}

// New builds a retrier. Call ClientOpts to build its Kafka client, then Run.
func New(cfg Config, d Deps) (*Retrier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = RealClock()
	}
	r := &Retrier{
		cfg: cfg, log: d.Log, clk: d.Clock, m: newMetrics(d.Registerer, cfg.Policy),
		tierOf: map[string]string{},
		parts:  map[string]map[int32]*partition{},
		extra:  map[string]bool{},
	}
	for _, t := range cfg.Policy.Tiers {
		r.tierOf[cfg.Topics.Retry(t)] = retry.TierName(t)
	}
	return r, nil
}

// Config returns the validated configuration.
func (r *Retrier) Config() Config { return r.cfg }

// ClientOpts are the options the retrier needs on its Kafka client; add them
// to kafka.NewClient and pass the client to Run. The per-partition fetch
// limit bounds what a paused partition keeps in memory; the fetch wait is
// short because a resumed partition is fetched only once the fetch in
// flight to its broker returns. The tiers are consumed by pattern
// (tierPattern), so the topics of tiers since removed from --retry-tiers
// are drained too.
func (r *Retrier) ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(r.cfg.Group),
		// Every tier topic of the prefix, listed or not (tierPattern).
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(r.tierPattern()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.FetchMaxPartitionBytes(r.cfg.FetchMaxPartitionBytes),
		kgo.FetchMaxBytes(r.cfg.FetchMaxBytes),
		kgo.FetchMaxWait(r.cfg.FetchMaxWait),
		// A killed member holds its partitions until the session times out.
		kgo.SessionTimeout(15 * time.Second),
		kgo.ProducerLinger(2 * time.Millisecond),
		// A pattern subscription learns of topics from metadata: a tier
		// topic created later is drained within a minute.
		kgo.MetadataMaxAge(time.Minute),
	}
}

// Ready reports whether the retrier has joined its group: the /readyz check.
func (r *Retrier) Ready() error {
	if r.stopped.Load() {
		return errors.New("retrier stopped")
	}
	if !r.ready.Load() {
		return errors.New("not in the consumer group yet")
	}
	return nil
}

// Run consumes the tiers until ctx is cancelled, then drains: workers finish
// the produce in flight (bounded by Config.DrainTimeout), acknowledged
// offsets are committed, and the client leaves the group. cl must have been
// built with r.ClientOpts(); Run closes it. Records fetched but not yet due
// are simply not committed: the next owner fetches them again.
func (r *Retrier) Run(ctx context.Context, cl *kgo.Client) error {
	if g, _ := cl.OptValue(kgo.ConsumerGroup).(string); g != r.cfg.Group {
		cl.Close()
		return fmt.Errorf("%w (client group %q, want %q)", ErrClientOpts, g, r.cfg.Group)
	}
	r.cl = cl
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r.mu.Lock()
	r.workCtx = workCtx // partitions exist only from here on
	r.mu.Unlock()
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var loops sync.WaitGroup
	loops.Add(3)
	go func() { defer loops.Done(); r.discoverTiers(loopCtx, cl) }()
	go func() {
		defer loops.Done()
		r.every(loopCtx, r.cfg.CommitInterval, func() { r.commit(loopCtx, r.all()) })
	}()
	go func() { defer loops.Done(); r.depthLoop(loopCtx) }()

	err := r.pollLoop(ctx)

	// Drain, bounded by real time: it bounds real work, not a schedule.
	// Four fifths of it for the produces in flight, the rest to commit.
	r.log.Info("retrier draining", "timeout", r.cfg.DrainTimeout)
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
	defer cancelDrain()
	stopLoops()
	loops.Wait()
	gone := r.detachAll()
	r.halt(gone, r.cfg.DrainTimeout*4/5)
	r.commit(drainCtx, gone)
	r.stopped.Store(true)
	for _, p := range gone {
		p.release()
	}
	cl.Close() // leaves the group; the final revoke finds nothing left
	r.log.Info("retrier stopped")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *Retrier) pollLoop(ctx context.Context) error {
	for {
		fetches := r.cl.PollFetches(ctx)
		if fetches.IsClientClosed() {
			return ErrClientClosed
		}
		if ctx.Err() != nil {
			r.cl.AllowRebalance()
			return ctx.Err()
		}
		kafka.LogFetchErrors(fetches, r.log)
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			r.partition(ftp.Topic, ftp.Partition).add(ftp.Records)
		})
		r.cl.AllowRebalance()
	}
}

// partition returns the state of an owned partition, creating it with its
// worker on its first records: BlockRebalanceOnPoll guarantees that polled
// records belong to partitions owned in this generation, and a revoke
// forgets the state (and the records) of the partitions it takes away.
func (r *Retrier) partition(topic string, part int32) *partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.parts[topic]
	if ps == nil {
		ps = map[int32]*partition{}
		r.parts[topic] = ps
	}
	p := ps[part]
	if p == nil {
		p = newPartition(r, topic, part)
		ps[part] = p
		go p.run()
	}
	return p
}

func (r *Retrier) all() []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for _, ps := range r.parts {
		for _, p := range ps {
			out = append(out, p)
		}
	}
	return out
}

func (r *Retrier) detach(tps map[string][]int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for t, ps := range tps {
		for _, id := range ps {
			if p := r.parts[t][id]; p != nil {
				out = append(out, p)
				delete(r.parts[t], id)
			}
		}
	}
	return out
}

func (r *Retrier) detachAll() []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for t, ps := range r.parts {
		for _, p := range ps {
			out = append(out, p)
		}
		delete(r.parts, t)
	}
	return out
}

// halt stops the workers of ps and waits for them: each finishes the
// produce in flight, unless within runs out (the produces are then
// abandoned, uncommitted: the next owner moves those records again).
func (r *Retrier) halt(ps []*partition, within time.Duration) {
	for _, p := range ps {
		p.halt()
	}
	limit := time.NewTimer(within)
	defer limit.Stop()
	for _, p := range ps {
		select {
		case <-p.exited:
		case <-limit.C:
			for _, q := range ps {
				q.cancel()
			}
			<-p.exited
		}
	}
}

// every calls fn each interval of the injected clock until ctx is done.
func (r *Retrier) every(ctx context.Context, interval time.Duration, fn func()) {
	for {
		tick := make(chan struct{})
		t := r.clk.AfterFunc(interval, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-tick:
		}
		fn()
	}
}

// discoverTiers asks for metadata every second until the group assigns
// partitions: the tier topics created just before (kafka.EnsureTopics) may
// not be in the first metadata answer, and a pattern subscription joins
// the group only once it sees a matching topic.
func (r *Retrier) discoverTiers(ctx context.Context, cl *kgo.Client) {
	for !r.ready.Load() {
		cl.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
