package reconcile

import (
	"context"
	"errors"
	"time"
)

// Settler settles a user's fence key from one SES event. The fence does it
// (fence.Fence.Settle) through an adapter; tests use a fake.
type Settler interface {
	// Settle applies e to the key of (e.Campaign, e.User) and says what it
	// did. An error is an infrastructure failure (Redis): the event is
	// tried again, never dropped; unless it wraps ErrInvalid.
	Settle(ctx context.Context, e SettleEvent) (Settlement, error)
}

// ErrInvalid is wrapped by a Settler's error that trying again cannot fix
// (a key holding a value the fence did not write, an event the fence
// refuses). The message is not retried and not deleted: the queue's
// redrive policy moves it to the queue's DLQ, where an operator sees it.
var ErrInvalid = errors.New("the fence refused the event")

// Verdict is what an event says of the attempt it names.
type Verdict int

// The verdicts.
const (
	// VerdictSent: SES accepted the email (Send, Delivery, Bounce,
	// Complaint, DeliveryDelay, Open, Click).
	VerdictSent Verdict = iota + 1
	// VerdictFailed: SES will not deliver it (Reject, Rendering Failure).
	VerdictFailed
)

func (v Verdict) String() string {
	switch v {
	case VerdictSent:
		return "sent"
	case VerdictFailed:
		return "failed"
	}
	return "unknown"
}

// Fact is what SES says became of a sent email. The fence keeps the
// highest: FactNone < FactDelivered < FactBounced < FactComplained.
type Fact string

// The facts; their values are the ledger's (ledger.FactDelivered, ...).
const (
	FactNone       Fact = ""
	FactDelivered  Fact = "delivered"
	FactBounced    Fact = "bounced"
	FactComplained Fact = "complained"
)

// SettleEvent is one event as the fence needs it.
type SettleEvent struct {
	Campaign, User, Attempt string
	Verdict                 Verdict
	// MessageID is SES's message id (mail.messageId).
	MessageID string
	// Reason says why, for VerdictFailed.
	Reason string
	Fact   Fact
}

// Outcome is what Settle did.
type Outcome int

// The outcomes.
const (
	// Settled: the key took the event's verdict (an ambiguous, in-flight or
	// failed-by-rendering key became sent or failed).
	Settled Outcome = iota + 1
	// Already: the key already says what the event says; nothing changed.
	Already
	// FactAdded: a sent key of this attempt gained a higher fact.
	FactAdded
	// OtherAttempt: the key belongs to another attempt of the user.
	OtherAttempt
	// Unknown: no key (never claimed here, expired, or erased).
	Unknown
)

// State is a fence key's state, with fence.State's values ("sent",
// "failed", "ambiguous", ...): the reconciler compares only these two.
type State string

// The states the reconciler acts on.
const (
	StateSent   State = "sent"
	StateFailed State = "failed"
)

// Record is a fence key's content as the reconciler reads it.
type Record struct {
	State     State
	Attempt   string
	MessageID string
	Reason    string
	Fact      Fact
	// ByEvent: the key was settled from an event, not by the sender.
	ByEvent bool
	At      time.Time
}

// Settlement is Settle's answer: the outcome and the key before and after.
type Settlement struct {
	Outcome   Outcome
	Prev, Now Record
}
