package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ReadToEnd calls fn with every record of topics, from the start of each
// partition to its end offset (high watermark) at the time of the call, in
// offset order per partition. It uses its own direct, group-less consumer
// (so it commits nothing and can run beside anything cl does) and only
// fetches the partitions that hold records. A topic that does not exist
// reads as empty. The first error fn returns stops the read and is
// returned. cl is used for the offsets and for how to reach the cluster
// (seeds, TLS, SASL); it consumes nothing itself.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topics []string, fn func(*kgo.Record) error) error {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing start offsets of %v: %w", topics, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing end offsets of %v: %w", topics, err)
	}
	want := map[string]map[int32]int64{} // partition → end offset still to reach
	parts := map[string]map[int32]kgo.Offset{}
	var listErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if !errors.Is(o.Err, kerr.UnknownTopicOrPartition) && listErr == nil {
				listErr = fmt.Errorf("listing end offsets of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			}
			return
		}
		start, ok := starts.Lookup(o.Topic, o.Partition)
		if !ok || start.Err != nil || o.Offset <= start.Offset {
			return // empty
		}
		if want[o.Topic] == nil {
			want[o.Topic] = map[int32]int64{}
			parts[o.Topic] = map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = o.Offset
		parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
	})
	if listErr != nil {
		return listErr
	}
	remaining := 0
	for _, ps := range want {
		remaining += len(ps)
	}
	if remaining == 0 {
		return nil
	}
	rc, err := kgo.NewClient(append(connOpts(cl),
		kgo.ConsumePartitions(parts),
		kgo.FetchMaxBytes(32<<20),
		// Transaction markers occupy offsets too: seeing them is how a
		// partition whose last offset is a marker is known to be read.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("creating a reader of %v: %w", topics, err)
	}
	defer rc.Close()
	for remaining > 0 {
		fs := rc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %v: %w", topics, err)
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("reading %s[%d]: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		var fnErr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			end, ok := want[p.Topic][p.Partition]
			if !ok || fnErr != nil {
				return
			}
			for _, r := range p.Records {
				if r.Offset >= end {
					break
				}
				if !r.Attrs.IsControl() {
					if fnErr = fn(r); fnErr != nil {
						return
					}
				}
			}
			if n := len(p.Records); n > 0 && p.Records[n-1].Offset >= end-1 {
				delete(want[p.Topic], p.Partition)
				remaining--
			}
		})
		if fnErr != nil {
			return fnErr
		}
	}
	return nil
}

// connOpts are the options of cl that say how to reach the cluster (seeds,
// TLS, SASL), without its hooks: kprom registers metrics once per hooks
// value, so a second client with the same hooks would collide.
func connOpts(cl *kgo.Client) []kgo.Opt {
	opts := []kgo.Opt{}
	if seeds, ok := cl.OptValue(kgo.SeedBrokers).([]string); ok {
		opts = append(opts, kgo.SeedBrokers(seeds...))
	}
	if t, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); ok && t != nil {
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	if ms, ok := cl.OptValue(kgo.SASL).([]sasl.Mechanism); ok && len(ms) > 0 {
		opts = append(opts, kgo.SASL(ms...))
	}
	return opts
}
