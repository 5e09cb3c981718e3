package demo

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/retry"
)

// Report is what a demo run did and whether the guarantee held.
type Report struct {
	Campaign string
	// Rows is the number of rows of the generated CSV; Valid the distinct
	// users that must get exactly one email.
	Rows  int
	Valid int
	// Rejected counts the rows the producer rejected, by reason;
	// DuplicateRows the rows that repeated a user id (the first row wins).
	Rejected      map[string]int
	DuplicateRows int
	Published     int

	// Sent, Ambiguous, Failed, DeadLettered and Expired are users by their
	// last ledger state.
	Sent         int
	Ambiguous    int
	Failed       int
	DeadLettered int
	Expired      int
	// Accepted is the number of SendEmail calls the local SES accepted.
	Accepted int
	// Throttled is the send attempts SES answered with a throttle
	// (sender outcome throttled); Retried the jobs the retrier moved back
	// to the jobs topic, by tier.
	Throttled int
	Retried   map[string]int
	// SkippedDuplicate is the jobs the fence stopped because the user was
	// already sent (sender outcome skipped_duplicate).
	SkippedDuplicate int
	// Outcomes are every sender outcome, summed over the instances.
	Outcomes map[string]int

	// Wall is the whole run; Sending is from the start of the publish to
	// the moment every valid user was settled.
	Wall    time.Duration
	Sending time.Duration
	// RateCeiling is the emails/s the senders allowed themselves (SES
	// MaxSendRate × 0.9).
	RateCeiling float64

	// Restarted reports whether sender-2 was stopped and sender-3 started
	// before the end (a small run may finish first).
	Restarted bool
	// Status is `producer status` at the end.
	Status producer.StatusReport

	// Batches is how the senders grouped users into SES calls.
	Batches BatchCounts
	// WantInjected is the number of SES calls to accept and answer with a
	// 503 (Options.AmbiguousCalls); Injected are those that were.
	WantInjected int
	Injected     []InjectedCall
	// Settlement is what SES's events and the reconciler settled.
	Settlement SettlementCounts

	Outbox OutboxCheck
	// Answers are the closing per-user lookup and report.
	Answers Answers
}

// BatchCounts is how the senders grouped users into SES calls
// (sendonce_sender_batch_size, sendonce_sender_bulk_calls_total) and what
// the local SES answered.
type BatchCounts struct {
	// Batches is the batches the senders ran; Users the jobs in them.
	Batches, Users int
	// Sizes counts the batches by size range, smallest first.
	Sizes []SizeCount
	// BulkCalls is the SendBulkEmail calls the senders made;
	// SESBulkAnswered those the local SES answered with per-entry
	// results, SESSendAccepted the SendEmail calls it accepted.
	BulkCalls, SESBulkAnswered, SESSendAccepted int
}

// SizeCount is the number of batches of a size range ("2-5").
type SizeCount struct {
	Size    string
	Batches int
}

// Mean is the mean users per batch.
func (b BatchCounts) Mean() float64 {
	if b.Batches == 0 {
		return 0
	}
	return float64(b.Users) / float64(b.Batches)
}

// InjectedCall is one SES call the local SES accepted and answered with a
// 503.
type InjectedCall struct {
	At time.Time
	// Users are the user ids of its emails, sorted.
	Users []string
}

// SettlementCounts is what the ledger and the reconciler say of the
// ambiguous sends.
type SettlementCounts struct {
	// InjectedUsers is the users of the injected calls; InjectedSettled
	// those the ledger ends sent with a settled_by_event entry; Unsettled
	// the others (sorted by call). SlowestSettle is the longest time from
	// an injected 503 to its user's settled_by_event entry.
	InjectedUsers, InjectedSettled int
	Unsettled                      []string
	SlowestSettle                  time.Duration
	// AmbiguousBefore is the users the ledger ever called ambiguous (the
	// final count is Report.Ambiguous).
	AmbiguousBefore int
	// EventsPublished counts SES's events by type, EventCopies those
	// published twice, EventsLost those the feed lost (tests).
	EventsPublished         map[string]int
	EventCopies, EventsLost int
	// EventOutcomes counts the reconciler's events by outcome (settled,
	// already, fact_added, duplicate...).
	EventOutcomes map[string]int
	// DuplicateEmails is the events proving that a second attempt of a
	// user already sent left SES (sendonce_reconcile_duplicates_total).
	DuplicateEmails int
}

// OK reports whether the guarantee held: every valid user exactly one
// email, nobody else any, every valid user published and sent, and every
// injected "accepted, then 503" settled by its SES event with nothing left
// ambiguous.
func (r *Report) OK() bool {
	s := r.Settlement
	return r.Outbox.OK() && r.Published == r.Valid && r.Sent == r.Valid && r.Status.Complete &&
		len(r.Injected) == r.WantInjected && s.InjectedSettled == s.InjectedUsers && len(s.Unsettled) == 0 &&
		r.Ambiguous == 0 && s.DuplicateEmails == 0
}

// EmailsPerSecond is the sending throughput, publish to settled.
func (r *Report) EmailsPerSecond() float64 {
	if r.Sending <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Sending.Seconds()
}

// WriteText prints the report.
func (r *Report) WriteText(w io.Writer, tiers []time.Duration) {
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "  %-22s %s\n", k, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "\nReport: campaign %s\n", r.Campaign)
	row("users in the CSV", "%s rows", num(r.Rows))
	row("valid users", "%s", num(r.Valid))
	rejected := 0
	for _, n := range r.Rejected {
		rejected += n
	}
	row("rejected rows", "%s%s", num(rejected), byReason(r.Rejected))
	row("duplicate rows", "%s (a user_id seen before: the first row wins)", num(r.DuplicateRows))
	row("published jobs", "%s", num(r.Published))
	row("sent", "%s (ledger); the local SES accepted %s emails", num(r.Sent), num(r.Accepted))
	retried := 0
	for _, n := range r.Retried {
		retried += n
	}
	row("throttled by SES", "%s attempts, each sent again later through the retry tiers", num(r.Throttled))
	row("retries", "%s jobs moved back by the retrier%s", num(retried), byTier(r.Retried, tiers))
	row("duplicates prevented", "%s duplicate rows dropped by the producer, %s redelivered jobs stopped by the fence", num(r.DuplicateRows), num(r.SkippedDuplicate))
	row("sender outcomes", "%s", outcomes(r.Outcomes))
	b := r.Batches
	row("batches", "%s batches of %s users on average (%s); %s SendBulkEmail calls, %s SendEmail accepted",
		num(b.Batches), strconv.FormatFloat(b.Mean(), 'f', 1, 64), sizes(b.Sizes), num(b.BulkCalls), num(b.SESSendAccepted))
	set := r.Settlement
	for _, ic := range r.Injected {
		row("accepted, then 503", "SES accepted %s and answered 503 at %s: %s",
			plural(len(ic.Users), "email"), ic.At.UTC().Format("15:04:05.000"), firstFew(ic.Users, 4))
	}
	if len(r.Injected) < r.WantInjected {
		row("accepted, then 503", "%d of the %d injected calls happened (the run ended first)", len(r.Injected), r.WantInjected)
	}
	row("ambiguous", "%s before settlement, %s after", num(set.AmbiguousBefore), num(r.Ambiguous))
	row("settled by event", "%s (ledger sent, reason settled_by_event); %d of the %d injected users, the slowest %.1fs after its 503",
		plural(int(r.Status.SettledByEvent), "user"), set.InjectedSettled, set.InjectedUsers, set.SlowestSettle.Seconds())
	if len(set.Unsettled) > 0 {
		row("", "not settled by its event: %s", firstFew(set.Unsettled, 5))
	}
	lost := ""
	if set.EventsLost > 0 {
		lost = fmt.Sprintf(", %s lost", num(set.EventsLost))
	}
	row("SES events", "%s (%s published twice%s) through the in-process queue to the reconciler: %s",
		outcomes(set.EventsPublished), num(set.EventCopies), lost, outcomes(set.EventOutcomes))
	row("delivered", "%s (SES Delivery events in the ledger); duplicate emails seen by the reconciler: %d", num(int(r.Status.Delivered)), set.DuplicateEmails)
	row("failed / dead-lettered", "%s / %s", num(r.Failed), num(r.DeadLettered))
	row("wall time", "%.1fs (publish to every user settled: %.1fs)", r.Wall.Seconds(), r.Sending.Seconds())
	row("throughput", "%s emails/s (ceiling %s/s = SES MaxSendRate × 0.9)", num(int(r.EmailsPerSecond()+0.5)), num(int(r.RateCeiling+0.5)))
	var st strings.Builder
	r.Status.WriteJSON(&st)
	row("producer status", "%s", strings.TrimSpace(st.String()))
	o := r.Outbox
	row("outbox", "%s: %s .eml files", o.Dir, num(o.Files))
	row("outbox check", "%s of %s valid users have exactly one email; %d missing, %d duplicated, %d to rejected rows, %d unknown, %d unreadable",
		num(o.Once), num(r.Valid), len(o.Missing), len(o.Duplicated), len(o.Forbidden), len(o.Unknown), len(o.Unreadable))
	for _, l := range []struct {
		what  string
		addrs []string
	}{{"missing", o.Missing}, {"duplicated", o.Duplicated}, {"sent to a rejected row", o.Forbidden}, {"unknown recipient", o.Unknown}, {"unreadable file", o.Unreadable}} {
		if len(l.addrs) > 0 {
			row("", "%s: %s", l.what, firstFew(l.addrs, 5))
		}
	}
	if r.OK() {
		fmt.Fprintf(w, "\nOK: every valid user got exactly one email, no rejected row got any, and every \"accepted, then 503\" was settled by its SES event.\n")
		return
	}
	if !r.Outbox.OK() {
		fmt.Fprintf(w, "\nFAILED: the outbox does not hold exactly one email per valid user (see above).\n")
		return
	}
	fmt.Fprintf(w, "\nFAILED: not every user is sent and settled (see sent, ambiguous and settled by event above).\n")
}

// sizes lists the batch size ranges: "1: 12, 41-50: 180".
func sizes(l []SizeCount) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = s.Size + ": " + num(s.Batches)
	}
	if len(parts) == 0 {
		return "none"
	}
	return "sizes " + strings.Join(parts, ", ")
}

func byReason(m map[string]int) string {
	var parts []string
	for k, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", k, num(n)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// outcomes lists the counts that are not zero, biggest first ("sent 9,970,
// throttled 734").
func outcomes(m map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range m {
		if n > 0 {
			l = append(l, kv{k, n})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].k < l[j].k })
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = x.k + " " + num(x.n)
	}
	return strings.Join(parts, ", ")
}

func byTier(m map[string]int, tiers []time.Duration) string {
	var parts []string
	for _, d := range tiers {
		name := retry.TierName(d)
		if n := m[name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s after %s", num(n), name))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// plural is "1 email", "2 emails".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return num(n) + " " + noun + "s"
}

func firstFew(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}
