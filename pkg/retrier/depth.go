package retrier

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// depthLoop measures the depth of every tier at once, then each
// DepthInterval, until ctx is done.
func (r *Retrier) depthLoop(ctx context.Context) {
	measure := func() {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.measureDepth(mctx); err != nil && ctx.Err() == nil {
			r.log.Debug("measuring tier depth failed", "err", err)
		}
	}
	measure()
	r.every(ctx, r.cfg.DepthInterval, measure)
}

// measureDepth sets sendonce_retrier_tier_depth{tier} of the listed tiers
// and of the extra tier topics being drained: per partition, the
// high watermark minus the group's committed offset (or minus the log start
// when nothing is committed), summed over the tier's partitions.
func (r *Retrier) measureDepth(ctx context.Context) error {
	depth, err := TierDepth(ctx, kadm.NewClient(r.cl), r.cfg.Group, r.tierTopics())
	if err != nil {
		return err
	}
	for t, n := range depth {
		r.m.depth.WithLabelValues(r.tierLabel(t)).Set(float64(n))
	}
	return nil
}

// TierDepth returns, per topic, the records not yet committed by group.
func TierDepth(ctx context.Context, adm *kadm.Client, group string, topics []string) (map[string]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("fetching offsets of group %s: %w", group, err)
	}
	out := map[string]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			return
		}
		from := int64(0)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok && s.Err == nil {
			from = s.Offset
		}
		if c, ok := committed.Lookup(e.Topic, e.Partition); ok && c.Err == nil && c.At > from {
			from = c.At
		}
		if e.Offset > from {
			out[e.Topic] += e.Offset - from
		} else if _, ok := out[e.Topic]; !ok {
			out[e.Topic] = 0
		}
	})
	return out, nil
}
