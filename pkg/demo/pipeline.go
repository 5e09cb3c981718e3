package demo

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/retrier"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sender"
)

// service is one running sender or retrier, as a pod would be: its own
// connections, its own Run, stopped by cancelling its context (SIGTERM).
type service struct {
	name     string
	cancel   context.CancelFunc
	exited   chan struct{} // closed when Run returned
	err      error         // what Run returned, once exited is closed
	stopping atomic.Bool
}

func newService(name string, cancel context.CancelFunc, run func() error) *service {
	s := &service{name: name, cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(s.exited)
		s.err = run()
	}()
	return s
}

// stop cancels the service and waits for its drain.
func (s *service) stop() error {
	s.stopping.Store(true)
	s.cancel()
	<-s.exited
	if s.err != nil {
		return fmt.Errorf("%s: %w", s.name, s.err)
	}
	return nil
}

// stopAll stops the services at once and waits for every drain.
func stopAll(svcs []*service) error {
	for _, s := range svcs {
		s.stopping.Store(true)
		s.cancel()
	}
	var errs []error
	for _, s := range svcs {
		errs = append(errs, s.stop())
	}
	return errors.Join(errs...)
}

// failed reports why the service stopped by itself, or nil while it runs.
func (s *service) failed() error {
	if s.stopping.Load() {
		return nil
	}
	select {
	case <-s.exited:
		return fmt.Errorf("%s stopped on its own: %w", s.name, errors.Join(s.err, errStoppedEarly))
	default:
		return nil
	}
}

// stopAllBut stops every service but the one named keep, at once, and
// returns the services still running.
func stopAllBut(svcs []*service, keep string) ([]*service, error) {
	var stop, left []*service
	for _, s := range svcs {
		if s.name == keep {
			left = append(left, s)
		} else {
			stop = append(stop, s)
		}
	}
	return left, stopAll(stop)
}

var errStoppedEarly = errors.New("Run returned before the demo stopped it")

// rateLimit is the senders' current shared rate as sender-1's limiter last
// saw it: the ceiling from SES, lowered after throttles.
func (w *world) rateLimit() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limiter == nil {
		return 0
	}
	return w.limiter.Rate()
}

func (w *world) policy(o *Options) retry.Policy {
	p := retry.DefaultPolicy()
	p.Tiers = o.Tiers
	p.MaxAttempts = o.MaxAttempts
	return p
}

// startSender wires a sender as `sender run` does, with the production
// defaults except the retry tiers, the batch size and --resolve-after: its
// own Redis client, fence (one shard per partition), shared rate limiter,
// SES client and Kafka client in the sender group. The rate ceiling is left
// to SES GetAccount × 0.9. Its user-hash key is the reconciler's.
func (w *world) startSender(ctx context.Context, o *Options, name string) (*service, error) {
	cfg := sender.DefaultConfig()
	cfg.Topics = w.topics
	cfg.Policy = w.policy(o)
	cfg.BatchSize = o.BatchSize
	cfg.ResolveAfter = o.ResolveAfter
	cfg.UserHashKey = w.userKey
	// The embedded Redis (miniredis) has no CONFIG to show its eviction
	// policy; it never evicts.
	cfg.EvictionCheck = sender.EvictionWarn
	rdb := w.redisClient()
	fnc, err := fence.New(rdb, fence.Config{Prefix: w.topics.Prefix, OnAbandoned: cfg.OnAmbiguous, Shards: o.Partitions, ResolveAfter: o.ResolveAfter}, nil)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	lim, err := ratelimit.New(rdb, ratelimit.Config{Key: w.topics.Prefix + ":rate", Rate: cfg.MaxSendRate}, nil)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	w.mu.Lock()
	if w.limiter == nil {
		w.limiter = lim
	}
	w.mu.Unlock()
	reg := w.registerer(name)
	mailer, err := w.sesClient(ctx, reg)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("%s: SES client: %w", name, err)
	}
	log := w.log.With("component", name)
	s, err := sender.New(cfg, sender.Deps{Fence: fnc, Limiter: lim, Mailer: mailer, Log: log, Registerer: reg})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	cl, err := w.kafkaClient(name, s.ClientOpts()...)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return newService(name, cancel, func() error {
		defer rdb.Close()
		return s.Run(rctx, cl)
	}), nil
}

// startRetrier wires a retrier as `retrier run` does, with the demo's tiers.
func (w *world) startRetrier(ctx context.Context, o *Options) (*service, error) {
	const name = "retrier"
	cfg := retrier.DefaultConfig()
	cfg.Topics = w.topics
	cfg.Policy = w.policy(o)
	cfg.Partitions = o.Partitions
	r, err := retrier.New(cfg, retrier.Deps{Log: w.log.With("component", name), Registerer: w.registerer(name)})
	if err != nil {
		return nil, err
	}
	cl, err := w.kafkaClient(name, r.ClientOpts()...)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return newService(name, cancel, func() error { return r.Run(rctx, cl) }), nil
}
