package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sendonce/sendonce/pkg/fence"
)

// ErrGroupNotEmpty is returned by Replay while senders are still in the
// group: offsets of a live group cannot be reset.
var ErrGroupNotEmpty = errors.New("the sender group still has active members")

// ErrReplayTooOld is returned by Replay when the target would replay jobs
// older than the fence retention and Force is not set: the fence keys of
// those users may have expired, so the fence can no longer stop a resend.
var ErrReplayTooOld = errors.New("the replay target is older than the fence retention")

// ReplayTarget says where Replay moves the group: to the earliest offset, or
// to the first offset at or after a time.
type ReplayTarget struct {
	Earliest bool
	Time     time.Time
	// FenceRetention is how long the fence keeps a settled user (the
	// senders' --fence-retention); 0 is fence.DefaultRetention. A target
	// before now minus this is refused unless Force is set.
	FenceRetention time.Duration
	// Force replays a target older than the fence retention anyway.
	Force bool
	// Now is the current time; zero is time.Now().
	Now time.Time
}

// guardAge refuses a target that replays jobs older than the fence
// retention: a time before the cutoff, or (earliest) a start offset behind
// the first record at or after the cutoff, which means older records are
// still retained (a compacted jobs topic keeps each user's last job).
func guardAge(ctx context.Context, adm *kadm.Client, topic string, to ReplayTarget) error {
	if to.Force {
		return nil
	}
	retention := to.FenceRetention
	if retention <= 0 {
		retention = fence.DefaultRetention
	}
	now := to.Now
	if now.IsZero() {
		now = time.Now()
	}
	cutoff := now.Add(-retention)
	why := func(what string) error {
		return fmt.Errorf("%w: %s, before %s (now minus --fence-retention %s); the fence keys of those users may have expired, so the fence can no longer stop a second email. Replay from a later --to-time, or give --force to replay anyway",
			ErrReplayTooOld, what, cutoff.UTC().Format(time.RFC3339), retention)
	}
	if !to.Earliest {
		if to.Time.Before(cutoff) {
			return why("--to-time " + to.Time.UTC().Format(time.RFC3339) + " is")
		}
		return nil
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, cutoff.UnixMilli(), topic)
	if err == nil {
		err = after.Error()
	}
	if err != nil {
		return fmt.Errorf("listing offsets of %s at %s: %w", topic, cutoff.UTC().Format(time.RFC3339), err)
	}
	var old int64
	starts.Each(func(s kadm.ListedOffset) {
		if a, ok := after.Lookup(s.Topic, s.Partition); ok && a.Offset > s.Offset {
			old += a.Offset - s.Offset
		}
	})
	if old > 0 {
		return why(fmt.Sprintf("--to earliest would replay up to %d jobs written", old))
	}
	return nil
}

// Replay resets the sender group's committed offsets on the jobs topic. It
// sends nothing itself; the fence makes the replayed jobs skip users already
// settled, as long as it still holds them: a target that would replay jobs
// older than the fence retention is refused (ErrReplayTooOld) unless
// to.Force. It returns the new offset per partition.
func Replay(ctx context.Context, adm *kadm.Client, group, topic string, to ReplayTarget) (map[int32]int64, error) {
	g, err := describeGroup(ctx, adm, group)
	if err != nil {
		return nil, err
	}
	if g != nil {
		if len(g.Members) > 0 {
			return nil, fmt.Errorf("%w: group %s has %d member(s) (state %s); stop every sender first (for example kubectl scale deployment/sendonce-sender --replicas=0, and pause its KEDA ScaledObject), then replay", ErrGroupNotEmpty, group, len(g.Members), g.State)
		}
	}
	if err := guardAge(ctx, adm, topic, to); err != nil {
		return nil, err
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

// describeGroup describes group, and returns nil when it does not exist
// (Kafka 4's group coordinator answers GROUP_ID_NOT_FOUND: a group never
// used, or deleted). A coordinator that is still loading or moving is asked
// again until ctx ends.
func describeGroup(ctx context.Context, adm *kadm.Client, group string) (*kadm.DescribedGroup, error) {
	for {
		groups, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g, ok := groups[group]
			if !ok {
				return nil, nil
			}
			if g.Err == nil {
				return &g, nil
			}
			err = g.Err
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			return nil, nil
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.CoordinatorNotAvailable) && !errors.Is(err, kerr.CoordinatorLoadInProgress) && !errors.Is(err, kerr.NotCoordinator) {
			return nil, fmt.Errorf("describing group %s: %w", group, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("describing group %s: %w (%w)", group, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
