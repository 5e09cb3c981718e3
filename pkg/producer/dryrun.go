package producer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sendonce/sendonce/pkg/source"
)

// maxShownRejects bounds the rejects DryRunReport.WriteText lists; the
// --rejects-file gets every one.
const maxShownRejects = 100

// DryRunReport is what `publish --dry-run` found: what a publish of the
// source would do, and why rows would be rejected.
type DryRunReport struct {
	Campaign   string
	Rows       int64 // rows read
	Valid      int64 // jobs a publish would write
	Rejected   int64 // duplicates not included
	RejectedBy map[Reason]int64
	Duplicates int64
	// Rejects are the first rejects and duplicates, in source order (at
	// most maxShownRejects).
	Rejects []Reject
	Elapsed time.Duration
}

// DryRun reads every row of src and validates it exactly as Publish would
// (row checks, duplicate users), without writing anything to Kafka. Each
// reject also goes to rejectsFile as a JSON line when it is not nil. It
// returns ErrTooManyRejects (with the report) when more rows than
// cfg.MaxRejects would be rejected.
func DryRun(ctx context.Context, cfg PublishConfig, src source.Reader, rejectsFile io.Writer, now func() time.Time) (DryRunReport, error) {
	if now == nil {
		now = time.Now
	}
	started := now()
	rep := DryRunReport{Campaign: cfg.Campaign, RejectedBy: map[Reason]int64{}}
	var file *bufio.Writer
	if rejectsFile != nil {
		file = bufio.NewWriterSize(rejectsFile, 64<<10)
	}
	seen := newUserSet()
	reject := func(row *source.Row, reason Reason, detail string) error {
		if reason == ReasonDuplicateUser {
			rep.Duplicates++
		} else {
			rep.Rejected++
			rep.RejectedBy[reason]++
		}
		rj := newReject(cfg.Campaign, row, reason, detail, now().UTC())
		if len(rep.Rejects) < maxShownRejects {
			rep.Rejects = append(rep.Rejects, rj)
		}
		if file == nil {
			return nil
		}
		v, err := json.Marshal(rj)
		if err == nil {
			_, err = file.Write(append(v, '\n'))
		}
		if err != nil {
			return fmt.Errorf("writing the rejects file: %w", err)
		}
		return nil
	}
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("reading source %s: %w", cfg.Source, err)
		}
		rep.Rows++
		var rerr error
		switch reason, detail := CheckRow(&row); {
		case reason != "":
			rerr = reject(&row, reason, detail)
		case !seen.add(row.UserID):
			rerr = reject(&row, ReasonDuplicateUser, "user_id was already published from an earlier row of this source")
		default:
			rep.Valid++
		}
		if rerr != nil {
			return rep, rerr
		}
	}
	if file != nil {
		if err := file.Flush(); err != nil {
			return rep, fmt.Errorf("writing the rejects file: %w", err)
		}
	}
	rep.Elapsed = now().Sub(started)
	if cfg.MaxRejects >= 0 && rep.Rejected > int64(cfg.MaxRejects) {
		return rep, fmt.Errorf("%w: %d rows would be rejected, --max-rejects is %d: fix the source before publishing", ErrTooManyRejects, rep.Rejected, cfg.MaxRejects)
	}
	return rep, nil
}

// WriteText prints the dry run's summary and its rejects report.
func (r DryRunReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%s\n", r.Campaign)
	fmt.Fprintf(tw, "outcome\tdry run: nothing was published\n")
	fmt.Fprintf(tw, "rows read\t%d\n", r.Rows)
	fmt.Fprintf(tw, "would publish\t%d\n", r.Valid)
	fmt.Fprintf(tw, "rejected\t%d%s\n", r.Rejected, byReason(r.RejectedBy))
	fmt.Fprintf(tw, "duplicates\t%d\n", r.Duplicates)
	fmt.Fprintf(tw, "elapsed\t%s\n", r.Elapsed.Round(time.Millisecond))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Rejects) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nrejects report (row, line, user, reason: detail):\n")
	for _, rj := range r.Rejects {
		fmt.Fprintf(w, "  row %d, line %d, user %q, %s: %s\n", rj.Row, rj.Line, rj.UserID, rj.Reason, rj.Detail)
	}
	if more := r.Rejected + r.Duplicates - int64(len(r.Rejects)); more > 0 {
		fmt.Fprintf(w, "  … and %d more: --rejects-file writes every one\n", more)
	}
	return nil
}
