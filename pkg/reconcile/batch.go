package reconcile

import (
	"context"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// item is one message of a batch and what became of it.
type item struct {
	msg Message
	ev  event
	err error // parse error: the message stays in the queue
	// settled: Settle answered; s is its answer.
	settled bool
	// invalid: the fence refused the event (ErrInvalid): kept, not retried.
	invalid error
	s       Settlement
	ef      effect
}

// batch runs parse → settle → record → delete over one receive.
func (r *Reconciler) batch(ctx context.Context, msgs []Message) {
	items := make([]*item, len(msgs))
	var todo []*item
	for i, m := range msgs {
		ev, err := parse(m.Body, r.key)
		items[i] = &item{msg: m, ev: ev, err: err}
		if err == nil && ev.known && ev.ours {
			todo = append(todo, items[i])
		}
	}
	if len(todo) > 0 {
		stop := r.keepVisible(ctx, todo)
		keys := make([]userKey, len(todo))
		for i, it := range todo {
			keys[i] = userKey{it.ev.settle.Campaign, it.ev.settle.User}
		}
		if release, ok := r.users.lock(ctx, keys); ok {
			r.settleAll(ctx, todo)
			r.record(ctx, todo)
			release()
		}
		stop()
	}
	r.finish(ctx, items)
}

// keepVisible extends the visibility of the batch's messages every half
// visibility timeout until stop is called, so that a batch waiting out a
// Redis or Kafka outage is not delivered to another reconciler meanwhile.
func (r *Reconciler) keepVisible(ctx context.Context, todo []*item) (stop func()) {
	msgs := make([]Message, len(todo))
	for i, it := range todo {
		msgs[i] = it.msg
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-r.clk.After(r.cfg.Visibility / 2):
			}
			start := r.clk.Now()
			err := r.src.Extend(ctx, msgs, r.cfg.Visibility)
			r.observe(callExtend, start, err)
			if err != nil {
				r.warnLimited("extend", "cannot extend the visibility of a slow batch; its messages may be delivered again (harmless: settling twice changes nothing)", err)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// settleAll settles the batch's events, Concurrency at a time. The events
// of one user run in queue order, one after the other, so that their
// ledger records are produced in the order the fence took them.
func (r *Reconciler) settleAll(ctx context.Context, todo []*item) {
	var groups [][]*item
	byUser := map[[2]string]int{}
	for _, it := range todo {
		k := [2]string{it.ev.settle.Campaign, it.ev.settle.User}
		g, ok := byUser[k]
		if !ok {
			g = len(groups)
			byUser[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], it)
	}
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, it := range g {
				s, err := r.settle(ctx, it.ev.settle)
				if errors.Is(err, ErrInvalid) {
					it.invalid = err
					continue
				}
				if err != nil {
					return // ctx ended: the rest stay in the queue
				}
				it.settled, it.s = true, s
				it.ef = r.effects(it.ev, s)
			}
		})
	}
	wg.Wait()
}

// settle calls the fence until it answers, refuses (ErrInvalid) or ctx
// ends.
func (r *Reconciler) settle(ctx context.Context, e SettleEvent) (Settlement, error) {
	for attempt := 0; ; attempt++ {
		start := r.clk.Now()
		s, err := r.set.Settle(ctx, e)
		r.observe(callSettle, start, err)
		if err == nil || errors.Is(err, ErrInvalid) {
			return s, err
		}
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		r.warnLimited("settle", "cannot settle an event in the fence (Redis); retrying, its message stays in the queue", err)
		if !r.wait(ctx, attempt) {
			return s, ctx.Err()
		}
	}
}

// record produces the batch's ledger and DLQ records in one ProduceSync,
// retrying the records that failed until ctx ends. An item whose records
// were not all acknowledged is marked not settled: its message stays.
func (r *Reconciler) record(ctx context.Context, todo []*item) {
	var pending []*kgo.Record
	for _, it := range todo {
		if it.settled {
			pending = append(pending, it.ef.recs...)
		}
	}
	failed := map[*kgo.Record]bool{}
	for attempt := 0; len(pending) > 0; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, r.cfg.ProduceTimeout)
		start := r.clk.Now()
		res := r.prod.ProduceSync(pctx, pending...)
		cancel()
		err := res.FirstErr()
		r.observe(callProduce, start, err)
		if err == nil {
			for _, rec := range pending {
				delete(failed, rec)
			}
			break
		}
		var again []*kgo.Record
		for _, pr := range res {
			if pr.Err != nil {
				again = append(again, pr.Record)
				failed[pr.Record] = true
			} else {
				delete(failed, pr.Record)
			}
		}
		pending = again
		if ctx.Err() != nil {
			break
		}
		r.warnLimited("produce", "cannot write ledger records to Kafka; retrying, their messages stay in the queue", err, "records", len(pending))
		if !r.wait(ctx, attempt) {
			break
		}
	}
	if len(failed) == 0 {
		return
	}
	for _, it := range todo {
		for _, rec := range it.ef.recs {
			if failed[rec] {
				it.settled = false
				break
			}
		}
	}
}

// finish counts every message's outcome and deletes those whose effects
// are durable (and those that are not ours), never an unparsable one.
func (r *Reconciler) finish(ctx context.Context, items []*item) {
	var del []Message
	now := r.clk.Now()
	for _, it := range items {
		switch {
		case it.err != nil:
			r.m.events.WithLabelValues(eventUnparsable, outUnparsable).Inc()
			r.sum.add(outUnparsable)
			if ok, held := r.limit.Allow("unparsable", now); ok {
				r.log.Warn("an events queue message is not an SES event; left in the queue: its redrive policy moves it to the queue's DLQ after maxReceiveCount receives",
					"message_id", it.msg.ID, "receives", it.msg.Receives, "held_back", held, "err", it.err)
			}
			continue
		case it.ev.notEvent || !it.ev.known:
			r.m.events.WithLabelValues(it.ev.label, outIgnored).Inc()
			r.sum.add(outIgnored)
		case !it.ev.ours:
			r.m.events.WithLabelValues(it.ev.label, outOtherSender).Inc()
			r.sum.add(outOtherSender)
		case it.invalid != nil:
			r.m.events.WithLabelValues(it.ev.label, outInvalid).Inc()
			r.sum.add(outInvalid)
			if ok, held := r.limit.Allow("invalid", now); ok {
				r.log.Error("the fence refused an event; left in the queue for its redrive policy to move it to the queue's DLQ: check the fence key",
					"message_id", it.msg.ID, "campaign", it.ev.settle.Campaign, "user", it.ev.settle.User, "event", it.ev.label, "held_back", held, "err", it.invalid)
			}
			continue
		case !it.settled:
			continue // Redis or Kafka did not answer in time: delivered again
		default:
			r.count(it)
		}
		del = append(del, it.msg)
	}
	r.delete(ctx, del)
}

// count records the outcome of one settled event.
func (r *Reconciler) count(it *item) {
	e := it.ev.settle
	r.m.events.WithLabelValues(it.ev.label, it.ef.outcome).Inc()
	r.sum.add(it.ef.outcome)
	for _, f := range it.ef.facts {
		r.m.facts.WithLabelValues(e.Campaign, f).Inc()
	}
	if !it.ef.duplicate {
		return
	}
	r.m.duplicates.Inc()
	if ok, held := r.limit.Allow("duplicate", r.clk.Now()); ok {
		r.log.Error("duplicate email: SES accepted an attempt of a user whose fence another attempt had already sent (see sendonce_reconcile_duplicates_total)",
			"campaign", e.Campaign, "user", e.User, "event", it.ev.label, "attempt", e.Attempt, "sent_attempt", it.s.Now.Attempt,
			"message_id", e.MessageID, "sent_message_id", it.s.Now.MessageID, "held_back", held)
	}
}

// delete removes the messages, trying a few times: a message left behind
// comes back and is settled again, which changes nothing.
func (r *Reconciler) delete(ctx context.Context, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	for attempt := 0; attempt < deleteTries; attempt++ {
		start := r.clk.Now()
		err := r.src.Delete(ctx, msgs)
		r.observe(callDelete, start, err)
		if err == nil {
			r.sum.deleted(len(msgs))
			return
		}
		r.warnLimited("delete", "cannot delete settled messages from the events queue; they will be delivered again and change nothing (check sqs:DeleteMessage)", err, "messages", len(msgs))
		if ctx.Err() != nil || !r.wait(ctx, attempt) {
			return
		}
	}
}

const deleteTries = 3

// pollDLQ reads the events DLQ depth every DLQPollInterval.
func (r *Reconciler) pollDLQ(ctx context.Context) {
	for {
		start := r.clk.Now()
		n, err := r.depth(ctx)
		r.observe(callDLQDepth, start, err)
		if err == nil {
			r.m.dlq.Set(float64(n))
		} else if ctx.Err() == nil {
			r.warnLimited("dlq_depth", "cannot read the depth of the events DLQ (--events-dlq-url; needs sqs:GetQueueAttributes)", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.clk.After(r.cfg.DLQPollInterval):
		}
	}
}
