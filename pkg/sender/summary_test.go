package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// tickClock is a clock whose After fires when the test says: tick moves
// now on by d and fires the waiting After.
type tickClock struct {
	mu  sync.Mutex
	now time.Time
	ch  chan time.Time
	// waiting receives when After is called: the loop is ready for a tick.
	waiting chan struct{}
}

func newTickClock() *tickClock {
	return &tickClock{now: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), ch: make(chan time.Time), waiting: make(chan struct{}, 1)}
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *tickClock) After(time.Duration) <-chan time.Time {
	select {
	case c.waiting <- struct{}{}:
	default:
	}
	return c.ch
}

func (c *tickClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *tickClock) tick(d time.Duration) {
	c.advance(d)
	c.ch <- c.Now()
}

// syncBuffer is a bytes.Buffer safe for a logger in another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

// summarySender is a sender with metrics, a JSON log and a tick clock:
// what the summary and the warnings read.
func summarySender(every time.Duration) (*Sender, *syncBuffer, *tickClock) {
	buf := &syncBuffer{}
	clk := newTickClock()
	cfg := DefaultConfig()
	cfg.SummaryInterval = every
	s := &Sender{cfg: cfg, m: newMetrics(nil), clk: clk, log: slog.New(slog.NewJSONHandler(buf, nil))}
	return s, buf, clk
}

func countN(s *Sender, outcome string, n int) {
	for range n {
		s.m.count(outcome)
	}
}

func TestSummaryLine(t *testing.T) {
	s, buf, _ := summarySender(10 * time.Second)
	prev := s.outcomeCounts()
	countN(s, outSent, 5)
	countN(s, outDuplicate, 2)
	countN(s, outFailed, 1)
	countN(s, outDeadLettered, 1)
	countN(s, outThrottled, 3)
	countN(s, outNotSent, 1)
	countN(s, outExpired, 2)
	s.inflight.Store(4)
	s.m.rate.Set(9)
	s.logSummary(s.outcomeCounts(), prev, 10*time.Second)

	lines := buf.lines(t)
	require.Len(t, lines, 1)
	l := lines[0]
	require.Equal(t, "INFO", l["level"])
	require.Equal(t, "last 10s: sent 5 (0.5/s), skipped 2 (already sent), failed 2, throttled 3, retrying 1, expired 2; 4 in flight, limit 9.0/s", l["msg"])
	for k, want := range map[string]float64{"sent": 5, "skipped_duplicate": 2, "failed": 1, "dead_lettered": 1, "throttled": 3, "not_sent": 1,
		"expired": 2, "ambiguous": 0, "in_flight": 4, "send_rate_per_s": 0.5, "rate_limit_per_s": 9, "total_sent": 5} {
		require.Equal(t, want, l[k], k)
	}
	require.Equal(t, "10s", l["interval"], "durations are strings")
}

func TestSummaryLoop(t *testing.T) {
	s, buf, clk := summarySender(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.summaryLoop(ctx) }()

	<-clk.waiting
	countN(s, outSent, 30)
	clk.tick(30 * time.Second)
	<-clk.waiting
	countN(s, outSent, 3)
	countN(s, outDuplicate, 1)
	clk.tick(30 * time.Second)
	<-clk.waiting
	cancel()
	<-done

	lines := buf.lines(t)
	require.Len(t, lines, 2, "one line per interval")
	require.Contains(t, lines[0]["msg"], "last 30s: sent 30 (1.0/s), skipped 0")
	require.Contains(t, lines[1]["msg"], "last 30s: sent 3 (0.1/s), skipped 1", "each line counts its own interval")
	require.Equal(t, 33.0, lines[1]["total_sent"])

	// 0 turns it off: the loop returns at once and logs nothing.
	s, buf, _ = summarySender(0)
	s.summaryLoop(context.Background())
	require.Empty(t, buf.lines(t))
}

func TestWarnFailedRateLimited(t *testing.T) {
	s, buf, clk := summarySender(0)
	r := &kgo.Record{Partition: 2, Offset: 7}
	j := &job.Job{Campaign: "2026-11", UserID: "u1"}
	throttled := &ses.SendError{Class: retry.Throttled, Code: "TooManyRequestsException", Err: errors.New("rate exceeded")}
	rejected := &ses.SendError{Class: retry.Permanent, Code: "MessageRejected", Err: errors.New("Email address is not verified")}
	for range 5 {
		s.warnFailed(r, j, retry.Throttled, 1, "throttled: rate exceeded", throttled)
	}
	s.warnFailed(r, j, retry.Permanent, 1, "MessageRejected: Email address is not verified", rejected)
	clk.advance(11 * time.Second)
	s.warnFailed(r, j, retry.Throttled, 2, "throttled: rate exceeded", throttled)

	lines := buf.lines(t)
	require.Len(t, lines, 3, "one line per reason per interval")
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, string(retry.Throttled), lines[0]["class"])
	require.Equal(t, "TooManyRequestsException", lines[0]["code"])
	require.Equal(t, "throttled: rate exceeded", lines[0]["reason"])
	require.Equal(t, "u1", lines[0]["user"])
	require.Equal(t, 0.0, lines[0]["similar_lines_suppressed"])
	require.Equal(t, string(retry.Permanent), lines[1]["class"])
	require.Equal(t, "MessageRejected: Email address is not verified", lines[1]["reason"])
	require.Equal(t, 4.0, lines[2]["similar_lines_suppressed"], "the four held back are counted")
}

// TestRunningSenderSaysWhatHappens runs a sender whose SES rejects one
// campaign's emails (the wrong-template mistake: every user fails): its
// log has one WARN for the reason, with the held-back count, not one per
// user, and summary lines that count the sent and the failed.
func TestRunningSenderSaysWhatHappens(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{Fault: func(r *sesfake.SendRequest) *sesfake.Fault {
		if len(r.To) > 0 && strings.HasSuffix(r.To[0], "@bad.example") {
			return sesfake.Reject
		}
		return nil
	}})
	e.publish("good", 20, "example.com")
	e.publish("bad", 30, "bad.example")

	buf := &syncBuffer{}
	cfg := e.cfg
	cfg.SummaryInterval = 100 * time.Millisecond
	fnc, err := fence.New(e.rdb, fence.Config{Prefix: e.topics.Prefix}, nil)
	require.NoError(t, err)
	mailer, err := ses.New(context.Background(), ses.Config{}, nil, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(e.sesURL) })
	require.NoError(t, err)
	s, err := New(cfg, Deps{Fence: fnc, Mailer: mailer, Log: slog.New(slog.NewJSONHandler(buf, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, e.client(s.ClientOpts()...)) }()
	waitFor(t, 30*time.Second, "every job settled", func() bool {
		st := e.ledgerStates("bad")
		return srv.Count() >= 20 && len(st) == 30 && len(e.ledgerStates("good")) == 20
	})
	// Settled when written to the ledger; the next summary line counts it.
	n := len(buf.lines(t))
	waitFor(t, 10*time.Second, "a summary line after every job settled", func() bool {
		for _, l := range buf.lines(t)[n:] {
			if l["total_sent"] != nil {
				return true
			}
		}
		return false
	})
	cancel()
	require.NoError(t, <-done)

	var warns, summaries []map[string]any
	var failed float64
	for _, l := range buf.lines(t) {
		switch {
		case l["level"] == "WARN" && l["class"] != nil:
			warns = append(warns, l)
		case l["total_sent"] != nil:
			summaries = append(summaries, l)
			failed += l["failed"].(float64)
		}
	}
	require.Len(t, warns, 1, "30 users failed for one reason within the interval: one line")
	require.Equal(t, string(retry.Permanent), warns[0]["class"])
	require.Equal(t, "MessageRejected", warns[0]["code"])
	require.Contains(t, warns[0]["reason"], "Email address is not verified")
	require.Equal(t, "bad", warns[0]["campaign"])
	require.NotEmpty(t, summaries)
	require.Equal(t, 30.0, failed, "the summary lines count every failure once")
	require.Equal(t, 20.0, summaries[len(summaries)-1]["total_sent"])
}
