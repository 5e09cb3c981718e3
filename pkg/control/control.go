// Package control is per-campaign control: an operator pauses, resumes or
// cancels one campaign (producer pause|resume|cancel), the decision is a
// record of the compacted <prefix>.control topic, keyed by campaign, and
// every sender follows that topic (Watcher) and applies it within seconds.
//
// A paused campaign's jobs are parked: a sender moves each one it meets to
// <prefix>.parked, untouched (no fence claim, no attempt used), so that
// nothing waits behind them. Resume and cancel publish the campaign's parked
// jobs again; the senders then send them, or end them cancelled.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// State is what the operator decided for a campaign.
type State string

// The states. A campaign without a record is Active.
const (
	Active    State = "active"
	Paused    State = "paused"
	Cancelled State = "cancelled"
)

// ParseState parses pause/resume/cancel words and state names.
func ParseState(s string) (State, error) {
	switch State(strings.ToLower(strings.TrimSpace(s))) {
	case Active, "resume", "resumed":
		return Active, nil
	case Paused, "pause":
		return Paused, nil
	case Cancelled, "cancel", "canceled":
		return Cancelled, nil
	}
	return "", fmt.Errorf("control: unknown state %q (active, paused or cancelled)", s)
}

// Record is one control decision.
type Record struct {
	Campaign string    `json:"campaign"`
	State    State     `json:"state"`
	At       time.Time `json:"at"`
}

// ErrCancelled is returned by Set when a cancelled campaign is paused or
// resumed: cancel is final.
var ErrCancelled = errors.New("control: the campaign was cancelled; cancel is final")

// Set records the campaign's state and waits until the broker has it.
// Cancel is final: a cancelled campaign cannot be paused or resumed.
func Set(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string, st State, now time.Time) error {
	if campaign == "" {
		return errors.New("control: a campaign id is required")
	}
	if st != Cancelled {
		cur, err := Read(ctx, cl, topics)
		if err != nil {
			return err
		}
		if cur[campaign] == Cancelled {
			return fmt.Errorf("%w (campaign %s)", ErrCancelled, campaign)
		}
	}
	v, err := json.Marshal(Record{Campaign: campaign, State: st, At: now.UTC()})
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: topics.Control(), Key: []byte(campaign), Value: v}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("control: recording %s %s on %s: %w", campaign, st, topics.Control(), err)
	}
	return nil
}

// Read returns every campaign's latest state.
func Read(ctx context.Context, cl *kgo.Client, topics kafka.Topics) (map[string]State, error) {
	out := map[string]State{}
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Control()}, func(r *kgo.Record) error {
		apply(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("control: reading %s: %w", topics.Control(), err)
	}
	return out, nil
}

// apply folds one control record into states; a record that does not
// decode is ignored (it changes nothing).
func apply(states map[string]State, r *kgo.Record) {
	if r.Value == nil {
		delete(states, string(r.Key))
		return
	}
	var rec Record
	if err := json.Unmarshal(r.Value, &rec); err != nil || rec.Campaign == "" {
		return
	}
	if rec.State == Active {
		delete(states, rec.Campaign)
		return
	}
	states[rec.Campaign] = rec.State
}
