// Package ledger is the record of each job's latest state, produced to the
// compacted <prefix>.ledger topic keyed by campaign and user. The sender
// writes every terminal state (and "retrying"), the retrier writes
// dead-lettered and redriven jobs, and `producer status` and
// `sender fence-restore` read it back.
package ledger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// State is a job state as the ledger records it.
type State string

// The states. Terminal ones end a job: a campaign is complete when every
// published job is in one.
const (
	Sent         State = "sent"
	Failed       State = "failed"
	DeadLettered State = "dead_lettered"
	Expired      State = "expired"
	Ambiguous    State = "ambiguous"
	Retrying     State = "retrying"
	Redriven     State = "redriven"
	// Cancelled: the campaign was cancelled (producer cancel) before this
	// user was sent.
	Cancelled State = "cancelled"
)

// Terminal reports whether s ends a job.
func (s State) Terminal() bool {
	switch s {
	case Sent, Failed, DeadLettered, Expired, Ambiguous, Cancelled:
		return true
	}
	return false
}

// Entry is one ledger record.
type Entry struct {
	Campaign  string    `json:"campaign"`
	UserID    string    `json:"user_id"`
	State     State     `json:"state"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	// AttemptID is the fence attempt id the email carried in its
	// "attempt" EmailTag (set by `sender reconcile`).
	AttemptID string `json:"attempt_id,omitempty"`
	// Fact is what SES said happened to a sent email after it accepted
	// it: FactDelivered, FactBounced or FactComplained; empty when no
	// such event arrived (yet).
	Fact string `json:"fact,omitempty"`
	// BounceType is BounceHard or BounceSoft when Fact is FactBounced.
	BounceType string `json:"bounce_type,omitempty"`
}

// ReasonSettledByEvent is the Reason of a sent entry that `sender
// reconcile` settled from SES's own event (the sender's answer was lost,
// or the event came first).
const ReasonSettledByEvent = "settled_by_event"

// ReasonResentAfterSilence is the Reason of a sent entry whose previous
// attempt was ambiguous and got no SES event within --resolve-after: it was
// declared not sent and sent again.
const ReasonResentAfterSilence = "resent_after_resolve_after"

// The facts of a sent entry (Entry.Fact), from SES's events, in the order
// the reconciler never goes back on: a later, lower fact never replaces a
// higher one.
const (
	FactDelivered  = "delivered"
	FactBounced    = "bounced"
	FactComplained = "complained"
)

// The bounce types of a bounced entry (Entry.BounceType): SES's Permanent
// bounce is hard, Transient is soft (Undetermined is kept as soft).
const (
	BounceHard = "hard"
	BounceSoft = "soft"
)

// Record builds the Kafka record of e for the ledger topic.
func Record(topic string, e Entry) (*kgo.Record, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding ledger entry: %w", err)
	}
	return &kgo.Record{Topic: topic, Key: kafka.LedgerKey(e.Campaign, e.UserID), Value: v}, nil
}

// Decode parses a ledger record value.
func Decode(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decoding ledger entry: %w", err)
	}
	if e.Campaign == "" || e.UserID == "" || e.State == "" {
		return e, fmt.Errorf("decoding ledger entry: campaign, user_id and state are required")
	}
	return e, nil
}

// DecodeState parses only the state of a ledger record value, for readers
// that count states over a whole campaign (`producer status`): it skips
// building the rest of the entry, which Decode spends most of its time on.
func DecodeState(b []byte) (State, error) {
	var e struct {
		State State `json:"state"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return "", fmt.Errorf("decoding ledger entry: %w", err)
	}
	if e.State == "" {
		return "", fmt.Errorf("decoding ledger entry: state is required")
	}
	return e.State, nil
}
