package retrier

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commit commits, for each of ps, the offset after its last acknowledged
// record, if it moved. Commits are serialized; a failed one is tried again
// by the next tick (or lost with the partition, which only re-moves jobs).
func (r *Retrier) commit(ctx context.Context, ps []*partition) {
	if r.noCommit.Load() {
		return
	}
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	offs := map[string]map[int32]kgo.EpochOffset{}
	var taken []*partition
	for _, p := range ps {
		eo, ok := p.take()
		if !ok {
			continue
		}
		if offs[p.topic] == nil {
			offs[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offs[p.topic][p.part] = eo
		taken = append(taken, p)
	}
	if len(taken) == 0 {
		return
	}
	var cerr error
	r.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = fmt.Errorf("committing %s[%d]: %w", t.Topic, p.Partition, err)
				}
			}
		}
	})
	if cerr != nil {
		r.m.commitErrors.Inc()
		if ok, held := r.logs.Allow("commit", r.clk.Now()); ok {
			r.log.Warn("commit failed; will try again", "err", cerr, "similar_lines_suppressed", held)
		}
		return
	}
	for _, p := range taken {
		p.markCommitted(offs[p.topic][p.part].Offset)
	}
	r.m.commits.Inc()
}
