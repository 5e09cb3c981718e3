package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// WatchConfig configures Watch.
type WatchConfig struct {
	// Interval is the time between two reads.
	Interval time.Duration
	// Terminal repaints the whole report in place; otherwise one line is
	// printed per interval (logs, pipes, CI).
	Terminal bool
	// After is the clock (time.After when nil).
	After func(time.Duration) <-chan time.Time
	// Now stamps the lines (time.Now when nil).
	Now func() time.Time
}

// Validate names what is wrong.
func (c *WatchConfig) Validate() error {
	if c.Interval <= 0 {
		return errors.New("--interval must be positive")
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// clearScreen moves the cursor home and clears the screen (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// Watch reads the report with read every interval and writes it until the
// campaign is complete or ctx ends (not an error: the operator pressed
// Ctrl-C). A read that fails ends the watch with its error, except a
// timeout of one read, which is reported and retried.
func Watch(ctx context.Context, cfg WatchConfig, w io.Writer, read func(ctx context.Context, now time.Time) (CampaignReport, error)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for {
		now := cfg.Now()
		rep, err := read(ctx, now)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Fprintf(w, "%s status: could not read Kafka in time; trying again in %s\n", now.UTC().Format(time.RFC3339), cfg.Interval)
		case err != nil:
			return err
		case cfg.Terminal:
			fmt.Fprint(w, clearScreen)
			fmt.Fprintf(w, "%s, every %s (Ctrl-C to stop)\n\n", now.Format(time.TimeOnly), cfg.Interval)
			if err := rep.WriteText(w); err != nil {
				return err
			}
		default:
			fmt.Fprintln(w, rep.Line(now))
		}
		if err == nil && rep.Complete {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-cfg.After(cfg.Interval):
		}
	}
}

// Line is the report in one line, for logs.
func (r CampaignReport) Line(now time.Time) string {
	eta := "unknown"
	switch {
	case r.Pending == 0:
		eta = "none pending"
	case r.ETASeconds != nil:
		eta = FormatETA(time.Duration(*r.ETASeconds * float64(time.Second)))
	}
	line := fmt.Sprintf("%s campaign %s: %.1f%% settled, published %d, sent %d, failed %d, retrying %d, dead_lettered %d, expired %d, ambiguous %d, pending %d; %.1f users/s, eta %s, complete %t",
		now.UTC().Format(time.RFC3339), r.Campaign, r.Percent, r.Published, r.Sent, r.Failed, r.Retrying, r.DeadLettered, r.Expired, r.Ambiguous, r.Pending, r.RatePerSecond, eta, r.Complete)
	if len(r.TopReasons) > 0 {
		top := r.TopReasons[0]
		line += fmt.Sprintf("; top reason: %d %s %q", top.Users, top.State, oneLine(top.Reason))
	}
	return line
}
