package retrier

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// FormatRedriveReport is the text `retrier redrive` prints: what it did,
// then one line per kind of skip that happened, each saying why.
func FormatRedriveReport(rep RedriveReport, fenceRetention time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d dead-lettered records, %d matched: %d redriven\n", rep.Read, rep.Matched, rep.Redriven)
	line := func(n int, format string, args ...any) {
		if n > 0 {
			fmt.Fprintf(&b, "  %d skipped: "+format+"\n", append([]any{n}, args...)...)
		}
	}
	line(rep.SkippedTooOld, "dead-lettered more than --fence-retention %s ago; their fence keys may have expired: check the ledger, then redrive them with --force", fenceRetention)
	if rep.SkippedLedger > 0 {
		states := make([]string, 0, len(rep.SkippedLedgerStates))
		for s, n := range rep.SkippedLedgerStates {
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(states)
		line(rep.SkippedLedger, "the ledger's latest state is not failed or dead_lettered (%s)", strings.Join(states, ", "))
	}
	line(rep.SkippedAlreadySent, "the ledger or the fence says sent")
	line(rep.SkippedSettled, "the fence says ambiguous or expired")
	line(rep.SkippedDuplicate, "the same user earlier in this redrive")
	line(rep.SkippedLate, "dead-lettered while this redrive ran; run it again")
	line(rep.SkippedMalformed, "not a job")
	return b.String()
}
