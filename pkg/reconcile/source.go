package reconcile

import (
	"context"
	"time"
)

// Source is the events queue. The SQS implementation reads the real queue;
// Memory serves tests and the demo.
type Source interface {
	// Receive waits (long poll) for up to a batch of messages and returns
	// them, possibly none. Each is invisible to other receivers until its
	// visibility timeout passes, then delivered again unless deleted.
	Receive(ctx context.Context) ([]Message, error)
	// Delete removes messages whose effects are durable. An error may
	// leave some of them in the queue: they come back and are settled
	// again, which changes nothing.
	Delete(ctx context.Context, msgs []Message) error
	// Extend keeps messages invisible for d more from now, while a slow
	// batch (a Redis or Kafka outage) is still working on them.
	Extend(ctx context.Context, msgs []Message, d time.Duration) error
}

// Message is one queue message.
type Message struct {
	// ID is the queue's message id (for logs).
	ID string
	// Receipt is the handle Delete and Extend need.
	Receipt string
	Body    []byte
	// SentAt is when the queue first received it (SQS SentTimestamp);
	// zero when unknown.
	SentAt time.Time
	// Receives counts deliveries of the message, this one included
	// (ApproximateReceiveCount).
	Receives int
}
