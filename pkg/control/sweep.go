package control

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
)

// Sweep publishes the campaign's parked jobs again, each to the jobs topic
// it came from (the priority lane stays the priority lane), and returns how
// many. The senders then send them (resume) or end them cancelled (cancel).
// Parked records stay in the parked topic (a log): a second sweep
// publishes them again, and the fence skips every user already settled.
func Sweep(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (int, error) {
	var batch []*kgo.Record
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("control: publishing parked jobs of %s again: %w", campaign, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := kafka.ReadToEnd(ctx, cl, []string{topics.Parked()}, func(r *kgo.Record) error {
		if job.Header(r, job.HeaderCampaign) != campaign {
			return nil
		}
		to := topics.Jobs()
		if job.Header(r, job.HeaderOrigTopic) == topics.PriorityJobs() {
			to = topics.PriorityJobs()
		}
		batch = append(batch, &kgo.Record{Topic: to, Key: r.Key, Value: r.Value, Headers: append([]kgo.RecordHeader(nil), r.Headers...)})
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("control: reading %s: %w", topics.Parked(), err)
	}
	return n, flush()
}
