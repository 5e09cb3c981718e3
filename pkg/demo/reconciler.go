package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/reconcile"
)

// startReconciler wires a reconciler as `sender reconcile` does, on the
// in-process events queue instead of SQS: its own Redis client and fence
// (the same --resolve-after as the senders), its own Kafka client for the
// ledger and DLQ records, and the senders' user-hash key.
func (w *world) startReconciler(ctx context.Context, o *Options) (_ *service, err error) {
	const name = "reconciler"
	rdb := w.redisClient()
	var cl *kgo.Client
	defer func() {
		if err != nil {
			if cl != nil {
				cl.Close()
			}
			rdb.Close()
			err = fmt.Errorf("%s: %w", name, err)
		}
	}()
	fnc, err := fence.New(rdb, fence.Config{Prefix: w.topics.Prefix, Shards: o.Partitions, ResolveAfter: o.ResolveAfter}, nil)
	if err != nil {
		return nil, err
	}
	if cl, err = w.kafkaClient(name); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = reconcile.CheckTopics(tctx, cl, w.topics)
	cancel()
	if err != nil {
		return nil, err
	}
	r, err := reconcile.New(reconcile.Config{Topics: w.topics}, reconcile.Deps{
		Settler: reconcile.FenceSettler{F: fnc}, Producer: cl, Source: w.events.queue,
		UserKey: w.userKey, Log: w.log.With("component", name), Registerer: w.registerer(name),
	})
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return newService(name, stop, func() error {
		defer rdb.Close()
		defer cl.Close()
		return r.Run(rctx)
	}), nil
}
