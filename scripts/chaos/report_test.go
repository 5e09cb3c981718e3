package chaos

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sendonce/sendonce/pkg/sesfault"
)

// report is what one run did and what the store says of every user.
type report struct {
	mode                                   string
	users, rows                            int
	rejectedRecipients                     int
	invalidRows, duplicateRows             int
	rejectsReported                        int
	restarts                               map[string]int
	faults                                 sesfault.Stats
	accepted, recipients                   int
	duplicates, lost, unexpected           []string
	ambiguous                              []ambiguousUser
	rejectedOK                             int
	rejectedBad, ledgerMismatch, statusBad []string
	rejectsBad                             []string
	status                                 statusJSON
	wall, campaign                         time.Duration
	peakAccepted                           int
	meanAccepted                           float64
	crashes, startFails, stopErrors        []string
	events                                 []string
	producerSummary                        string
	planned, fired                         []string
	republished                            int
}

func (rep *report) ambiguousSplit() (delivered, not int) {
	for _, a := range rep.ambiguous {
		if a.delivered {
			delivered++
		} else {
			not++
		}
	}
	return delivered, not
}

// ambiguousByCause splits the ambiguous users by the cause the ledger
// gives: a sender that died between arming the fence and recording the
// answer (its lease expired), or an SES answer that may follow acceptance.
func (rep *report) ambiguousByCause() string {
	type split struct{ delivered, not int }
	causes := map[string]*split{}
	for _, a := range rep.ambiguous {
		cause := "other"
		switch {
		case strings.Contains(a.reason, "lease expired"):
			cause = "sender gone mid-send (lease expired)"
		case strings.Contains(a.reason, "ambiguous"):
			cause = "SES answer after the request was written (5xx, reset)"
		}
		if causes[cause] == nil {
			causes[cause] = &split{}
		}
		if a.delivered {
			causes[cause].delivered++
		} else {
			causes[cause].not++
		}
	}
	var parts []string
	for c, s := range causes {
		parts = append(parts, fmt.Sprintf("%s: %d (%d / %d)", c, s.delivered+s.not, s.delivered, s.not))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func (rep *report) restartsText() string {
	keys := make([]string, 0, len(rep.restarts))
	for k := range rep.restarts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		kind, sig, _ := strings.Cut(k, " ")
		parts = append(parts, fmt.Sprintf("%s %d× %s", kind, rep.restarts[k], sig))
	}
	return strings.Join(parts, ", ")
}

// startFailsText counts the start failures by service and cause (the
// last line the service printed).
func startFailsText(fails []string) string {
	if len(fails) == 0 {
		return "0"
	}
	n := map[string]int{}
	for _, f := range fails {
		name, _, _ := strings.Cut(f, " ")
		lines := strings.Split(strings.TrimSpace(f), "\n")
		n[strings.TrimRight(name, "-0123456789")+": "+lines[len(lines)-1]]++
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%d× %s", v, k))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d (%s)", len(fails), strings.Join(parts, "; "))
}

// table is the run's figures as a Markdown table, followed by the list of
// the ambiguous users (at most limit of them; 0: all).
func (rep *report) table(limit int) string {
	f := rep.faults
	del, not := rep.ambiguousSplit()
	rows := [][2]string{
		{"users (valid, distinct)", fmt.Sprintf("%d, of which %d rejected recipients", rep.users, rep.rejectedRecipients)},
		{"rows in the file", fmt.Sprintf("%d: %d invalid, %d duplicate rows; producer reported %d rejects", rep.rows, rep.invalidRows, rep.duplicateRows, rep.rejectsReported)},
		{"restarts", rep.restartsText() + ", producer rerun to completion"},
		{"exits while starting (started again)", startFailsText(rep.startFails)},
		{"SendEmail calls at the proxy", fmt.Sprintf("%d", f.SendEmail)},
		{"injected: throttled 429 (random)", fmt.Sprintf("%d", f.Throttled)},
		{"injected: 429 over the rate cap", fmt.Sprintf("%d", f.RateCapped)},
		{"injected: 503 not forwarded", fmt.Sprintf("%d", f.Err503)},
		{"injected: 503 after acceptance", fmt.Sprintf("%d", f.AcceptedAfter503)},
		{"injected: MessageRejected", fmt.Sprintf("%d", f.Rejected)},
		{"latency added to every SendEmail", "5–30 ms"},
		{"emails accepted (emulator store)", fmt.Sprintf("%d to %d recipients", rep.accepted, rep.recipients)},
		{"**duplicates**", fmt.Sprintf("**%d**", len(rep.duplicates))},
		{"**lost**", fmt.Sprintf("**%d**", len(rep.lost))},
		{"**ambiguous** (delivered / not delivered)", fmt.Sprintf("**%d** (%d / %d)", len(rep.ambiguous), del, not)},
		{"ambiguous by cause (delivered / not)", rep.ambiguousByCause()},
		{"rejected recipients: no email, failed or dead_lettered", fmt.Sprintf("%d of %d", rep.rejectedOK, rep.rejectedRecipients)},
		{"unexpected recipients (invalid rows sent)", fmt.Sprintf("%d", len(rep.unexpected))},
		{"producer status", fmt.Sprintf("published %d, sent %d, failed %d, dead_lettered %d, ambiguous %d, complete %v",
			rep.status.Published, rep.status.Sent, rep.status.Failed, rep.status.DeadLettered, rep.status.Ambiguous, rep.status.Complete)},
		{"campaign time (first publish → status complete)", rep.campaign.Round(100 * time.Millisecond).String()},
		{"wall time (incl. starting private services)", rep.wall.Round(100 * time.Millisecond).String()},
		{"peak send rate", fmt.Sprintf("%.0f SendEmail/s at the proxy, %d accepted/s; cap %d/s, --max-send-rate %d", f.PeakSendRate, rep.peakAccepted, rateCap, sendRate)},
		{"mean send rate (first to last accepted email)", fmt.Sprintf("%.0f accepted/s", rep.meanAccepted)},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s (%s)\n\n| | |\n| --- | --- |\n", rep.mode, map[string]string{"graceful": "SIGTERM", "hard": "SIGKILL"}[rep.mode])
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	if limit == 0 && len(rep.events) > 0 {
		b.WriteString("\nTimeline:\n\n```\n" + strings.Join(rep.events, "\n") + "\n```\n")
	}
	if len(rep.ambiguous) > 0 {
		b.WriteString("\nAmbiguous users (user: delivered? — reason from the ledger):\n\n")
		for i, a := range rep.ambiguous {
			if limit > 0 && i == limit {
				fmt.Fprintf(&b, "- … %d more\n", len(rep.ambiguous)-i)
				break
			}
			d := "not delivered"
			if a.delivered {
				d = "delivered"
			}
			fmt.Fprintf(&b, "- %s: %s — %s\n", a.id, d, a.reason)
		}
	}
	return b.String()
}

// judge fails the test for every broken promise, listing the users.
func (rep *report) judge(t *testing.T) {
	t.Helper()
	fail := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		shown := list
		if len(shown) > 50 {
			shown = append(shown[:50:50], fmt.Sprintf("… %d more", len(list)-50))
		}
		t.Errorf("%s: %d\n  %s", what, len(list), strings.Join(shown, "\n  "))
	}
	fail("duplicates (more than one email accepted by SES)", rep.duplicates)
	fail("lost (valid, not rejected, no email, not reported ambiguous)", rep.lost)
	fail("unexpected recipients (invalid or duplicate rows, or rejected recipients, that got an email)", rep.unexpected)
	fail("rejected recipients not ending failed/dead_lettered without an email", rep.rejectedBad)
	fail("delivered but the ledger says otherwise", rep.ledgerMismatch)
	fail("producer status disagrees", rep.statusBad)
	fail("producer rejects report", rep.rejectsBad)
	fail("services that exited on their own", rep.crashes)
	fail("services that did not drain and exit 0 on SIGTERM", rep.stopErrors)
	if rep.mode == "graceful" && len(rep.ambiguous) > 0 {
		var list []string
		for _, a := range rep.ambiguous {
			list = append(list, a.id+": "+a.reason)
		}
		fail("ambiguous users in graceful mode", list)
	}
	if !rep.status.Complete {
		t.Errorf("producer status never said complete: %+v", rep.status)
	}
	rep.judgeFaults(t)
}

// judgeFaults checks that the run did what it planned: every one-shot
// fault fired, every kind of process was stopped, the proxy injected its
// faults, and the ambiguous users are no more than what was injected could
// explain: the 5xx answers (ambiguous by definition) and the sends in
// flight in senders that were killed.
func (rep *report) judgeFaults(t *testing.T) {
	t.Helper()
	if strings.Join(rep.fired, ",") != strings.Join(rep.planned, ",") {
		t.Errorf("one-shot faults planned %v, fired %v", rep.planned, rep.fired)
	}
	sig := "SIGTERM"
	if rep.mode == "hard" {
		sig = "SIGKILL"
	}
	for _, kind := range []string{"sender " + sig, "retrier " + sig, "redis " + sig, "redis SIGSTOP", "broker " + sig, "producer " + sig} {
		if rep.restarts[kind] == 0 {
			t.Errorf("planned fault %q never happened (restarts %v)", kind, rep.restarts)
		}
	}
	if rep.faults.Throttled == 0 {
		t.Errorf("the proxy throttled nothing: %+v", rep.faults)
	}
	if rep.republished == 0 {
		t.Errorf("the campaign was not re-published from a second file")
	}
	fivexx := rep.faults.Err503 + rep.faults.AcceptedAfter503 + rep.faults.UpstreamErrors
	if rep.mode == "hard" && fivexx == 0 {
		t.Errorf("hard mode injected no 503: %+v", rep.faults)
	}
	bound := fivexx + rep.restarts["sender SIGKILL"]*concurrency
	if len(rep.ambiguous) > bound {
		t.Errorf("%d ambiguous users, more than the injected faults explain: %d 5xx answers + %d killed senders × %d in flight = %d",
			len(rep.ambiguous), fivexx, rep.restarts["sender SIGKILL"], concurrency, bound)
	}
}
