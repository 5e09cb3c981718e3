package demo

import (
	"fmt"
	"io"
	"sort"
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

	Outbox OutboxCheck
	// Answers are the closing per-user lookup and report.
	Answers Answers
}

// OK reports whether the guarantee held: every valid user exactly one
// email, nobody else any, and every valid user published and sent.
func (r *Report) OK() bool {
	return r.Outbox.OK() && r.Published == r.Valid && r.Sent == r.Valid && r.Status.Complete
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
	row("ambiguous", "%s", num(r.Ambiguous))
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
		fmt.Fprintf(w, "\nOK: every valid user got exactly one email, and no rejected row got any.\n")
		return
	}
	fmt.Fprintf(w, "\nFAILED: the outbox does not hold exactly one email per valid user (see above).\n")
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

// outcomes lists the sender outcomes that happened, biggest first.
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

func firstFew(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}
