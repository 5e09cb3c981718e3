package fence

import (
	"context"
	"fmt"
)

// Verdict is what an SES event says about an attempt.
type Verdict int

// The verdicts.
const (
	// VerdictSent: SES accepted the message (Send, Delivery, Bounce,
	// Complaint, DeliveryDelay events).
	VerdictSent Verdict = iota + 1
	// VerdictFailed: SES did not send it (Reject, RenderingFailure).
	VerdictFailed
)

// Fact is a delivery fact an SES event adds to a sent record. Facts are
// ordered: complained > bounced > delivered > none; a record keeps the
// strongest.
type Fact string

// The facts.
const (
	FactNone       Fact = ""
	FactDelivered  Fact = "delivered"
	FactBounced    Fact = "bounced"
	FactComplained Fact = "complained"
)

// factOrder is the facts by their stored digit.
var factOrder = [...]Fact{FactNone, FactDelivered, FactBounced, FactComplained}

// Event is one SES event about one attempt of one user.
type Event struct {
	Campaign, User, Attempt string
	Verdict                 Verdict
	// MessageID is mail.messageId (VerdictSent).
	MessageID string
	// Reason is the event's reason (VerdictFailed).
	Reason string
	Fact   Fact
}

// SettleOutcome is what Settle did.
type SettleOutcome int

// The outcomes of Settle.
const (
	// Settled: the event changed the record's state (to sent, by the
	// event, or to failed).
	Settled SettleOutcome = iota
	// Already: nothing changed (a duplicate or late event, or an event
	// after a failed verdict, which is final for its attempt).
	Already
	// FactAdded: the record was sent already; only its fact grew.
	FactAdded
	// OtherAttempt: the record belongs to another attempt; nothing was
	// written. A VerdictSent for another attempt of a user who is sent
	// means a real duplicate left SES: count and log it.
	OtherAttempt
	// Unknown: no record (never fenced, erased, or expired); nothing was
	// written.
	Unknown
)

func (o SettleOutcome) String() string {
	switch o {
	case Settled:
		return "settled"
	case Already:
		return "already"
	case FactAdded:
		return "fact_added"
	case OtherAttempt:
		return "other_attempt"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("SettleOutcome(%d)", int(o))
}

// Settlement is the answer of Settle.
type Settlement struct {
	Outcome SettleOutcome
	// Prev and Now are the record before and after (zero when Unknown).
	Prev, Now Record
}

// Settle applies an SES event to the record of its attempt, in one
// script, idempotently (SQS delivers at least once and out of order):
//
//   - no record, or no layout: Unknown.
//   - a record of another attempt, or an event naming none: OtherAttempt,
//     except a VerdictSent over another attempt's claim that was never
//     armed (the resend of an ambiguous attempt declared not sent after
//     ResolveAfter): nothing of that claim left, and the event proves the
//     earlier attempt was accepted, so the record becomes sent for the
//     event's attempt (Settled) and the claim cannot arm.
//   - VerdictFailed: failed with e.Reason, marked ByEvent (Settled), unless
//     already failed (Already). This includes a sent record: a
//     RenderingFailure after acceptance means it was never sent.
//   - VerdictSent over failed: Already (failed is final for the attempt).
//   - VerdictSent over sent: the fact grows to the strongest (FactAdded)
//     or nothing changes (Already).
//   - VerdictSent over any other state of the attempt (claimed, sending,
//     ambiguous, resendable, and the others): sent with e.MessageID and
//     e.Fact, marked ByEvent (Settled). The sender's own MarkSent of the
//     attempt still succeeds afterwards; its MarkAmbiguous, MarkResendable
//     and Release answer ErrNotOwner.
func (f *Fence) Settle(ctx context.Context, e Event) (Settlement, error) {
	if e.Campaign == "" || e.User == "" {
		return Settlement{}, ErrKey
	}
	var verdict, fact string
	switch e.Verdict {
	case VerdictSent:
		verdict = "s"
	case VerdictFailed:
		verdict = "f"
	default:
		return Settlement{}, fmt.Errorf("fence: settle: unknown verdict %d", e.Verdict)
	}
	if e.Fact != FactNone {
		d, ok := factDigits[e.Fact]
		if !ok {
			return Settlement{}, fmt.Errorf("fence: settle: unknown fact %q", e.Fact)
		}
		fact = string(d)
	}
	l, ok, err := f.loadLayout(ctx, false)
	if err != nil || !ok {
		return Settlement{Outcome: Unknown}, err
	}
	key, _ := l.key(f.cfg.Prefix, e.Campaign, e.User)
	var res []any
	err = f.call(ctx, "settle", func(ctx context.Context) error {
		var err error
		res, err = settleScript.Run(ctx, f.rdb, []string{key}, f.leaseNow(), e.User, e.Attempt, verdict,
			packMessageID(e.MessageID), cutReason(e.Reason), fact, ms(f.cfg.Retention)).Slice()
		return err
	})
	if err != nil {
		return Settlement{}, err
	}
	if len(res) != 3 {
		return Settlement{}, fmt.Errorf("fence: settle: unexpected script reply %v", res)
	}
	outcome, _ := res[0].(string)
	var s Settlement
	switch outcome {
	case "unknown":
		return Settlement{Outcome: Unknown}, nil
	case "other":
		s.Outcome = OtherAttempt
	case "already":
		s.Outcome = Already
	case "fact":
		s.Outcome = FactAdded
	case "settled":
		s.Outcome = Settled
	case "bad":
		return Settlement{}, fmt.Errorf("fence: settle %s %s: %w %q", key, e.User, errBadValue, res[1])
	default:
		return Settlement{}, fmt.Errorf("fence: settle: unexpected script outcome %q", outcome)
	}
	prev, _ := res[1].(string)
	now, _ := res[2].(string)
	if s.Prev, err = decodeValue(prev); err != nil {
		return Settlement{}, fmt.Errorf("fence: settle %s %s: %w", key, e.User, err)
	}
	if s.Now, err = decodeValue(now); err != nil {
		return Settlement{}, fmt.Errorf("fence: settle %s %s: %w", key, e.User, err)
	}
	return s, nil
}
