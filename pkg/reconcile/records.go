package reconcile

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// HeaderDLQSource marks a DLQ record that is not a job: the reconciler's
// record of an email SES rejected or could not render after it left the
// sender. Its value is a DLQEntry; `retrier redrive` cannot re-send it (the
// job body is not known here) and counts it as skipped_malformed.
const HeaderDLQSource = "sendonce-dlq-source"

// DLQSourceReconcile is the HeaderDLQSource value of the reconciler.
const DLQSourceReconcile = "reconcile"

// DLQEntry is the value of the reconciler's DLQ records.
type DLQEntry struct {
	Campaign  string    `json:"campaign"`
	UserID    string    `json:"user_id"`
	AttemptID string    `json:"attempt_id"`
	MessageID string    `json:"message_id,omitempty"`
	Event     string    `json:"event"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// Facts are counted so that their ratios are SES's rates: "sent" once per
// Send event of a sent key (SES publishes one per email; an SQS
// redelivery counts twice), delivered, bounced and complained when the
// fence takes them (once per user).

// effect is what one settlement asks for: records to produce, the outcome
// label and the facts to count.
type effect struct {
	recs      []*kgo.Record
	outcome   string
	facts     []string
	duplicate bool
}

// effects turns a settlement into records. What an event settled is
// written again when an event of the same kind comes back (Already): a
// crash between Settle and the produce left it unwritten, and the ledger is
// compacted on the user, so writing it twice changes nothing. A late event
// of a lower kind (a Send after a Delivery) writes nothing: the entry it
// would write is older than the one in the ledger.
func (r *Reconciler) effects(ev event, s Settlement) effect {
	e := ev.settle
	switch s.Outcome {
	case Settled:
		ef := effect{outcome: outSettled, recs: r.fromRecord(ev, s.Now)}
		if s.Now.State == StateSent {
			if ev.label == "Send" {
				ef.facts = append(ef.facts, factSent)
			}
			if s.Now.Fact != FactNone && s.Now.Fact != s.Prev.Fact {
				ef.facts = append(ef.facts, string(s.Now.Fact))
			}
		}
		return ef
	case FactAdded:
		ef := effect{outcome: outFactAdded, recs: r.fromRecord(ev, s.Now)}
		if s.Now.Fact != FactNone {
			ef.facts = []string{string(s.Now.Fact)}
		}
		return ef
	case Already:
		ef := effect{outcome: outAlready}
		if (s.Now.ByEvent || s.Now.Fact != FactNone) && madeBy(ev, s.Now) {
			ef.recs = r.fromRecord(ev, s.Now)
		}
		if ev.label == "Send" && s.Now.State == StateSent {
			ef.facts = []string{factSent}
		}
		return ef
	case OtherAttempt:
		if e.Verdict == VerdictSent && s.Now.State == StateSent {
			return effect{outcome: outDuplicate, duplicate: true}
		}
		return effect{outcome: outOtherAttempt}
	default:
		return effect{outcome: outUnknown}
	}
}

// fromRecord is the ledger entry (and, for a failure, the DLQ record) of a
// key an event settled or added a fact to.
func (r *Reconciler) fromRecord(ev event, now Record) []*kgo.Record {
	e := ev.settle
	at := now.At
	if at.IsZero() {
		at = r.clk.Now()
	}
	at = at.UTC()
	msgID := now.MessageID
	if msgID == "" {
		msgID = e.MessageID
	}
	attempt := now.Attempt
	if attempt == "" {
		attempt = e.Attempt
	}
	entry := ledger.Entry{Campaign: e.Campaign, UserID: e.User, At: at, MessageID: msgID, AttemptID: attempt}
	switch now.State {
	case StateSent:
		entry.State = ledger.Sent
		if now.ByEvent {
			entry.Reason = ledger.ReasonSettledByEvent
		}
		entry.Fact = string(now.Fact)
		if now.Fact == FactBounced && ev.kind.fact == FactBounced {
			entry.BounceType = ev.bounceType
		}
	case StateFailed:
		entry.State = ledger.Failed
		entry.Reason = job.Truncate(orDefault(now.Reason, e.Reason))
	default:
		return nil
	}
	lr, err := ledger.Record(r.cfg.Topics.Ledger(), entry)
	if err != nil { // an Entry of strings always encodes
		panic(err)
	}
	if now.State != StateFailed {
		return []*kgo.Record{lr}
	}
	return []*kgo.Record{lr, r.dlqRecord(ev, entry)}
}

func (r *Reconciler) dlqRecord(ev event, entry ledger.Entry) *kgo.Record {
	v, err := json.Marshal(DLQEntry{Campaign: entry.Campaign, UserID: entry.UserID, AttemptID: entry.AttemptID,
		MessageID: entry.MessageID, Event: ev.label, Reason: entry.Reason, At: entry.At})
	if err != nil {
		panic(err)
	}
	// Keyed like a job (the user id), so that `producer erase` finds it.
	d := &kgo.Record{Topic: r.cfg.Topics.DLQ(), Key: []byte(entry.UserID), Value: v}
	job.SetHeader(d, job.HeaderCampaign, entry.Campaign)
	job.SetHeader(d, job.HeaderDLQReason, retry.ReasonPermanent)
	job.SetHeader(d, job.HeaderErrorClass, string(retry.Permanent))
	job.SetHeader(d, job.HeaderLastError, entry.Reason)
	job.SetHeader(d, job.HeaderDeadLettered, strconv.FormatInt(r.clk.Now().UnixMilli(), 10))
	job.SetHeader(d, HeaderDLQSource, DLQSourceReconcile)
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// madeBy reports whether an event like ev makes a key what now is: the
// same verdict, and for a sent key the same fact.
func madeBy(ev event, now Record) bool {
	switch now.State {
	case StateFailed:
		return ev.settle.Verdict == VerdictFailed
	case StateSent:
		return ev.settle.Verdict == VerdictSent && ev.settle.Fact == now.Fact
	}
	return false
}
