package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ErrGroupNotEmpty is returned by Replay while senders are still in the
// group: offsets of a live group cannot be reset.
var ErrGroupNotEmpty = errors.New("the sender group still has active members")

// ReplayTarget says where Replay moves the group: to the earliest offset, or
// to the first offset at or after a time.
type ReplayTarget struct {
	Earliest bool
	Time     time.Time
}

// Replay resets the sender group's committed offsets on the jobs topic. It
// sends nothing itself; the fence makes the replayed jobs skip users already
// settled. It returns the new offset per partition.
func Replay(ctx context.Context, adm *kadm.Client, group, topic string, to ReplayTarget) (map[int32]int64, error) {
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", group, err)
	}
	if g, ok := groups[group]; ok {
		if g.Err != nil {
			return nil, fmt.Errorf("describing group %s: %w", group, g.Err)
		}
		if len(g.Members) > 0 {
			return nil, fmt.Errorf("%w: group %s has %d member(s) (state %s); stop every sender first (for example kubectl scale deployment/sendonce-sender --replicas=0, and pause its KEDA ScaledObject), then replay", ErrGroupNotEmpty, group, len(g.Members), g.State)
		}
	}
	var listed kadm.ListedOffsets
	if to.Earliest {
		listed, err = adm.ListStartOffsets(ctx, topic)
	} else {
		listed, err = adm.ListOffsetsAfterMilli(ctx, to.Time.UnixMilli(), topic)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	offsets := listed.Offsets()
	resp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("committing offsets for group %s: %w", group, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}
