package sender

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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/loglimit"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/ses"
)

// Mailer sends one email, or one SendBulkEmail call of a batch, and reads
// the account. *ses.Client implements it.
type Mailer interface {
	Send(ctx context.Context, m ses.Message) (messageID string, err error)
	// SendBulk sends one SendBulkEmail call: an error is the whole call's,
	// else one result per entry.
	SendBulk(ctx context.Context, m ses.BulkMessage) ([]ses.BulkResult, error)
	Account(ctx context.Context) (ses.Account, error)
}

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Deps are the sender's connections.
type Deps struct {
	Fence   *fence.Fence
	Limiter *ratelimit.Limiter
	Mailer  Mailer
	Log     *slog.Logger
	// Registerer receives the sender's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Clock      Clock
	// Control is the per-campaign control (pause, cancel); nil: every
	// campaign is active.
	Control CampaignControl
}

// Sender is one sender instance.
type Sender struct {
	cfg  Config
	cl   *kgo.Client
	fnc  *fence.Fence
	lim  *ratelimit.Limiter
	ses  Mailer
	log  *slog.Logger
	m    *metrics
	clk  Clock
	gate *gate
	ctl  CampaignControl

	batches *batcher
	// calls holds one token per SES call in flight (Concurrency).
	calls chan struct{}

	// fetchCtx is cancelled when shutdown starts: take no new work. It
	// exists from New on, because the group may assign partitions as soon
	// as the client is built.
	fetchCtx  context.Context
	stopFetch context.CancelFunc
	// workCtx is cancelled when the drain time is over: in-flight sends
	// and their bookkeeping run under it.
	workCtx  context.Context
	stopWork context.CancelFunc
	// bookCtx is cancelled BookkeepingTimeout after workCtx: the fence
	// marks and ledger writes of sends that finished (or were never
	// written) still land when the drain time is over.
	bookCtx  context.Context
	stopBook context.CancelFunc

	mu    sync.Mutex
	parts map[string]map[int32]*partition

	inflight atomic.Int64
	freed    chan struct{} // signalled when a slot frees
	ready    atomic.Bool
	// evictionOK is set while Redis's maxmemory-policy is noeviction.
	evictionOK atomic.Bool
	logs       loglimit.Limiter
}

// ClientOpts are the options the sender needs on its Kafka client. The
// caller adds them to kafka.NewClient; s must be the value later passed to
// Run (use New first, then build the client with s.ClientOpts()).
func (s *Sender) ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(s.cfg.Topics.SenderGroup()),
		// The priority lane beside the jobs topic: its jobs never wait
		// behind the other topic's backlog.
		kgo.ConsumeTopics(s.cfg.Topics.Jobs(), s.cfg.Topics.PriorityJobs()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.FetchMaxWait(500 * time.Millisecond),
		// Small fetches per partition: records are handed out in fetch
		// order, so a big buffered backlog of the jobs topic would make the
		// priority lane wait behind it. 64 KiB is about 130 jobs a
		// partition, a fraction of a second of sending.
		kgo.FetchMaxPartitionBytes(64 << 10),
		// A killed member holds its partitions until the session times out:
		// 15s (not 45s) keeps a dead pod from stalling its partitions long.
		kgo.SessionTimeout(15 * time.Second),
	}
}

// New builds a sender. Call ClientOpts to build its Kafka client, then Run.
func New(cfg Config, d Deps) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Fence == nil || d.Mailer == nil {
		return nil, errors.New("sender: a fence and a mailer are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = realClock{}
	}
	m := newMetrics(d.Registerer)
	s := &Sender{
		cfg: cfg, fnc: d.Fence, lim: d.Limiter, ses: d.Mailer, log: d.Log, m: m, clk: d.Clock, ctl: d.Control,
		parts: map[string]map[int32]*partition{},
		freed: make(chan struct{}, 1),
	}
	s.gate = newGate(s)
	s.batches = newBatcher(s)
	s.calls = make(chan struct{}, cfg.Concurrency)
	s.fetchCtx, s.stopFetch = context.WithCancel(context.Background())
	s.workCtx, s.stopWork = context.WithCancel(context.Background())
	s.bookCtx, s.stopBook = context.WithCancel(context.Background())
	return s, nil
}

// Ready reports whether the sender is consuming and Redis answers: the
// /readyz check.
func (s *Sender) Ready(ctx context.Context) error {
	if !s.ready.Load() {
		return errors.New("not consuming yet")
	}
	if err := s.fnc.Ping(ctx); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	// A pause (quota, account stopped) is not unreadiness: the pod is
	// healthy and waiting; a failing readiness would only block rollouts.
	return nil
}

// Run consumes until ctx is cancelled, then drains: no new work, in-flight
// sends finish within the drain timeout, finished offsets are committed,
// and the client leaves the group. cl must have been built with
// s.ClientOpts(); Run closes it.
func (s *Sender) Run(ctx context.Context, cl *kgo.Client) error {
	s.cl = cl
	defer s.stopBook()
	defer s.stopWork()
	defer s.stopFetch()
	stopWatch := context.AfterFunc(ctx, s.stopFetch)
	defer stopWatch()

	if err := s.checkRedisAtStart(ctx); err != nil {
		cl.Close()
		return err
	}
	if err := s.gate.start(ctx); err != nil {
		cl.Close()
		return err
	}
	// Kafka answered (the caller built the client and its topics) and SES
	// was read: ready, even with no partitions assigned or nothing to send.
	s.ready.Store(true)

	commitDone := make(chan struct{})
	go func() { defer close(commitDone); s.commitLoop(ctx) }()
	go s.summaryLoop(s.fetchCtx)

	err := s.pollLoop(ctx)

	// Drain: the revoke callback that Close triggers waits for in-flight
	// work (bounded by the drain timeout) and commits what finished.
	s.log.Info("draining", "in_flight", s.inflight.Load(), "timeout", s.cfg.DrainTimeout)
	timer := time.AfterFunc(s.cfg.DrainTimeout, func() {
		s.stopWork()
		time.AfterFunc(s.cfg.BookkeepingTimeout, s.stopBook)
	})
	defer timer.Stop()
	<-commitDone
	// Close leaves the group; its revoke callback waits for in-flight work
	// and commits. Close can also wait on a group join the broker holds
	// until a dead member's session expires: never let that outlast the
	// drain time (Kubernetes would SIGKILL us); unfinished work is simply
	// consumed again and the fence skips what was settled.
	closed := make(chan struct{})
	go func() { cl.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(s.cfg.DrainTimeout + 5*time.Second):
		s.log.Warn("leaving without waiting for the group to acknowledge", "after", s.cfg.DrainTimeout+5*time.Second)
	}
	s.gate.stop()
	s.log.Info("sender stopped", "in_flight", s.inflight.Load())
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Sender) pollLoop(ctx context.Context) error {
	for {
		free := s.cfg.Concurrency*s.cfg.BatchSize - int(s.inflight.Load())
		if free <= 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.freed:
				continue
			}
		}
		fetches := s.cl.PollRecords(ctx, free)
		if fetches.IsClientClosed() {
			return nil
		}
		if ctx.Err() != nil {
			s.cl.AllowRebalance()
			return ctx.Err()
		}
		kafka.LogFetchErrors(fetches, s.log)
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if n := len(ftp.Records); n > 0 && ftp.Topic == s.cfg.Topics.Jobs() {
				last := ftp.Records[n-1]
				s.m.lag.WithLabelValues(fmt.Sprint(ftp.Partition)).Set(float64(ftp.HighWatermark - last.Offset - 1))
			}
			p := s.partition(ftp.Topic, ftp.Partition)
			if p == nil {
				return
			}
			for _, r := range ftp.Records {
				s.inflight.Add(1)
				s.m.inflight.Inc()
				if p.add(r, s.clk.Now()) {
					s.start(p, r)
				}
			}
		})
		s.cl.AllowRebalance()
	}
}

func (s *Sender) start(p *partition, r *kgo.Record) {
	p.running.Add(1)
	go func() {
		defer p.running.Done()
		for r != nil {
			finished := s.process(p, r)
			for !finished && p.ctx.Err() == nil {
				// Not finished while the partition is still ours: run it
				// again, never drop it (the partition could not commit
				// past it, and nobody else would ever send it).
				s.m.reruns.Inc()
				select {
				case <-p.ctx.Done():
				case <-s.clk.After(s.cfg.InfraBackoff):
				}
				if p.ctx.Err() == nil {
					finished = s.process(p, r)
				}
			}
			var next *kgo.Record
			if finished {
				next = p.finish(r)
				s.release(1)
			} else {
				waiting := p.abandon(r)
				s.release(1 + len(waiting))
			}
			r = next
			if r != nil && p.ctx.Err() != nil {
				// The partition is going away: leave the rest for its next owner.
				s.release(1 + len(p.abandon(r)))
				return
			}
		}
	}()
}

func (s *Sender) release(n int) {
	s.inflight.Add(-int64(n))
	s.m.inflight.Sub(float64(n))
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

func (s *Sender) partition(topic string, part int32) *partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[topic][part]
}

func (s *Sender) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range assigned {
		if s.parts[t] == nil {
			s.parts[t] = map[int32]*partition{}
		}
		for _, p := range ps {
			s.parts[t][p] = newPartition(s.fetchCtx, t, p)
		}
	}
	s.log.Info("partitions assigned", "partitions", assigned)
}

// revoked waits for the in-flight work of the revoked partitions (bounded by
// the drain timeout), commits what finished and forgets them.
func (s *Sender) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	gone := s.detach(revoked)
	if len(gone) == 0 {
		return
	}
	for _, p := range gone {
		p.cancel()
	}
	waitAll(gone, s.cfg.DrainTimeout)
	s.commitParts(ctx, gone)
	s.forgetLag(gone)
	s.log.Info("partitions revoked", "partitions", revoked)
}

// lost forgets partitions without committing: another member owns them now.
func (s *Sender) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	gone := s.detach(lost)
	for _, p := range gone {
		p.cancel()
	}
	s.forgetLag(gone)
	s.log.Warn("partitions lost", "partitions", lost)
}

// forgetLag drops the lag series of partitions this instance no longer
// owns, so a stale value does not outlive the move.
func (s *Sender) forgetLag(ps []*partition) {
	for _, p := range ps {
		if p.topic == s.cfg.Topics.Jobs() {
			s.m.lag.DeleteLabelValues(fmt.Sprint(p.part))
		}
	}
}

func (s *Sender) detach(tps map[string][]int32) []*partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*partition
	for t, ps := range tps {
		for _, id := range ps {
			if p := s.parts[t][id]; p != nil {
				out = append(out, p)
				delete(s.parts[t], id)
			}
		}
	}
	return out
}

func waitAll(ps []*partition, limit time.Duration) {
	done := make(chan struct{})
	go func() {
		for _, p := range ps {
			p.running.Wait()
		}
		close(done)
	}()
	t := time.NewTimer(limit + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func (s *Sender) commitLoop(ctx context.Context) {
	lastUnsettled := s.clk.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.clk.After(s.cfg.CommitInterval):
		}
		s.mu.Lock()
		var ps []*partition
		for _, m := range s.parts {
			for _, p := range m {
				ps = append(ps, p)
			}
		}
		s.mu.Unlock()
		s.observeOldest(ps)
		if now := s.clk.Now(); now.Sub(lastUnsettled) >= time.Minute {
			s.m.publishUnsettled()
			lastUnsettled = now
		}
		s.commitParts(ctx, ps)
	}
}

func (s *Sender) commitParts(ctx context.Context, ps []*partition) {
	offs := map[string]map[int32]kgo.EpochOffset{}
	var taken []*partition
	for _, p := range ps {
		if eo, ok := p.take(); ok {
			if offs[p.topic] == nil {
				offs[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offs[p.topic][p.part] = eo
			taken = append(taken, p)
		}
	}
	if len(offs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var cerr error
	s.cl.CommitOffsetsSync(cctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					cerr = fmt.Errorf("commit %s[%d]: error code %d", t.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
	})
	if cerr != nil {
		s.m.commitErrors.Inc()
		s.log.Warn("commit failed; will try again", "err", cerr)
		for _, p := range taken {
			p.untake()
		}
		return
	}
	s.m.commits.Inc()
}

// observeOldest sets the age of the oldest unfinished record: a record that
// stays unfinished holds back its partition's commit, and the alert on this
// gauge says so long before anyone notices the lag.
func (s *Sender) observeOldest(ps []*partition) {
	now := s.clk.Now()
	var oldest time.Duration
	for _, p := range ps {
		if since, ok := p.oldest(); ok && now.Sub(since) > oldest {
			oldest = now.Sub(since)
		}
	}
	s.m.oldest.Set(oldest.Seconds())
}
