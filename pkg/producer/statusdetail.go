package producer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// ErrNotFound is returned by Progress for a campaign with no publish
// run, no member and no ledger entry, and by UserStatus for a user the
// campaign never published and the ledger and the fence do not know:
// `producer status` exits 3.
var ErrNotFound = errors.New("not found")

// RateWindow is how far back Progress looks to measure the rate at
// which users settle.
const RateWindow = 5 * time.Minute

// TopReasons is how many failure reasons Progress lists.
const TopReasons = 5

// CampaignReport is StatusReport (every contract key) with what an
// operator watching a campaign asks next: how far, how fast, when done and
// why users failed. Its JSON adds keys to StatusReport's, renames none.
type CampaignReport struct {
	StatusReport
	// Percent is the share of the published users in a terminal state.
	Percent float64 `json:"percent"`
	// RatePerSecond is how many users settled per second over the last
	// RateWindow (or since the first settled, when that is more recent).
	RatePerSecond float64 `json:"rate_per_second"`
	// ETASeconds is Pending / RatePerSecond; null when nothing settles.
	ETASeconds *float64 `json:"eta_seconds"`
	// LastSettled is when the latest user settled; null when none has.
	LastSettled *time.Time `json:"last_settled"`
	// TopReasons are the most frequent reasons of users not sent, by
	// latest state, most users first.
	TopReasons []ReasonCount `json:"top_reasons"`
}

// ReasonCount is how many users have a latest state with a reason.
type ReasonCount struct {
	State  ledger.State `json:"state"`
	Reason string       `json:"reason"`
	Users  int64        `json:"users"`
}

// Progress is Status with percent, rate, ETA and the top failure
// reasons, measured at now. A campaign nobody published and the ledger
// does not know is ErrNotFound, not zeros.
func Progress(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string, now time.Time) (CampaignReport, error) {
	rep, users, err := status(ctx, cl, topics, campaign, now)
	out := CampaignReport{StatusReport: rep, TopReasons: []ReasonCount{}}
	if err != nil {
		return out, err
	}
	if rep.Record == nil && len(users.m) == 0 {
		return out, fmt.Errorf("campaign %q: %w (no publish run, member or ledger entry under topic prefix %q)", campaign, ErrNotFound, topics.Prefix)
	}
	if rep.Published > 0 {
		out.Percent = 100 * float64(rep.Published-rep.Pending) / float64(rep.Published)
	}
	out.RatePerSecond = users.activity.rate(now)
	if out.RatePerSecond > 0 && rep.Pending > 0 {
		eta := float64(rep.Pending) / out.RatePerSecond
		out.ETASeconds = &eta
	}
	if last := users.activity.last; !last.IsZero() {
		out.LastSettled = &last
	}
	for k, n := range users.reasonCounts(!rep.FromRecord) {
		out.TopReasons = append(out.TopReasons, ReasonCount{State: k.state, Reason: k.reason, Users: n})
	}
	slices.SortFunc(out.TopReasons, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Users, a.Users), cmp.Compare(a.State, b.State), cmp.Compare(a.Reason, b.Reason))
	})
	if len(out.TopReasons) > TopReasons {
		out.TopReasons = out.TopReasons[:TopReasons]
	}
	return out, nil
}

// WriteJSON writes the report as one JSON object and a newline.
func (r CampaignReport) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the counts, then progress, rate, ETA and reasons.
func (r CampaignReport) WriteText(w io.Writer) error {
	if err := r.StatusReport.WriteText(w); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "progress\t%.1f%% settled\n", r.Percent)
	switch {
	case r.RatePerSecond > 0:
		fmt.Fprintf(tw, "rate\t%.1f users/s (last %s)\n", r.RatePerSecond, RateWindow)
	case r.LastSettled != nil:
		fmt.Fprintf(tw, "rate\t0 users/s (last settled %s)\n", r.LastSettled.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(tw, "rate\t0 users/s (none settled yet)\n")
	}
	switch {
	case r.Pending == 0:
		fmt.Fprintf(tw, "eta\tnothing pending\n")
	case r.ETASeconds != nil:
		fmt.Fprintf(tw, "eta\t%s (%d pending)\n", FormatETA(time.Duration(*r.ETASeconds*float64(time.Second))), r.Pending)
	default:
		fmt.Fprintf(tw, "eta\tunknown: nothing settled in the last %s (are the senders running? is the campaign paused?)\n", RateWindow)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.TopReasons) == 0 {
		return nil
	}
	fmt.Fprintf(w, "top reasons (users not sent, by latest state):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, rc := range r.TopReasons {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", rc.Users, rc.State, oneLine(rc.Reason))
	}
	return tw.Flush()
}

// FormatETA rounds d for a person: seconds under an hour, then minutes,
// then hours.
func FormatETA(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Hour).String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// activity counts settling ledger records by second over the rate window
// that ends at the status's now.
type activity struct {
	since       time.Time
	perSecond   map[int64]int64
	first, last time.Time
}

func (a *activity) start(now time.Time) {
	if now.IsZero() {
		return
	}
	a.since = now.Add(-RateWindow)
	a.perSecond = map[int64]int64{}
}

func (a *activity) add(ts time.Time) {
	if a.perSecond == nil || ts.IsZero() {
		return
	}
	if a.first.IsZero() || ts.Before(a.first) {
		a.first = ts
	}
	if ts.After(a.last) {
		a.last = ts
	}
	if !ts.Before(a.since) {
		a.perSecond[ts.Unix()]++
	}
}

// rate is settled records per second between the window's start (or the
// first settled, if later) and now.
func (a *activity) rate(now time.Time) float64 {
	var n int64
	for _, c := range a.perSecond {
		n += c
	}
	if n == 0 {
		return 0
	}
	from := a.since
	if a.first.After(from) {
		from = a.first
	}
	span := now.Sub(from)
	if span < time.Second {
		span = time.Second
	}
	return float64(n) / span.Seconds()
}
