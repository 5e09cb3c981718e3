package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadAll reads topic from its start to the end offsets it has when the call
// begins, without a consumer group, calling fn for each record in partition
// order. It builds its own client from base (seed brokers and so on).
func ReadAll(ctx context.Context, base []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	admCl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", topic, err)
	}
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var firsts kadm.ListedOffsets
	if err == nil {
		firsts, err = adm.ListStartOffsets(ctx, topic)
		if err == nil {
			err = firsts.Error()
		}
	}
	admCl.Close()
	if err != nil {
		return fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if first, ok := firsts.Lookup(topic, o.Partition); ok && first.Offset >= o.Offset {
			return // empty (or everything expired)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	starts := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range want {
		starts[topic][p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), base...), kgo.ConsumePartitions(starts))...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", topic, err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("reading %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var cbErr error
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end || cbErr != nil {
				return
			}
			cbErr = fn(r)
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}
