package producer

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sendonce/sendonce/pkg/source"
)

// paintEvery is how often the terminal progress line is repainted at most.
const paintEvery = 200 * time.Millisecond

// progress reports a run while it goes: a line repainted in place on a
// terminal, or a log line every interval otherwise.
type progress struct {
	p       *publisher
	out     io.Writer
	log     *slog.Logger
	started time.Time
	quit    chan struct{}
	wg      sync.WaitGroup
}

func startProgress(p *publisher, d Deps, every time.Duration, log *slog.Logger) *progress {
	pr := &progress{p: p, out: d.Progress, log: log, started: time.Now(), quit: make(chan struct{})}
	interval := every
	if pr.out != nil {
		interval = paintEvery
	}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-pr.quit:
				return
			case <-t.C:
				pr.report(false)
			}
		}
	}()
	return pr
}

func (pr *progress) stop() {
	close(pr.quit)
	pr.wg.Wait()
	if pr.out != nil {
		pr.report(true)
	}
}

// snapshot is the state shown.
type snapshot struct {
	rows, published, rejected, duplicates int64
	rate                                  float64 // rows per second
	mbps                                  float64 // MiB of the source per second; 0: unknown
	percent                               float64 // -1: unknown
	eta                                   time.Duration
}

func (pr *progress) snapshot() snapshot {
	p := pr.p
	s := snapshot{rows: p.rows.Load(), published: p.published.Load(), rejected: p.rejected.Load(), duplicates: p.duplicates.Load(), percent: -1}
	el := time.Since(pr.started)
	if el > 0 {
		s.rate = float64(s.rows) / el.Seconds()
	}
	if pg, ok := p.d.Source.(source.Progresser); ok {
		if done, total := pg.Progress(); total > 0 && done > 0 {
			s.percent = 100 * float64(done) / float64(total)
			s.mbps = float64(done) / (1 << 20) / el.Seconds()
			s.eta = time.Duration(float64(el) * float64(total-done) / float64(done))
		}
	}
	return s
}

func (pr *progress) report(final bool) {
	s := pr.snapshot()
	if pr.out == nil {
		args := []any{"rows", s.rows, "published", s.published, "rejected", s.rejected, "duplicates", s.duplicates, "rows_per_second", int64(s.rate)}
		if s.percent >= 0 {
			args = append(args, "percent", int(s.percent), "mb_per_second", float64(int(s.mbps*10))/10, "eta", s.eta.Round(time.Second).String())
		}
		pr.log.Info("publishing", args...)
		return
	}
	line := fmt.Sprintf("rows %d  published %d  rejected %d  duplicates %d  %.0f rows/s", s.rows, s.published, s.rejected, s.duplicates, s.rate)
	if s.percent >= 0 && !final {
		line += fmt.Sprintf("  %.1f MB/s  %.0f%%  ETA %s", s.mbps, s.percent, s.eta.Round(time.Second))
	}
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(pr.out, "\r\033[K%s%s", line, end)
}
