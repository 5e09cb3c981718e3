package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// StatusReport counts a campaign's users per state. Its JSON is the
// contract of `producer status --json`: every key always present.
type StatusReport struct {
	Campaign string `json:"campaign"`
	// Published is the number of distinct users of the campaign, across
	// every publish run.
	Published    int64 `json:"published"`
	Sent         int64 `json:"sent"`
	Failed       int64 `json:"failed"`
	Retrying     int64 `json:"retrying"` // retrying or redriven from the DLQ
	DeadLettered int64 `json:"dead_lettered"`
	Expired      int64 `json:"expired"`
	// Ambiguous counts the users not yet settled: SES may have accepted
	// their email and nobody knows yet (sender reconcile settles them from
	// SES's events, or declares them not sent after --resolve-after).
	Ambiguous int64 `json:"ambiguous"`
	// SettledByEvent counts the sent users whose send `sender reconcile`
	// settled from SES's own event (ledger reason settled_by_event).
	SettledByEvent int64 `json:"settled_by_event"`
	// Delivered, Bounced and Complained count the sent users whose latest
	// ledger entry carries that fact from SES's events (a complaint
	// outranks a bounce, which outranks a delivery).
	Delivered  int64 `json:"delivered"`
	Bounced    int64 `json:"bounced"`
	Complained int64 `json:"complained"`
	// Cancelled counts the users a cancel ended before they were sent.
	Cancelled int64 `json:"cancelled"`
	// Control is the operator's decision for the campaign (producer
	// pause|resume|cancel): paused or cancelled; empty while active (the
	// JSON says "active").
	Control string `json:"control"`
	// Pending counts the published users with no terminal state yet: no
	// ledger entry, retrying or redriven.
	Pending int64 `json:"pending"`
	// Complete is true when the last publish run finished and every
	// published user is in a terminal state.
	Complete bool `json:"complete"`

	// Record is the campaign record, nil when there is none.
	Record *CampaignRecord `json:"-"`
	// FromRecord is true for a campaign without membership records (its
	// runs predate them): Published is then the last run's total and every
	// ledger entry of the campaign counts.
	FromRecord bool `json:"-"`
}

func terminal(s ledger.State) bool { return s.Terminal() }

// Status reads the campaign record, the campaign's membership records and
// the ledger (the last entry of each user wins), and counts the members per
// state: a user published by several runs counts once, and ledger entries
// of users who are not members do not count. A campaign nobody published
// reads as all zeros.
func Status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (StatusReport, error) {
	rep, _, err := status(ctx, cl, topics, campaign, time.Now())
	return rep, err
}

// status is Status, and the users it read (nil on error): their reasons
// and activity make the rest of Progress.
func status(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string, now time.Time) (StatusReport, *userStates, error) {
	rep := StatusReport{Campaign: campaign}
	if err := ValidateCampaignID(campaign); err != nil {
		return rep, nil, err
	}
	rec, err := ReadCampaign(ctx, cl, topics, campaign)
	if err != nil {
		return rep, nil, err
	}
	rep.Record = rec
	users, err := readUserStates(ctx, cl, topics, campaign, true, now)
	if err != nil {
		return rep, nil, err
	}
	members, byState := users.count(true)
	rep.Published = members
	if members == 0 && rec != nil && rec.Total > 0 {
		rep.FromRecord = true
		rep.Published = rec.Total
		_, byState = users.count(false)
	}
	byEvent, facts := users.sentFacts(!rep.FromRecord)
	rep.SettledByEvent = byEvent
	rep.Delivered, rep.Bounced, rep.Complained = facts[ledger.FactDelivered], facts[ledger.FactBounced], facts[ledger.FactComplained]
	var settled int64
	for st, n := range byState {
		if terminal(st) {
			settled += n
		}
	}
	rep.Sent, rep.Failed, rep.DeadLettered = byState[ledger.Sent], byState[ledger.Failed], byState[ledger.DeadLettered]
	rep.Expired, rep.Ambiguous = byState[ledger.Expired], byState[ledger.Ambiguous]
	rep.Cancelled = byState[ledger.Cancelled]
	ctl, err := control.Read(ctx, cl, topics)
	if err != nil {
		return rep, nil, err
	}
	if st, ok := ctl[campaign]; ok && st != control.Active {
		rep.Control = string(st)
	}
	rep.Retrying = byState[ledger.Retrying] + byState[ledger.Redriven]
	rep.Pending = max(rep.Published-settled, 0)
	rep.Complete = rep.Published > 0 && rec != nil && rec.Status == StatusPublished && rep.Pending == 0
	return rep, users, nil
}

// WriteJSON writes the report as one JSON object and a newline.
func (r StatusReport) WriteJSON(w io.Writer) error {
	if r.Control == "" {
		r.Control = string(control.Active)
	}
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report as an aligned table.
func (r StatusReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%s\n", r.Campaign)
	switch rec := r.Record; {
	case rec == nil:
		fmt.Fprintf(tw, "publish run\tnone found\n")
	case rec.FinishedAt != nil:
		fmt.Fprintf(tw, "publish run\t%s (%s, finished %s, %d rejected, %d duplicates)\n", rec.Status, rec.Source, rec.FinishedAt.Format(time.RFC3339), rec.Rejected, rec.Duplicates)
	default:
		fmt.Fprintf(tw, "publish run\t%s (%s, started %s, not finished)\n", rec.Status, rec.Source, rec.StartedAt.Format(time.RFC3339))
	}
	if r.FromRecord {
		fmt.Fprintf(tw, "users\tno membership records (published before they existed): published is the last run's total\n")
	}
	for _, row := range []struct {
		name string
		n    int64
		note string
	}{
		{"published", r.Published, ""}, {"sent", r.Sent, ""}, {"failed", r.Failed, ""}, {"retrying", r.Retrying, ""},
		{"dead_lettered", r.DeadLettered, ""}, {"expired", r.Expired, ""},
		{"ambiguous", r.Ambiguous, " (not yet settled)"},
		{"cancelled", r.Cancelled, ""}, {"pending", r.Pending, ""},
	} {
		fmt.Fprintf(tw, "%s\t%d%s\n", row.name, row.n, row.note)
	}
	if r.Control != "" {
		fmt.Fprintf(tw, "control\t%s\n", r.Control)
	}
	fmt.Fprintf(tw, "complete\t%t\n", r.Complete)
	if err := tw.Flush(); err != nil {
		return err
	}
	// What SES's events said of the sent users (sender reconcile), apart:
	// they are part of sent, not states of their own.
	fmt.Fprintf(w, "of sent, from SES events:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range []struct {
		name string
		n    int64
	}{
		{"settled_by_event", r.SettledByEvent}, {"delivered", r.Delivered}, {"bounced", r.Bounced}, {"complained", r.Complained},
	} {
		fmt.Fprintf(tw, "  %s\t%d\n", row.name, row.n)
	}
	return tw.Flush()
}
