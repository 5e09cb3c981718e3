package demo

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints the live line and the events of the run. On a terminal it
// repaints one line; otherwise it prints a line every few seconds, so that a
// log file stays short.
type progress struct {
	w           io.Writer
	interactive bool
	start       time.Time

	mu      sync.Mutex
	last    string // the line on screen (interactive) or last printed
	samples []sample
}

type sample struct {
	at   time.Time
	sent int
}

// snapshot is what the line shows.
type snapshot struct {
	published, valid, sent, retrying, ambiguous, settled int
	// limit is the senders' current emails/s (0: not known yet).
	limit float64
}

func newProgress(w io.Writer, interactive bool, start time.Time) *progress {
	return &progress{w: w, interactive: interactive, start: start}
}

// rate is the emails/s over about the last second.
func (p *progress) rate(now time.Time, sent int) float64 {
	p.samples = append(p.samples, sample{now, sent})
	i := 0
	for i < len(p.samples)-1 && now.Sub(p.samples[i+1].at) >= time.Second {
		i++
	}
	p.samples = p.samples[i:]
	first := p.samples[0]
	if d := now.Sub(first.at); d > 0 {
		return float64(sent-first.sent) / d.Seconds()
	}
	return 0
}

// update shows s; print says whether to print a line (non-interactive).
func (p *progress) update(now time.Time, s snapshot, print bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rate(now, s.sent)
	limit := "-"
	if s.limit > 0 {
		limit = num(int(s.limit+0.5)) + "/s"
	}
	amb := ""
	if s.ambiguous > 0 {
		amb = "  ambiguous " + num(s.ambiguous)
	}
	line := fmt.Sprintf("%5.1fs  published %s/%s  sent %s  retrying %s%s  %s emails/s (limit %s)",
		now.Sub(p.start).Seconds(), num(s.published), num(s.valid), num(s.sent), num(s.retrying), amb, num(int(r+0.5)), limit)
	if p.interactive {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.last = line
		return
	}
	if print && line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

// event prints a line above the progress line.
func (p *progress) event(now time.Time, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("%5.1fs  ", now.Sub(p.start).Seconds()) + fmt.Sprintf(format, args...)
	if p.interactive {
		fmt.Fprint(p.w, "\r\033[K"+msg+"\n"+p.last)
		return
	}
	fmt.Fprintln(p.w, msg)
}

// finish ends the live line.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interactive && p.last != "" {
		fmt.Fprintln(p.w)
		p.last = ""
	}
}

// num writes n with thousands separators.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
