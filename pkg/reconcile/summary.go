package reconcile

import (
	"context"
	"sync"
)

// summary counts outcomes between two summary lines.
type summary struct {
	mu      sync.Mutex
	counts  map[string]int
	removed int
}

func (s *summary) add(outcome string) {
	s.mu.Lock()
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[outcome]++
	s.mu.Unlock()
}

func (s *summary) deleted(n int) {
	s.mu.Lock()
	s.removed += n
	s.mu.Unlock()
}

// take returns the counts since the last take and resets them.
func (s *summary) take() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, d := s.counts, s.removed
	s.counts, s.removed = nil, 0
	return c, d
}

func (r *Reconciler) summaries(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.clk.After(r.cfg.SummaryInterval):
		}
		r.logSummary()
	}
}

// logSummary logs one line of what happened since the last one, if
// anything did.
func (r *Reconciler) logSummary() {
	c, deleted := r.sum.take()
	if len(c) == 0 && deleted == 0 {
		return
	}
	attrs := []any{"deleted", deleted}
	for _, o := range outcomeLabels {
		if c[o] > 0 {
			attrs = append(attrs, o, c[o])
		}
	}
	r.log.Info("events reconciled", attrs...)
}
