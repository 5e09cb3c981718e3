package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
)

// How an in-doubt user was settled, from the latest ledger entry.
const (
	settledByEvent = "by SES event"
	settledResent  = "declared not sent, sent again"
	settledFailed  = "failed"
	settledNot     = "unsettled"
)

// settlement is what the ledger history of one user says of its doubt: when
// it was first reported ambiguous, when that ended and how.
type settlement struct {
	// doubted: the user was in doubt at some point: the ledger said
	// ambiguous, or the reconciler settled its send from an event (in any
	// entry, also one rewritten since).
	doubted bool
	// reported: the ledger said ambiguous at some point.
	reported bool
	// reason is the reason of the first ambiguous entry (why SES may have
	// accepted the email).
	reason string
	// how is one of the settled* constants, from the latest entry.
	how string
	// noReason: settled, but the settling entry names no reason for it.
	noReason bool
	// toSettle is from the first ambiguous entry to the first terminal
	// entry after the last ambiguous one; 0 when either is missing.
	toSettle time.Duration
	final    ledger.Entry
}

// settle reads the ledger history of one user, oldest first (one user's
// entries share a key, so a partition, and keep their order).
func settle(hist []ledger.Entry) settlement {
	var s settlement
	if len(hist) == 0 {
		return s
	}
	s.final = hist[len(hist)-1]
	first, last := -1, -1
	byEvent := false
	for i, e := range hist {
		if e.State == ledger.Ambiguous {
			if first < 0 {
				first = i
				s.reason = e.Reason
			}
			last = i
		}
		byEvent = byEvent || e.Reason == ledger.ReasonSettledByEvent
	}
	s.reported = first >= 0
	// An entry settled_by_event, even one a later entry rewrote, says the
	// send was in doubt.
	s.doubted = s.reported || byEvent
	if !s.doubted {
		return s
	}
	// The settling entry names how: the first terminal entry after the
	// last ambiguous one. Later entries (a redelivered or re-published
	// job meeting the settled fence) repeat the state, not the reason.
	settling := s.final
	for _, e := range hist[last+1:] {
		if e.State.Terminal() {
			settling = e
			break
		}
	}
	switch f := s.final; {
	case f.State == ledger.Sent && (f.Reason == ledger.ReasonSettledByEvent || byEvent):
		s.how = settledByEvent
	case f.State == ledger.Sent:
		s.how = settledResent
		s.noReason = settling.Reason == ""
	case f.State == ledger.Failed || f.State == ledger.DeadLettered || f.State == ledger.Expired:
		s.how = settledFailed
		s.noReason = settling.Reason == ""
	default: // ambiguous, or back in the retry tiers
		s.how = settledNot
		return s
	}
	if first >= 0 {
		for _, e := range hist[last+1:] {
			if e.State.Terminal() {
				s.toSettle = e.At.Sub(hist[first].At)
				break
			}
		}
	}
	return s
}

// settleStats sums the settlements of a run. Users are counted once each,
// whatever the size of the SES call their email went in.
type settleStats struct {
	// before: users in doubt during the run (reported: of them, those the
	// ledger called ambiguous); delivered: of them, those with one email
	// in the store.
	before, reported, delivered int
	// by counts the doubted users per settled* constant; unsettled lists
	// the ones still in doubt at the end.
	by        map[string]int
	unsettled []string
	// noReason lists the settlements whose settling entry names no reason.
	noReason []string
	// times are the times to settle, shortest first, per settled*
	// constant.
	times map[string][]time.Duration
	// causes counts the doubted users by the cause of their first
	// ambiguous entry.
	causes map[string]*[2]int // cause -> {delivered, not}
}

// cause names why a send was in doubt, from the ambiguous entry's reason.
func cause(reason string, reported bool) string {
	switch {
	case !reported:
		return "settled by an event before the ledger said ambiguous"
	case strings.Contains(reason, "lease expired"):
		return "sender gone mid-send (lease expired)"
	case strings.Contains(reason, "ambiguous"):
		return "SES answer after the request was written (5xx, reset)"
	}
	return "other"
}

// add counts one user; emails is how many the store holds for it.
func (st *settleStats) add(id string, s settlement, emails int) {
	if !s.doubted {
		return
	}
	if st.by == nil {
		st.by, st.causes, st.times = map[string]int{}, map[string]*[2]int{}, map[string][]time.Duration{}
	}
	st.before++
	if s.reported {
		st.reported++
	}
	c := cause(s.reason, s.reported)
	if st.causes[c] == nil {
		st.causes[c] = &[2]int{}
	}
	if emails == 1 {
		st.delivered++
		st.causes[c][0]++
	} else {
		st.causes[c][1]++
	}
	st.by[s.how]++
	switch {
	case s.how == settledNot:
		st.unsettled = append(st.unsettled, fmt.Sprintf("%s: ledger %s %s (%d emails)", id, s.final.State, s.final.Reason, emails))
	case s.noReason:
		st.noReason = append(st.noReason, fmt.Sprintf("%s: ledger %s with no reason after %s (%d emails)", id, s.final.State, s.reason, emails))
	}
	if s.toSettle > 0 {
		st.times[s.how] = append(st.times[s.how], s.toSettle)
	}
}

func (st *settleStats) finish() {
	for _, ts := range st.times {
		slices.Sort(ts)
	}
	sort.Strings(st.unsettled)
	sort.Strings(st.noReason)
}

// quantile is the q-quantile of sorted times (nearest rank).
func quantile(ts []time.Duration, q float64) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	i := int(q*float64(len(ts))+0.5) - 1
	return ts[min(max(i, 0), len(ts)-1)]
}

// timesText is the time to settle per way of settling: "by SES event:
// median M, p90 P, max X (N users); ...".
func (st *settleStats) timesText() string {
	r := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	var parts []string
	for _, how := range []string{settledByEvent, settledResent, settledFailed} {
		if ts := st.times[how]; len(ts) > 0 {
			parts = append(parts, fmt.Sprintf("%s: median %s, p90 %s, max %s (%d users)",
				how, r(quantile(ts, 0.5)), r(quantile(ts, 0.9)), r(ts[len(ts)-1]), len(ts)))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ") + " (first ambiguous entry → settling entry)"
}

// byText is the settled users by how, in a fixed order.
func (st *settleStats) byText() string {
	var parts []string
	for _, how := range []string{settledByEvent, settledResent, settledFailed, settledNot} {
		parts = append(parts, fmt.Sprintf("%s %d", how, st.by[how]))
	}
	return strings.Join(parts, ", ")
}

func (st *settleStats) causesText() string {
	var parts []string
	for c, n := range st.causes {
		parts = append(parts, fmt.Sprintf("%s: %d (%d / %d)", c, n[0]+n[1], n[0], n[1]))
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func TestSettle(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	amb := ledger.Entry{State: ledger.Ambiguous, At: at(0), Reason: "ses send (ambiguous, HTTP 503)"}
	lease := ledger.Entry{State: ledger.Ambiguous, At: at(0), Reason: "lease expired while sending"}
	for _, tc := range []struct {
		name     string
		hist     []ledger.Entry
		doubted  bool
		how      string
		noReason bool
		toSettle time.Duration
	}{
		{"plain sent", []ledger.Entry{{State: ledger.Sent, At: at(1)}}, false, "", false, 0},
		{"failed", []ledger.Entry{{State: ledger.Failed, At: at(1), Reason: "rejected"}}, false, "", false, 0},
		{"by event", []ledger.Entry{amb, {State: ledger.Sent, At: at(3), Reason: ledger.ReasonSettledByEvent}}, true, settledByEvent, false, 3 * time.Second},
		{"by event, then a fact", []ledger.Entry{amb, {State: ledger.Sent, At: at(3), Reason: ledger.ReasonSettledByEvent},
			{State: ledger.Sent, At: at(5), Reason: ledger.ReasonSettledByEvent, Fact: ledger.FactDelivered}}, true, settledByEvent, false, 3 * time.Second},
		{"by event before any ambiguous entry", []ledger.Entry{{State: ledger.Sent, At: at(2), Reason: ledger.ReasonSettledByEvent}}, true, settledByEvent, false, 0},
		{"by event before any ambiguous entry, then a redelivery", []ledger.Entry{{State: ledger.Sent, At: at(2), Reason: ledger.ReasonSettledByEvent},
			{State: ledger.Sent, At: at(2)}}, true, settledByEvent, false, 0},
		{"resent after the window", []ledger.Entry{lease, {State: ledger.Retrying, At: at(21)},
			{State: ledger.Sent, At: at(25), Reason: "resolved: no SES event within --resolve-after"}}, true, settledResent, false, 25 * time.Second},
		{"resent, the ledger names no reason", []ledger.Entry{amb, {State: ledger.Sent, At: at(25)}}, true, settledResent, true, 25 * time.Second},
		{"by event, then a redelivery", []ledger.Entry{amb, {State: ledger.Sent, At: at(3), Reason: ledger.ReasonSettledByEvent},
			{State: ledger.Sent, At: at(9)}}, true, settledByEvent, false, 3 * time.Second},
		{"resent, then a redelivery: the settling entry names it", []ledger.Entry{amb, {State: ledger.Sent, At: at(25), Reason: ledger.ReasonResentAfterSilence},
			{State: ledger.Sent, At: at(40)}}, true, settledResent, false, 25 * time.Second},
		{"ambiguous twice, then failed", []ledger.Entry{amb, {State: ledger.Retrying, At: at(21)}, {State: ledger.Ambiguous, At: at(22), Reason: "x"},
			{State: ledger.Failed, At: at(50), Reason: "rejected"}}, true, settledFailed, false, 50 * time.Second},
		{"still ambiguous", []ledger.Entry{amb}, true, settledNot, false, 0},
		{"back in the tiers", []ledger.Entry{amb, {State: ledger.Retrying, At: at(21)}}, true, settledNot, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settle(tc.hist)
			require.Equal(t, tc.doubted, s.doubted)
			require.Equal(t, tc.how, s.how)
			require.Equal(t, tc.noReason, s.noReason)
			require.Equal(t, tc.toSettle, s.toSettle)
		})
	}
}

func TestSettleStats(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	amb := func(reason string) ledger.Entry { return ledger.Entry{State: ledger.Ambiguous, At: t0, Reason: reason} }
	sent := func(s int, reason string) ledger.Entry {
		return ledger.Entry{State: ledger.Sent, At: t0.Add(time.Duration(s) * time.Second), Reason: reason}
	}
	var st settleStats
	st.add("a", settle([]ledger.Entry{amb("ses send (ambiguous, HTTP 503)"), sent(2, ledger.ReasonSettledByEvent)}), 1)
	st.add("b", settle([]ledger.Entry{amb("lease expired"), sent(30, "resolved")}), 1)
	st.add("c", settle([]ledger.Entry{amb("ses send (ambiguous, HTTP 503)")}), 0)
	st.add("d", settle([]ledger.Entry{sent(1, "")}), 1)
	st.add("e", settle([]ledger.Entry{sent(1, ledger.ReasonSettledByEvent)}), 1)
	st.add("f", settle([]ledger.Entry{amb("ses send (ambiguous, HTTP 503)"), sent(4, "")}), 1)
	st.finish()
	require.Equal(t, 5, st.before)
	require.Equal(t, 4, st.reported)
	require.Equal(t, 4, st.delivered)
	require.Equal(t, map[string]int{settledByEvent: 2, settledResent: 2, settledNot: 1}, st.by)
	require.Len(t, st.unsettled, 1)
	require.Contains(t, st.unsettled[0], "c:")
	require.Len(t, st.noReason, 1)
	require.Contains(t, st.noReason[0], "f:")
	require.Equal(t, map[string][]time.Duration{settledByEvent: {2 * time.Second}, settledResent: {4 * time.Second, 30 * time.Second}}, st.times)
	require.Equal(t, 4*time.Second, quantile(st.times[settledResent], 0.5))
	require.Equal(t, 30*time.Second, quantile(st.times[settledResent], 0.9))
	require.Equal(t, 2*time.Second, quantile([]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, 0.5))
	require.Contains(t, st.timesText(), "by SES event: median 2s, p90 2s, max 2s (1 users)")
	require.Equal(t, [2]int{2, 1}, *st.causes["SES answer after the request was written (5xx, reset)"])
}
