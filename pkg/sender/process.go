package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

// process handles one record and reports whether it finished (its outcome is
// durable and its offset may be committed). A record that did not finish is
// run again while the partition is owned (see start), or consumed again by
// whoever owns the partition next.
func (s *Sender) process(p *partition, r *kgo.Record) bool {
	if r.Value == nil {
		// A tombstone (producer erase): nothing to send, nothing to
		// dead-letter; compaction removes the user's job.
		return true
	}
	j, err := job.Decode(r.Value)
	if err != nil {
		return s.malformed(r, err)
	}
	if refused, finished := s.refused(r, j); refused {
		return finished
	}
	if handled, finished := s.controlled(p, r, j); handled {
		return finished
	}
	for {
		stopped := s.gate.wait(p.ctx, j)
		var gaveUp *errStopped
		if stopped != nil && !errors.As(stopped, &gaveUp) {
			return false // the partition is going away
		}
		e := &entry{p: p, r: r, j: j, gaveUp: gaveUp}
		s.batches.do(e)
		if !e.again {
			return e.finished
		}
	}
}

// notWon settles a job whose claim was not won: settled before (a
// duplicate prevented), held by another sender (retry later), abandoned
// while sending (held as ambiguous), or ambiguous and awaiting its SES event
// (retry later). It returns the records to produce.
func (s *Sender) notWon(e *entry) []*kgo.Record {
	r, j, cl := e.r, e.j, e.claim
	switch cl.Outcome {
	case fence.Done:
		s.m.count(outDuplicate)
		return []*kgo.Record{s.ledgerFromFence(j, cl.Record)}
	case fence.Busy:
		s.m.count(outBusy)
		return s.retryRecords(r, j, j.Attempt, retry.Class("busy"), "another sender holds this job's fence lease")
	case fence.Unsettled:
		// Ambiguous, and its SES event has not come yet: look again later.
		s.m.count(outUnsettled)
		s.m.observeUnsettled(s.clk.Now().Sub(cl.Record.At))
		return s.retryRecords(r, j, j.Attempt, retry.Class("unsettled"), "ambiguous: awaiting its SES event")[:1]
	default: // fence.Held
		s.m.count(outAmbiguous)
		s.jobLog(r, j).Warn("ambiguous: a previous sender's lease expired while its request may have been on the wire; holding (nothing sent)")
		recs := []*kgo.Record{s.ledgerRecord(j, ledger.Ambiguous, "", "lease expired while sending")}
		if s.cfg.ResolveAfter > 0 {
			recs = append(recs, s.retryRecords(r, j, j.Attempt, retry.Ambiguous, "lease expired while sending; awaiting its SES event")[0])
		}
		return recs
	}
}

// claim takes one job's fence key, waiting out Redis outages while the
// partition is ours (campaign cancellation; sends go through claimAll).
func (s *Sender) claim(p *partition, j *job.Job) (cl fence.Claim, ok bool) {
	err := s.infra(p.ctx, "claim", func(ctx context.Context) (err error) {
		cl, err = s.fnc.Claim(ctx, j.Campaign, j.UserID)
		return err
	})
	return cl, err == nil
}

// malformed dead-letters a record that is not a job. When it names its
// campaign (header) and user (key), the ledger says so too, so that the
// campaign can complete.
func (s *Sender) malformed(r *kgo.Record, err error) bool {
	s.m.count(outMalformed)
	s.m.dlq.WithLabelValues(retry.ReasonMalformed).Inc()
	s.log.Warn("malformed job: dead-lettered", "partition", r.Partition, "offset", r.Offset, "err", err)
	recs := []*kgo.Record{deadLetterRaw(s.cfg.Topics.DLQ(), r, err)}
	if c, u := job.Header(r, job.HeaderCampaign), string(r.Key); c != "" && u != "" {
		recs = append(recs, s.ledgerRecord(&job.Job{Campaign: c, UserID: u}, ledger.DeadLettered, "", retry.ReasonMalformed+": "+err.Error()))
	}
	return s.emit(recs...) == nil
}

// jobLog is the logger of one job, built only when something is logged: the
// per-email path should not allocate it.
func (s *Sender) jobLog(r *kgo.Record, j *job.Job) *slog.Logger {
	return s.log.With("campaign", j.Campaign, "user", j.UserID, "partition", r.Partition, "offset", r.Offset)
}

// book runs a bookkeeping step (a fence mark, a release) under bookCtx: it
// outlives the drain time by BookkeepingTimeout, so that what was decided is
// recorded instead of being left "sending" and later reported ambiguous.
func (s *Sender) book(step string, f func(context.Context) error) error {
	return s.infra(s.bookCtx, step, f)
}

// infra runs a Redis or Kafka step until it works, the context ends, or the
// fence answers with a decision rather than an outage (ErrNotOwner and the
// like). While Redis is down, jobs wait here: nothing is sent without a
// fence and nothing is committed. Failures are logged at most once per step
// every few seconds.
func (s *Sender) infra(ctx context.Context, step string, f func(context.Context) error) error {
	for {
		start := s.clk.Now()
		err := f(ctx)
		s.m.observeStep(step, s.clk.Now().Sub(start).Seconds())
		if err == nil || decision(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.m.infraErrors.WithLabelValues(step).Inc()
		if ok, held := s.logs.Allow("step:"+step, s.clk.Now()); ok {
			s.log.Warn("step failed; trying again", "step", step, "err", err, "similar_lines_suppressed", held)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clk.After(s.cfg.InfraBackoff):
		}
	}
}

// decision reports whether err is an answer about the job, not an outage:
// trying again would get the same answer.
func decision(err error) bool {
	return errors.Is(err, fence.ErrNotOwner) || errors.Is(err, fence.ErrSentOverLostClaim) ||
		errors.Is(err, fence.ErrResendSpent) || errors.Is(err, fence.ErrKey)
}

// emit produces records and waits for their acknowledgement, trying again
// until the bookkeeping bound.
func (s *Sender) emit(recs ...*kgo.Record) error {
	return s.infra(s.bookCtx, "produce", func(ctx context.Context) error {
		res := s.cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			return fmt.Errorf("producing %s: %w", recs[0].Topic, err)
		}
		return nil
	})
}
