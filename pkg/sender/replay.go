package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	res, err := ReplayWithReport(ctx, adm, group, topic, to)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, p := range res.Partitions {
		out[p.Partition] = p.New
	}
	return out, nil
}

// PartitionReplay is one partition of a replay.
type PartitionReplay struct {
	Partition int32 `json:"partition"`
	// Old is the group's committed offset before the replay; -1: none.
	Old int64 `json:"old"`
	// New is the offset the group now starts from.
	New int64 `json:"new"`
	// End is the partition's end offset (the next job to be written).
	End int64 `json:"end"`
}

// Replayed is how many jobs the group had already read that it reads again.
func (p PartitionReplay) Replayed() int64 {
	if p.Old < 0 || p.Old <= p.New {
		return 0
	}
	return p.Old - p.New
}

// ReplayReport is what a replay changed: old and new offsets per
// partition, and how many jobs will be read again.
type ReplayReport struct {
	Group      string            `json:"group"`
	Topic      string            `json:"topic"`
	Partitions []PartitionReplay `json:"partitions"`
}

// Replayed is how many jobs, over every partition, the senders read again.
func (r ReplayReport) Replayed() int64 {
	var n int64
	for _, p := range r.Partitions {
		n += p.Replayed()
	}
	return n
}

// ToRead is how many jobs lie between the new offsets and the end.
func (r ReplayReport) ToRead() int64 {
	var n int64
	for _, p := range r.Partitions {
		n += max(0, p.End-p.New)
	}
	return n
}

// WriteText prints one line per partition (old, new, end, replayed) and the
// totals.
func (r ReplayReport) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "group %s reset on %s:\n%-10s %12s %12s %12s %12s\n", r.Group, r.Topic, "partition", "old", "new", "end", "replayed"); err != nil {
		return err
	}
	for _, p := range r.Partitions {
		old := "none"
		if p.Old >= 0 {
			old = fmt.Sprint(p.Old)
		}
		if _, err := fmt.Fprintf(w, "%-10d %12s %12d %12d %12d\n", p.Partition, old, p.New, p.End, p.Replayed()); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d jobs already read will be read again (%d jobs from the new offsets to the end)\n", r.Replayed(), r.ToRead())
	return err
}

// ReplayWithReport is Replay, and says what it changed: the group's old and
// new offset and the end offset of each partition.
func ReplayWithReport(ctx context.Context, adm *kadm.Client, group, topic string, to ReplayTarget) (ReplayReport, error) {
	res := ReplayReport{Group: group, Topic: topic}
	g, err := describeGroup(ctx, adm, group)
	if err != nil {
		return res, err
	}
	if g != nil {
		if len(g.Members) > 0 {
			return res, fmt.Errorf("%w: group %s has %d member(s) (state %s); stop every sender first (for example kubectl scale deployment/sendonce-sender --replicas=0, and pause its KEDA ScaledObject), then replay", ErrGroupNotEmpty, group, len(g.Members), g.State)
		}
	}
	if err := guardAge(ctx, adm, topic, to); err != nil {
		return res, err
	}
	old := map[int32]int64{}
	if g != nil {
		fetched, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = fetched.Error()
		}
		if err != nil {
			return res, fmt.Errorf("fetching the committed offsets of group %s: %w", group, err)
		}
		fetched.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				old[o.Partition] = o.At
			}
		})
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return res, fmt.Errorf("listing end offsets of %s: %w", topic, err)
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
		return res, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	offsets := listed.Offsets()
	resp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return res, fmt.Errorf("committing offsets for group %s: %w", group, err)
	}
	listed.Each(func(o kadm.ListedOffset) {
		p := PartitionReplay{Partition: o.Partition, Old: -1, New: o.Offset, End: o.Offset}
		if at, ok := old[o.Partition]; ok {
			p.Old = at
		}
		if e, ok := ends.Lookup(topic, o.Partition); ok {
			p.End = e.Offset
		}
		res.Partitions = append(res.Partitions, p)
	})
	slices.SortFunc(res.Partitions, func(a, b PartitionReplay) int { return int(a.Partition - b.Partition) })
	return res, nil
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
