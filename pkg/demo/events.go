package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sendonce/sendonce/pkg/reconcile"
	"github.com/sendonce/sendonce/pkg/sesevents"
)

// demoConfigurationSet names the configuration set of the demo's campaign:
// its (simulated) event destination is what lets the reconciler settle a
// send the senders could not.
const demoConfigurationSet = "sendonce-demo"

// eventFeed stands in for SES's event publishing (configuration set → SNS
// → SQS): for every email the local SES accepts, also one it then answers
// with an error, a Send and a Delivery event go to an in-process queue
// after a short random delay (some twice, some out of order), in SES's
// JSON inside SNS's envelope. The reconciler reads that queue as `sender
// reconcile` reads SQS.
type eventFeed struct {
	queue *reconcile.Memory
	pub   *sesevents.Publisher
	// drop, in tests, loses the events of some emails (a broken feed).
	drop    func(sesevents.Accepted) bool
	dropped atomic.Int64
}

func newEventFeed(o *Options) (*eventFeed, error) {
	q := &reconcile.Memory{Visibility: 10 * time.Second, Wait: 200 * time.Millisecond}
	pub, err := sesevents.NewWithAPI(&reconcile.MemoryTopic{Queue: q}, sesevents.Config{
		TopicARN: "arn:aws:sns:us-east-1:000000000000:sendonce-demo-events",
		MinDelay: o.EventDelay[0], MaxDelay: o.EventDelay[1],
		DuplicateRatio: o.EventDuplicates,
		Rules:          []sesevents.Rule{}, // every email: Send, then Delivery
		Seed:           int64(o.Seed),
		Log:            o.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("the SES event publisher: %w", err)
	}
	return &eventFeed{queue: q, pub: pub, drop: o.dropEvent}, nil
}

// accepted is the local SES's Config.OnAccepted. It never blocks.
func (f *eventFeed) accepted(a sesevents.Accepted) {
	if f.drop != nil && f.drop(a) {
		f.dropped.Add(1)
		return
	}
	f.pub.Accepted(a)
}

// drain waits until every event scheduled so far is published and the
// reconciler has deleted every message from the queue (its effects are
// durable), or ctx ends.
func (f *eventFeed) drain(ctx context.Context) error {
	if err := f.pub.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the SES events to be published: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.queue.Len() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the reconciler did not empty the events queue (%d messages left): %w", f.queue.Len(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// close publishes what is pending at once and stops taking events.
func (f *eventFeed) close(ctx context.Context) error { return f.pub.Close(ctx) }
