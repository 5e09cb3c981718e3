package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/loglimit"
)

// Producer writes the ledger and DLQ records. *kgo.Client implements it.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Deps are the reconciler's connections.
type Deps struct {
	// Settler settles fence keys: FenceSettler over the sender's fence.
	Settler Settler
	// Producer writes ledger and DLQ records: the Kafka client.
	Producer Producer
	// Source is the events queue: *SQS, or *Memory in tests and the demo.
	Source Source
	// DLQDepth reads the depth of the events queue's DLQ; nil: not read
	// (sendonce_reconcile_dlq_messages stays 0).
	DLQDepth func(ctx context.Context) (int, error)
	// UserKey is the user-hash key (--user-hash-key-file) that opens the
	// user_ref tag; it must be the senders' key.
	UserKey []byte
	Log     *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock is the time source; nil: the wall clock.
	Clock Clock
}

// Reconciler consumes the events queue and settles sends from it.
type Reconciler struct {
	cfg   Config
	set   Settler
	prod  Producer
	src   Source
	depth func(ctx context.Context) (int, error)
	key   []byte
	log   *slog.Logger
	clk   Clock
	m     *metrics
	limit loglimit.Limiter
	sum   summary
	users userLocks
	// oldest is the oldest message age of each poller's last receive.
	oldestMu sync.Mutex
	oldest   []time.Duration
}

// ErrDeps is returned by New when a required dependency is missing.
var ErrDeps = errors.New("reconcile: missing dependency")

// New validates cfg and builds a Reconciler.
func New(cfg Config, d Deps) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Settler == nil:
		return nil, fmt.Errorf("%w: Settler (the fence)", ErrDeps)
	case d.Producer == nil:
		return nil, fmt.Errorf("%w: Producer (the Kafka client)", ErrDeps)
	case d.Source == nil:
		return nil, fmt.Errorf("%w: Source (the events queue)", ErrDeps)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = realClock{}
	}
	return &Reconciler{cfg: cfg, set: d.Settler, prod: d.Producer, src: d.Source, depth: d.DLQDepth,
		key: d.UserKey, log: d.Log, clk: d.Clock, m: newMetrics(d.Registerer)}, nil
}

// Run consumes the queue until ctx is cancelled, then finishes the
// batches it holds (for up to Config.DrainTimeout) and returns nil. Run
// returns an error only if it cannot start.
func (r *Reconciler) Run(ctx context.Context) error {
	// Work outlives ctx by the drain timeout: a batch whose fence calls
	// are done gets its records written and its messages deleted.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		select {
		case <-done:
		case <-r.clk.After(r.cfg.DrainTimeout):
			cancelWork()
		}
	}()
	var wg sync.WaitGroup
	if r.depth != nil {
		wg.Go(func() { r.pollDLQ(ctx) })
	}
	if r.cfg.SummaryInterval > 0 {
		wg.Go(func() { r.summaries(ctx) })
	}
	for p := range r.cfg.Pollers {
		wg.Go(func() {
			for ctx.Err() == nil {
				msgs := r.receive(ctx, p)
				if len(msgs) > 0 {
					r.batch(work, msgs)
				}
			}
		})
	}
	wg.Wait()
	r.logSummary()
	return nil
}

// receive returns poller p's next messages, waiting out a failing queue.
func (r *Reconciler) receive(ctx context.Context, p int) []Message {
	for attempt := 0; ; attempt++ {
		start := r.clk.Now()
		msgs, err := r.src.Receive(ctx)
		r.observe(callReceive, start, err)
		if err == nil {
			r.setOldest(p, msgs)
			return msgs
		}
		if ctx.Err() != nil {
			return nil
		}
		r.warnLimited("receive", "cannot receive from the events queue; retrying (check the queue URL, sqs:ReceiveMessage on it, and AWS_ENDPOINT_URL_SQS)", err)
		if !r.wait(ctx, attempt) {
			return nil
		}
	}
}

// setOldest records the age of the oldest message of poller p's last
// receive; the gauge is the oldest over the pollers (one poller's empty
// receive does not hide another's backlog).
func (r *Reconciler) setOldest(p int, msgs []Message) {
	var oldest time.Duration
	now := r.clk.Now()
	for _, m := range msgs {
		if !m.SentAt.IsZero() {
			oldest = max(oldest, now.Sub(m.SentAt))
		}
	}
	r.oldestMu.Lock()
	defer r.oldestMu.Unlock()
	if r.oldest == nil {
		r.oldest = make([]time.Duration, r.cfg.Pollers)
	}
	r.oldest[p] = oldest
	r.m.oldest.Set(slices.Max(r.oldest).Seconds())
}

// wait sleeps the backoff of the attempt-th retry; false when ctx ended.
func (r *Reconciler) wait(ctx context.Context, attempt int) bool {
	d := r.cfg.Backoff
	for i := 0; i < attempt && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-r.clk.After(d):
		return true
	}
}

func (r *Reconciler) observe(call string, start time.Time, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	r.m.calls.WithLabelValues(call, res).Observe(r.clk.Now().Sub(start).Seconds())
}

// warnLimited logs a failing call once per loglimit.Every, with the count
// of the lines held back.
func (r *Reconciler) warnLimited(key, msg string, err error, attrs ...any) {
	ok, held := r.limit.Allow(key, r.clk.Now())
	if !ok {
		return
	}
	if held > 0 {
		attrs = append(attrs, "held_back", held)
	}
	r.log.Warn(msg, append(attrs, "err", err)...)
}
