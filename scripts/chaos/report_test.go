package chaos

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sendonce/sendonce/pkg/sesevents"
	"github.com/sendonce/sendonce/pkg/sesfault"
)

// report is what one run did and what the store says of every user.
type report struct {
	mode, sig                              string
	batch, rateCap                         int
	withEvents                             bool
	published                              sesevents.Stats // the event publisher's, with events
	settle                                 settleStats
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
	st := &rep.settle
	del, not := rep.ambiguousSplit()
	rows := [][2]string{
		{"users (valid, distinct)", fmt.Sprintf("%d, of which %d rejected recipients", rep.users, rep.rejectedRecipients)},
		{"rows in the file", fmt.Sprintf("%d: %d invalid, %d duplicate rows; producer reported %d rejects", rep.rows, rep.invalidRows, rep.duplicateRows, rep.rejectsReported)},
		{"restarts", rep.restartsText() + ", producer rerun to completion"},
		{"exits while starting (started again)", startFailsText(rep.startFails)},
		{"SES calls at the proxy", fmt.Sprintf("%d SendEmail, %d SendBulkEmail (%d entries); senders' --batch-size %d", f.SendEmail, f.SendBulkEmail, f.BulkEntries, rep.batch)},
		{"injected: throttled 429 (random)", fmt.Sprintf("%d calls", f.Throttled)},
		{"injected: 429 over the rate cap", fmt.Sprintf("%d calls", f.RateCapped)},
		{"injected: 503 not forwarded", fmt.Sprintf("%d calls", f.Err503)},
		{"injected: 503 after acceptance", fmt.Sprintf("%d SendEmail, %d bulk entries", f.AcceptedAfter503, f.BulkAcceptedAfter503)},
		{"injected: MessageRejected", fmt.Sprintf("%d SendEmail, %d bulk entries", f.Rejected, f.BulkRejected)},
		{"latency added to every call", "5–30 ms"},
		{"SES events (SNS → SQS in moto)", rep.eventsText()},
		{"emails accepted (emulator store)", fmt.Sprintf("%d to %d recipients", rep.accepted, rep.recipients)},
		{"**duplicates**", fmt.Sprintf("**%d**", len(rep.duplicates))},
		{"**lost**", fmt.Sprintf("**%d**", len(rep.lost))},
		{"**ambiguous before settlement** (one email in the end / none)", fmt.Sprintf("**%d** (%d / %d); the ledger said ambiguous for %d",
			st.before, st.delivered, st.before-st.delivered, st.reported)},
		{"ambiguous before settlement, by cause (one email in the end / none)", st.causesText()},
		{"settled (latest ledger entry)", st.byText()},
		{"time to settle (ledger timestamps)", st.timesText()},
		{"settlements whose ledger entry names no reason", fmt.Sprintf("%d", len(st.noReason))},
		{"**ambiguous after settlement** (delivered / not delivered)", fmt.Sprintf("**%d** (%d / %d)", len(rep.ambiguous), del, not)},
		{"rejected recipients: no email, failed or dead_lettered", fmt.Sprintf("%d of %d", rep.rejectedOK, rep.rejectedRecipients)},
		{"unexpected recipients (invalid rows sent)", fmt.Sprintf("%d", len(rep.unexpected))},
		{"producer status", fmt.Sprintf("published %d, sent %d (settled_by_event %d, delivered %d), failed %d, dead_lettered %d, ambiguous %d, complete %v",
			rep.status.Published, rep.status.Sent, rep.status.SettledByEvent, rep.status.Delivered, rep.status.Failed, rep.status.DeadLettered, rep.status.Ambiguous, rep.status.Complete)},
		{"campaign time (first publish → status complete)", rep.campaign.Round(100 * time.Millisecond).String()},
		{"wall time (incl. starting private services)", rep.wall.Round(100 * time.Millisecond).String()},
		{"peak send rate", fmt.Sprintf("%.0f emails/s at the proxy, %d accepted/s; cap %d/s, --max-send-rate %d", f.PeakSendRate, rep.peakAccepted, rep.rateCap, sendRate)},
		{"mean send rate (first to last accepted email)", fmt.Sprintf("%.0f accepted/s", rep.meanAccepted)},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s (%s, --batch-size %d)\n\n| | |\n| --- | --- |\n", rep.mode, rep.sig, rep.batch)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	if limit == 0 && len(rep.events) > 0 {
		b.WriteString("\nTimeline:\n\n```\n" + strings.Join(rep.events, "\n") + "\n```\n")
	}
	if len(st.unsettled) > 0 {
		b.WriteString("\nUnsettled users (in doubt during the run, not settled at the end):\n\n- " + strings.Join(limited(st.unsettled, limit), "\n- ") + "\n")
	}
	if len(st.noReason) > 0 {
		b.WriteString("\nSettlements whose ledger entry names no reason:\n\n- " + strings.Join(limited(st.noReason, limit), "\n- ") + "\n")
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

// eventsText is what the event publisher did, or "off".
func (rep *report) eventsText() string {
	if !rep.withEvents {
		return "off"
	}
	p := rep.published
	return fmt.Sprintf("%d accepted emails told, %d events published (%d Send, %d Delivery; %d second copies), %d publishes failed; --resolve-after %s",
		p.Accepted, total(p.Published), p.Published[sesevents.Send], p.Published[sesevents.Delivery], p.Duplicates, p.Failed, resolveAfter)
}

func total(m map[sesevents.Type]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// limited is list cut to limit entries (0: all), with a last line saying
// how many more.
func limited(list []string, limit int) []string {
	if limit == 0 || len(list) <= limit {
		return list
	}
	return append(list[:limit:limit], fmt.Sprintf("… %d more", len(list)-limit))
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
	if rep.sig == "SIGTERM" && len(rep.ambiguous) > 0 {
		var list []string
		for _, a := range rep.ambiguous {
			list = append(list, a.id+": "+a.reason)
		}
		fail("ambiguous users in graceful mode", list)
	}
	if rep.withEvents {
		var list []string
		for _, a := range rep.ambiguous {
			list = append(list, a.id+": "+a.reason)
		}
		fail("ambiguous users at the end (SES's events or --resolve-after must settle every one)", list)
		fail("users in doubt during the run and not settled at the end", rep.settle.unsettled)
		fail("settlements whose latest ledger entry names no reason", rep.settle.noReason)
	}
	if !rep.status.Complete {
		t.Errorf("producer status never said complete: %+v", rep.status)
	}
	rep.judgeFaults(t)
}

// judgeFaults checks that the run did what it planned: every one-shot
// fault fired, every kind of process was stopped, the proxy injected its
// faults, and the users ambiguous before settlement are no more than what
// was injected could explain: the 5xx answers (ambiguous by definition)
// and the sends in flight in senders that were killed.
func (rep *report) judgeFaults(t *testing.T) {
	t.Helper()
	if strings.Join(rep.fired, ",") != strings.Join(rep.planned, ",") {
		t.Errorf("one-shot faults planned %v, fired %v", rep.planned, rep.fired)
	}
	sig := rep.sig
	kinds := []string{"sender " + sig, "retrier " + sig, "redis " + sig, "redis SIGSTOP", "broker " + sig, "producer " + sig}
	if rep.withEvents {
		kinds = append(kinds, "reconcile "+sig)
		if rep.published.Accepted == 0 {
			t.Errorf("the event publisher was told of no accepted email: %+v", rep.published)
		}
	}
	for _, kind := range kinds {
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
	f := rep.faults
	fivexx := f.Err503 + f.AcceptedAfter503 + f.BulkAcceptedAfter503 + f.UpstreamErrors
	if rep.sig == "SIGKILL" && fivexx == 0 {
		t.Errorf("hard mode injected no 503: %+v", f)
	}
	// A 5xx to a SendBulkEmail call makes each of its entries ambiguous:
	// a 503 before SES or an upstream error up to --batch-size users, a
	// 503 after acceptance the entries accepted (counted per entry). A
	// killed sender may hold --concurrency calls in flight.
	perCall := (f.Err503 + f.UpstreamErrors) * rep.batch
	bound := perCall + f.AcceptedAfter503 + f.BulkAcceptedAfter503 + rep.restarts["sender SIGKILL"]*concurrency*rep.batch
	if rep.settle.before > bound {
		t.Errorf("%d users ambiguous before settlement, more than the injected faults explain: (%d 503s before SES + %d upstream errors) × --batch-size %d + %d accepted-then-503 + %d killed senders × %d calls in flight × --batch-size %d = %d",
			rep.settle.before, f.Err503, f.UpstreamErrors, rep.batch, f.AcceptedAfter503+f.BulkAcceptedAfter503, rep.restarts["sender SIGKILL"], concurrency, rep.batch, bound)
	}
}
