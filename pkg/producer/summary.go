package producer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the end-of-run summary as an aligned table.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%s\n", s.Campaign)
	if s.Interrupted {
		fmt.Fprintf(tw, "outcome\tinterrupted: rerun to finish\n")
	}
	fmt.Fprintf(tw, "rows read\t%d\n", s.Rows)
	fmt.Fprintf(tw, "published\t%d\n", s.Published)
	fmt.Fprintf(tw, "rejected\t%d%s\n", s.Rejected, byReason(s.RejectedBy))
	fmt.Fprintf(tw, "duplicates\t%d\n", s.Duplicates)
	if s.Previous != nil {
		fmt.Fprintf(tw, "previous run\t%s, started %s\n", s.Previous.Status, s.Previous.StartedAt.Format(time.RFC3339))
	}
	if s.AlreadySent >= 0 {
		fmt.Fprintf(tw, "already sent\t%d\n", s.AlreadySent)
	}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Published) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(tw, "elapsed\t%s (%.0f jobs/s)\n", s.Elapsed.Round(time.Millisecond), rate)
	return tw.Flush()
}

func byReason(m map[Reason]int64) string {
	var parts []string
	for _, r := range Reasons {
		if n := m[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
