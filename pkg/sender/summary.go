package sender

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
)

// DefaultSummaryInterval is how often the sender logs its summary line
// (--summary-interval).
const DefaultSummaryInterval = 30 * time.Second

// summaryLoop logs one line every interval (cfg.SummaryInterval; 0: never)
// until ctx ends: what the sender did since the last line (sent, skipped,
// failed, throttled, and every other outcome), its send rate, the shared
// limiter's rate and the jobs in flight. The counters are the
// sendonce_sender_jobs_total series: the line and the dashboard agree.
func (s *Sender) summaryLoop(ctx context.Context) {
	every := s.cfg.SummaryInterval
	if every <= 0 {
		return
	}
	prev := s.outcomeCounts()
	last := s.clk.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.clk.After(every):
		}
		now := s.clk.Now()
		cur := s.outcomeCounts()
		s.logSummary(cur, prev, now.Sub(last))
		prev, last = cur, now
	}
}

// outcomeCounts reads the jobs counter per outcome.
func (s *Sender) outcomeCounts() map[string]int64 {
	out := make(map[string]int64, len(outcomes))
	for _, o := range outcomes {
		out[o] = int64(gaugeValue(s.m.outcome[o]))
	}
	return out
}

// The summary's columns: outcomes that fold into "failed" and "retrying".
var (
	summaryFailed   = []string{outFailed, outDeadLettered, outMalformed, outPolicy}
	summaryRetrying = []string{outNotSent, outBusy}
	summaryNamed    = map[string]bool{outSent: true, outDuplicate: true, outThrottled: true, outFailed: true, outDeadLettered: true, outMalformed: true, outPolicy: true, outNotSent: true, outBusy: true}
)

// logSummary writes the line for the counts cur, prev elapsed apart.
func (s *Sender) logSummary(cur, prev map[string]int64, elapsed time.Duration) {
	d := func(names ...string) int64 {
		var n int64
		for _, o := range names {
			n += cur[o] - prev[o]
		}
		return n
	}
	sent := d(outSent)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(sent) / elapsed.Seconds()
	}
	inflight := s.inflight.Load()
	limit := gaugeValue(s.m.rate)
	var b strings.Builder
	fmt.Fprintf(&b, "last %s: sent %d (%.1f/s), skipped %d (already sent), failed %d, throttled %d, retrying %d", elapsed.Round(time.Second), sent, rate, d(outDuplicate), d(summaryFailed...), d(outThrottled), d(summaryRetrying...))
	attrs := []any{
		"interval", elapsed.Round(time.Millisecond).String(), "sent", sent, "skipped_duplicate", d(outDuplicate),
		"failed", d(outFailed), "dead_lettered", d(outDeadLettered), "malformed", d(outMalformed), "policy_refused", d(outPolicy),
		"throttled", d(outThrottled), "not_sent", d(outNotSent), "busy", d(outBusy),
	}
	for _, o := range outcomes {
		if !summaryNamed[o] {
			attrs = append(attrs, o, d(o))
			if n := d(o); n > 0 {
				fmt.Fprintf(&b, ", %s %d", o, n)
			}
		}
	}
	fmt.Fprintf(&b, "; %d in flight", inflight)
	if limit > 0 {
		fmt.Fprintf(&b, ", limit %.1f/s", limit)
	}
	attrs = append(attrs, "send_rate_per_s", rate, "rate_limit_per_s", limit, "in_flight", inflight, "total_sent", cur[outSent])
	s.log.Info(b.String(), attrs...)
}

// gaugeValue reads a counter's or a gauge's value.
func gaugeValue(c interface{ Write(*dto.Metric) error }) float64 {
	if c == nil {
		return 0
	}
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.GetGauge().GetValue()
}

// warnFailed logs a send SES did not accept: its class, the SES error code
// and the reason, once per interval per (class, code) with how many alike
// were held back, so an outage that fails every job is a line every few
// seconds, not one per email.
func (s *Sender) warnFailed(r *kgo.Record, j *job.Job, class retry.Class, attempt int, reason string, sendErr error) {
	code := ""
	var se *ses.SendError
	if errors.As(sendErr, &se) {
		code = se.Code
	}
	key := "send:" + string(class) + ":" + code
	if code == "" {
		key += ":" + firstWords(reason, 60)
	}
	ok, held := s.logs.Allow(key, s.clk.Now())
	if !ok {
		return
	}
	s.jobLog(r, j).Warn("send failed: "+string(class)+" ("+string(retry.ActionFor(class))+")", "class", string(class), "code", code,
		"reason", reason, "attempt", attempt, "action", string(retry.ActionFor(class)), "similar_lines_suppressed", held)
}

func firstWords(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
