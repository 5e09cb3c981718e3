package retrier

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// assigned marks the retrier ready: franz-go calls it after every join,
// even with nothing new. A partition gets its state and worker from the
// poll loop with its first records (the client may join before Run); any
// state left for a newly assigned partition is from an earlier ownership
// (lost without a revoke) and is dropped, uncommitted.
func (r *Retrier) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if stale := r.detach(assigned); len(stale) > 0 {
		for _, p := range stale {
			p.cancel()
		}
		r.halt(stale, r.cfg.DrainTimeout)
		for _, p := range stale {
			p.release()
		}
	}
	r.noteTiers(assigned)
	r.ready.Store(true)
	if len(assigned) > 0 {
		r.log.Info("partitions assigned", "partitions", assigned)
	}
}

// revoked stops the workers of the revoked partitions (each finishes its
// produce in flight, bounded by the drain timeout), commits what was
// acknowledged and drops their buffers: the records not yet moved are
// fetched again by the next owner from the committed offset.
func (r *Retrier) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	gone := r.detach(revoked)
	if len(gone) == 0 {
		return
	}
	r.halt(gone, r.cfg.DrainTimeout)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r.commit(cctx, gone)
	for _, p := range gone {
		p.release()
	}
	r.log.Info("partitions revoked", "partitions", revoked)
}

// lost forgets partitions without committing: the generation is gone and
// another member may own them already.
func (r *Retrier) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	gone := r.detach(lost)
	for _, p := range gone {
		p.cancel()
	}
	r.halt(gone, r.cfg.DrainTimeout)
	for _, p := range gone {
		p.release()
	}
	if len(gone) > 0 {
		r.log.Warn("partitions lost", "partitions", lost)
	}
}
