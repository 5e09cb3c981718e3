package producer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWatch: one line per read when not on a terminal, a repaint (clear
// screen and the whole report) on one; it ends when the campaign is
// complete, on a read error, or quietly when ctx ends.
func TestWatch(t *testing.T) {
	now := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	fire := make(chan time.Time)
	close(fire) // every wait ends at once: the reads drive the test
	reports := func(pending ...int64) func(context.Context, time.Time) (CampaignReport, error) {
		i := 0
		return func(context.Context, time.Time) (CampaignReport, error) {
			p := pending[i]
			i++
			eta := float64(p) * 2
			return CampaignReport{StatusReport: StatusReport{Campaign: "c", Published: 10, Sent: 10 - p, Pending: p, Complete: p == 0},
				Percent: float64(10-p) * 10, RatePerSecond: 0.5, ETASeconds: &eta}, nil
		}
	}
	cfg := func(terminal bool) WatchConfig {
		return WatchConfig{Interval: time.Second, Terminal: terminal, After: func(time.Duration) <-chan time.Time { return fire }, Now: func() time.Time { return now }}
	}

	var out bytes.Buffer
	require.NoError(t, Watch(context.Background(), cfg(false), &out, reports(6, 3, 0)))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, "until complete")
	require.Equal(t, "2026-11-01T06:00:00Z campaign c: 40.0% settled, published 10, sent 4, failed 0, retrying 0, dead_lettered 0, expired 0, ambiguous 0, pending 6; 0.5 users/s, eta 12s, complete false", lines[0])
	require.Contains(t, lines[2], "100.0% settled")
	require.Contains(t, lines[2], "eta none pending, complete true")
	require.NotContains(t, out.String(), clearScreen)

	out.Reset()
	require.NoError(t, Watch(context.Background(), cfg(true), &out, reports(6, 0)))
	require.Equal(t, 2, strings.Count(out.String(), clearScreen), "one repaint per read")
	require.Contains(t, out.String(), "progress  40.0% settled")
	require.Contains(t, out.String(), "every 1s (Ctrl-C to stop)")

	boom := errors.New("boom")
	err := Watch(context.Background(), cfg(false), &out, func(context.Context, time.Time) (CampaignReport, error) { return CampaignReport{}, boom })
	require.ErrorIs(t, err, boom)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, Watch(ctx, cfg(false), &out, reports(6)), "Ctrl-C is not an error")

	require.Error(t, Watch(context.Background(), WatchConfig{}, &out, reports(0)), "an interval is required")
}
