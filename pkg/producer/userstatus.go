package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// FenceReader reads one fence key. *fence.Fence implements it.
type FenceReader interface {
	Get(ctx context.Context, campaign, user string) (fence.Record, bool, error)
}

// UserReport is what `producer status --campaign ID --user USER` prints:
// the user's latest state, from the ledger (every entry of the user still
// on the compacted topic: its history) and the fence.
type UserReport struct {
	Campaign string `json:"campaign"`
	UserID   string `json:"user_id"`
	// State is the latest ledger state; the fence's state when the ledger
	// has none yet (a send in flight); "pending" for a published user
	// that neither knows.
	State ledger.State `json:"state"`
	// Attempts is how many send attempts the ledger shows: a retrying
	// entry carries the attempts made, a settling one the attempts made
	// before its own.
	Attempts  int    `json:"attempts"`
	MessageID string `json:"message_id"`
	Reason    string `json:"reason"`
	// Fact is what SES's events said of the sent email (delivered,
	// bounced, complained; "" when none arrived), BounceType hard or soft
	// for a bounce: from the latest entry. AttemptID is the fence attempt
	// the latest entry that names one settled (sender reconcile).
	Fact       string `json:"fact"`
	BounceType string `json:"bounce_type"`
	AttemptID  string `json:"attempt_id"`
	// Published is whether a publish run made the user a member; PublishedAt
	// is when the last one did.
	Published   bool       `json:"published"`
	PublishedAt *time.Time `json:"published_at"`
	// FirstAt and LastAt are the times of the first and latest ledger
	// entries.
	FirstAt *time.Time     `json:"first_at"`
	LastAt  *time.Time     `json:"last_at"`
	History []ledger.Entry `json:"history"`
	// Fence is the user's fence key, null when there is none; FenceError
	// says why it could not be read (the rest is still the ledger's).
	Fence      *FenceState `json:"fence"`
	FenceError string      `json:"fence_error,omitempty"`
}

// FenceState is a fence record as the user report shows it.
type FenceState struct {
	State     fence.State `json:"state"`
	At        *time.Time  `json:"at,omitempty"`
	MessageID string      `json:"message_id,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	// LeaseUntil is when an in-flight claim's lease ends.
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
}

// pendingState is the state of a published user nobody recorded yet.
const pendingState ledger.State = "pending"

// UserStatus reads the membership and ledger topics to their ends for the
// records of (campaign, user) and, when f is not nil, the user's fence key.
// A user neither knows is ErrNotFound.
func UserStatus(ctx context.Context, cl *kgo.Client, topics kafka.Topics, f FenceReader, campaign, user string) (UserReport, error) {
	rep := UserReport{Campaign: campaign, UserID: user, History: []ledger.Entry{}}
	if err := ValidateCampaignID(campaign); err != nil {
		return rep, err
	}
	if user == "" {
		return rep, fmt.Errorf("--user is required")
	}
	key := kafka.LedgerKey(campaign, user)
	members := MembersTopic(topics)
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Ledger(), members}, func(r *kgo.Record) error {
		if !bytes.Equal(r.Key, key) {
			return nil
		}
		if r.Topic == members {
			rep.Published, rep.PublishedAt = r.Value != nil, nil
			var m Member
			if r.Value != nil && json.Unmarshal(r.Value, &m) == nil && !m.PublishedAt.IsZero() {
				rep.PublishedAt = &m.PublishedAt
			}
			return nil
		}
		if r.Value == nil { // erased: the history before it is gone
			rep.History = rep.History[:0]
			return nil
		}
		e, err := ledger.Decode(r.Value)
		if err != nil {
			return nil
		}
		rep.History = append(rep.History, e)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading the membership and the ledger: %w", err)
	}
	if f != nil {
		rec, ok, err := f.Get(ctx, campaign, user)
		switch {
		case err != nil:
			rep.FenceError = err.Error()
		case ok:
			rep.Fence = fenceState(rec)
		}
	}
	rep.settle()
	if !rep.Published && len(rep.History) == 0 && rep.Fence == nil {
		return rep, fmt.Errorf("user %q of campaign %q: %w (not published, no ledger entry, no fence key)", user, campaign, ErrNotFound)
	}
	return rep, nil
}

// settle derives the summary fields from the history and the fence.
func (r *UserReport) settle() {
	if n := len(r.History); n > 0 {
		first, last := r.History[0], r.History[n-1]
		r.FirstAt, r.LastAt = &first.At, &last.At
		r.State, r.Reason = last.State, last.Reason
		r.Fact, r.BounceType = last.Fact, last.BounceType
		for _, e := range r.History {
			r.Attempts = max(r.Attempts, attemptsOf(e))
			if e.MessageID != "" {
				r.MessageID = e.MessageID
			}
			if e.AttemptID != "" {
				r.AttemptID = e.AttemptID
			}
		}
	}
	if r.Fence != nil {
		if r.State == "" {
			r.State, r.Reason = ledger.State(r.Fence.State), r.Fence.Reason
		}
		if r.MessageID == "" {
			r.MessageID = r.Fence.MessageID
		}
	}
	if r.State == "" && r.Published {
		r.State = pendingState
	}
}

// attemptsOf is the send attempts an entry shows (see ledgerRecord and
// retryRecords in pkg/sender): a settling entry is written with the job's
// attempts before this one, a retrying entry with the attempts made.
func attemptsOf(e ledger.Entry) int {
	switch e.State {
	case ledger.Sent, ledger.Failed, ledger.Ambiguous, ledger.DeadLettered:
		return e.Attempt + 1
	case ledger.Retrying:
		return e.Attempt
	}
	return 0
}

func fenceState(rec fence.Record) *FenceState {
	fs := &FenceState{State: rec.State, MessageID: rec.MessageID, Reason: rec.Reason}
	if !rec.At.IsZero() {
		at := rec.At.UTC()
		fs.At = &at
	}
	if !rec.Deadline.IsZero() {
		d := rec.Deadline.UTC()
		fs.LeaseUntil = &d
	}
	return fs
}

// WriteJSON writes the report as one JSON object and a newline.
func (r UserReport) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the summary, then the history, one entry a line.
func (r UserReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return oneLine(s)
	}
	fmt.Fprintf(tw, "campaign\t%s\n", r.Campaign)
	fmt.Fprintf(tw, "user\t%s\n", r.UserID)
	fmt.Fprintf(tw, "state\t%s\n", dash(string(r.State)))
	fmt.Fprintf(tw, "attempts\t%d\n", r.Attempts)
	fmt.Fprintf(tw, "message id\t%s\n", dash(r.MessageID))
	fmt.Fprintf(tw, "reason\t%s\n", dash(r.Reason))
	fact := dash(r.Fact)
	if r.BounceType != "" {
		fact += " (" + r.BounceType + ")"
	}
	fmt.Fprintf(tw, "fact\t%s\n", fact)
	fmt.Fprintf(tw, "attempt id\t%s\n", dash(r.AttemptID))
	if r.Published {
		fmt.Fprintf(tw, "published\tyes (last %s)\n", ts(r.PublishedAt))
	} else {
		fmt.Fprintf(tw, "published\tno membership record\n")
	}
	fmt.Fprintf(tw, "first entry\t%s\n", ts(r.FirstAt))
	fmt.Fprintf(tw, "last entry\t%s\n", ts(r.LastAt))
	switch {
	case r.FenceError != "":
		fmt.Fprintf(tw, "fence\tunreadable: %s\n", r.FenceError)
	case r.Fence == nil:
		fmt.Fprintf(tw, "fence\tno key (never claimed, or past its retention)\n")
	default:
		f := r.Fence
		line := string(f.State)
		if f.At != nil {
			line += " at " + ts(f.At)
		}
		if f.LeaseUntil != nil {
			line += ", lease until " + ts(f.LeaseUntil)
		}
		if f.MessageID != "" {
			line += ", message id " + f.MessageID
		}
		if f.Reason != "" {
			line += ", " + oneLine(f.Reason)
		}
		fmt.Fprintf(tw, "fence\t%s\n", line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.History) == 0 {
		return nil
	}
	fmt.Fprintf(w, "history (ledger, oldest first):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range r.History {
		attempt := "-"
		if n := attemptsOf(e); n > 0 {
			attempt = fmt.Sprintf("attempt %d", n)
		}
		fact := "-"
		if e.Fact != "" {
			fact = e.Fact
			if e.BounceType != "" {
				fact += " (" + e.BounceType + ")"
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.State, attempt, dash(e.MessageID), fact, dash(e.Reason))
	}
	return tw.Flush()
}
