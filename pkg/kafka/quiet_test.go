package kafka

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/loglimit"
)

// A broker outage repeats the same client warning for every retry: one
// line per message per interval gets through, with the count held back.
func TestClientWarningsAreNotAFlood(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	q := newQuiet(slog.NewTextHandler(&buf, nil))
	q.now = func() time.Time { return now }
	log := slog.New(q).With("component", "kafka")
	for range 50 {
		log.Warn("unable to open connection to broker", "addr", "127.0.0.1:9092")
		log.Error("fetch failed")
		now = now.Add(100 * time.Millisecond)
	}
	now = now.Add(loglimit.Every)
	log.Warn("unable to open connection to broker", "addr", "127.0.0.1:9092")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3, buf.String())
	require.Contains(t, lines[2], "similar_lines_suppressed=49")
	require.Contains(t, lines[2], "component=kafka")
}
