package retrier

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// forward produces a batch of due records, each job back to the jobs topic
// and each record that is not a job to the DLQ, and waits until every
// produce is acknowledged. Only then may the caller mark the batch done.
func (r *Retrier) forward(ctx context.Context, p *partition, batch []item) error {
	out := make([]*kgo.Record, 0, len(batch))
	for _, it := range batch {
		if it.bad != nil {
			out = append(out, r.deadLetter(it)...)
			continue
		}
		out = append(out, r.jobRecord(it.rec))
	}
	if err := r.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("producing %d records moved from %s[%d]: %w", len(out), p.topic, p.part, err)
	}
	now := r.clk.Now()
	moved := 0
	for _, it := range batch {
		if it.bad != nil {
			r.m.dlq.WithLabelValues(retry.ReasonMalformed).Inc()
			r.log.Warn("dead-lettered a tier record that is not a job", "topic", it.rec.Topic, "partition", it.rec.Partition, "offset", it.rec.Offset, "err", it.bad)
			continue
		}
		moved++
		if !it.notBefore.IsZero() {
			lag := now.Sub(it.notBefore).Seconds()
			if lag < 0 {
				lag = 0
			}
			r.m.dueLag.Observe(lag)
		}
	}
	if moved > 0 {
		r.m.republished.WithLabelValues(p.tier).Add(float64(moved))
	}
	return nil
}

// jobRecord is the job of a tier record, back on the jobs topic it came
// from (the jobs topic or the priority lane): same key
// and value (so the same partition), every header but the not-before kept
// for visibility. The timestamp is left for the client to set at produce.
func (r *Retrier) jobRecord(src *kgo.Record) *kgo.Record {
	out := &kgo.Record{Topic: r.cfg.Topics.Jobs(), Key: src.Key, Value: src.Value}
	if job.Header(src, job.HeaderOrigTopic) == r.cfg.Topics.PriorityJobs() {
		out.Topic = r.cfg.Topics.PriorityJobs() // a priority job stays in its lane
	}
	for _, h := range src.Headers {
		if h.Key == job.HeaderNotBefore {
			continue
		}
		out.Headers = append(out.Headers, h)
	}
	return out
}

// deadLetter builds the DLQ record of a tier record that is not a job, with
// the reason in headers, and a ledger entry when the record says which
// campaign and user it was for.
func (r *Retrier) deadLetter(it item) []*kgo.Record {
	src := it.rec
	d := &kgo.Record{Topic: r.cfg.Topics.DLQ(), Key: src.Key, Value: src.Value}
	d.Headers = append(d.Headers, src.Headers...)
	job.SetHeader(d, job.HeaderDLQReason, retry.ReasonMalformed)
	job.SetHeader(d, job.HeaderDeadLettered, strconv.FormatInt(r.clk.Now().UnixMilli(), 10))
	job.SetHeader(d, job.HeaderLastError, job.Truncate(it.bad.Error()))
	if job.Header(src, job.HeaderOrigTopic) == "" {
		job.SetHeader(d, job.HeaderOrigTopic, src.Topic)
		job.SetHeader(d, job.HeaderOrigPart, strconv.Itoa(int(src.Partition)))
		job.SetHeader(d, job.HeaderOrigOffset, strconv.FormatInt(src.Offset, 10))
	}
	out := []*kgo.Record{d}
	campaign, user := job.Header(src, job.HeaderCampaign), string(src.Key)
	if campaign != "" && user != "" {
		attempt, _ := strconv.Atoi(job.Header(src, job.HeaderAttempt))
		l, err := ledger.Record(r.cfg.Topics.Ledger(), ledger.Entry{
			Campaign: campaign, UserID: user, State: ledger.DeadLettered, At: r.clk.Now().UTC(),
			Reason: job.Truncate(retry.ReasonMalformed + ": " + it.bad.Error()), Attempt: attempt,
		})
		if err == nil {
			out = append(out, l)
		}
	}
	return out
}
