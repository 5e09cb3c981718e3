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
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
)

// process handles one record and reports whether it finished (its outcome is
// durable and its offset may be committed). A record that did not finish is
// consumed again by whoever owns the partition next.
func (s *Sender) process(p *partition, r *kgo.Record) bool {
	j, err := job.Decode(r.Value)
	if err != nil {
		s.m.count(outMalformed)
		s.log.Warn("malformed job: dead-lettered", "partition", r.Partition, "offset", r.Offset, "err", err)
		return s.emit(deadLetterRaw(s.cfg.Topics.DLQ(), r, err)) == nil
	}
	if refused, finished := s.refused(r, j); refused {
		return finished
	}
	for {
		if err := s.gate.wait(p.ctx); err != nil {
			return false
		}
		finished, again := s.attempt(p, r, j)
		if !again {
			return finished
		}
	}
}

// attempt runs one claim-send-record cycle. again asks process to wait at
// the gate and try once more (sending was paused; nothing was sent).
func (s *Sender) attempt(p *partition, r *kgo.Record, j *job.Job) (finished, again bool) {
	c, u := j.Campaign, j.UserID

	var cl fence.Claim
	if err := s.infra(p.ctx, "claim", func(ctx context.Context) (err error) {
		cl, err = s.fnc.Claim(ctx, c, u)
		return err
	}); err != nil {
		return false, false
	}
	switch cl.Outcome {
	case fence.Done:
		s.m.count(outDuplicate)
		return s.emit(s.ledgerFromFence(j, cl.Record)) == nil, false
	case fence.Busy:
		s.m.count(outBusy)
		return s.emit(s.retryRecords(r, j, j.Attempt, retry.Class("busy"), "another sender holds this job's fence lease")...) == nil, false
	case fence.Held:
		s.m.count(outAmbiguous)
		s.jobLog(r, j).Warn("ambiguous: a previous sender's lease expired while its request may have been on the wire; holding (nothing sent)")
		return s.emit(s.ledgerRecord(j, ledger.Ambiguous, "", "lease expired while sending")) == nil, false
	}
	if cl.Reclaimed {
		s.m.count(outResent)
		s.jobLog(r, j).Warn("ambiguous: resending after an abandoned lease (--on-ambiguous resend)")
	}
	tok := cl.Token

	if j.Expired(s.clk.Now()) {
		if err := s.infra(s.workCtx, "mark_expired", func(ctx context.Context) error { return s.fnc.MarkExpired(ctx, c, u, tok) }); err != nil {
			return false, false
		}
		s.m.count(outExpired)
		return s.emit(s.ledgerRecord(j, ledger.Expired, "", "expires_at passed")) == nil, false
	}

	if s.lim != nil {
		waited, err := s.lim.Wait(p.ctx)
		s.m.rateWait.Observe(waited.Seconds())
		if err != nil {
			s.releaseQuietly(c, u, tok)
			return false, false
		}
	}
	if err := s.infra(p.ctx, "arm", func(ctx context.Context) error { return s.fnc.Arm(ctx, c, u, tok) }); err != nil {
		if errors.Is(err, fence.ErrNotOwner) {
			// Our claim lapsed while we waited (another sender took it):
			// nothing was sent; let the retrier bring it back.
			s.m.count(outBusy)
			return s.emit(s.retryRecords(r, j, j.Attempt, retry.Class("busy"), "fence claim lapsed before sending")...) == nil, false
		}
		s.releaseQuietly(c, u, tok)
		return false, false
	}

	msgID, err := s.ses.Send(s.workCtx, message(j, s.cfg.UserHashKey))
	if err == nil {
		if err := s.infra(s.workCtx, "mark_sent", func(ctx context.Context) error { return s.fnc.MarkSent(ctx, c, u, tok, msgID) }); err != nil {
			if !errors.Is(err, fence.ErrNotOwner) {
				// The email left but the fence does not say so: keep the
				// offset uncommitted; the lease expires in Sending and the
				// next owner reports it ambiguous (never sends it twice).
				s.jobLog(r, j).Error("sent, but could not record it in the fence", "err", err)
				return false, false
			}
			s.jobLog(r, j).Warn("sent, but the fence lease had been taken over meanwhile", "message_id", msgID)
		}
		s.m.count(outSent)
		return s.emit(s.ledgerRecord(j, ledger.Sent, msgID, "")) == nil, false
	}
	return s.failed(r, j, tok, err)
}

func (s *Sender) failed(r *kgo.Record, j *job.Job, tok string, sendErr error) (finished, again bool) {
	c, u := j.Campaign, j.UserID
	class := retry.Ambiguous
	var se *ses.SendError
	if errors.As(sendErr, &se) {
		class = se.Class
	}
	attempt := j.Attempt + 1
	reason := job.Truncate(sendErr.Error())

	switch retry.ActionFor(class) {
	case retry.ActionRetry:
		if class == retry.Throttled {
			s.m.count(outThrottled)
			if s.lim != nil {
				s.lim.Throttled()
				s.m.rate.Set(s.lim.Rate())
			}
		} else {
			s.m.count(outNotSent)
		}
		if s.cfg.Policy.Exhausted(attempt) {
			return s.deadLetter(r, j, tok, attempt, retry.ReasonExhausted, class, reason), false
		}
		if err := s.infra(s.workCtx, "release", func(ctx context.Context) error { return s.fnc.Release(ctx, c, u, tok) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
			return false, false
		}
		return s.emit(s.retryRecords(r, j, attempt, class, reason)...) == nil, false

	case retry.ActionPause, retry.ActionStop:
		if err := s.infra(s.workCtx, "release", func(ctx context.Context) error { return s.fnc.Release(ctx, c, u, tok) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
			return false, false
		}
		if class == retry.Quota {
			s.gate.pause(pauseQuota, sendErr)
		} else {
			s.gate.pause(pauseStopped, sendErr)
		}
		return false, true

	case retry.ActionDeadLetter:
		s.m.count(outFailed)
		if err := s.infra(s.workCtx, "mark_failed", func(ctx context.Context) error { return s.fnc.MarkFailed(ctx, c, u, tok, reason) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
			return false, false
		}
		s.m.dlq.WithLabelValues(retry.ReasonPermanent).Inc()
		recs := []*kgo.Record{s.ledgerRecord(j, ledger.Failed, "", reason)}
		recs = append(recs, s.dlqRecord(r, j, attempt, retry.ReasonPermanent, class, reason))
		return s.emit(recs...) == nil, false

	default: // ambiguous
		if s.cfg.OnAmbiguous == fence.Resend {
			s.m.count(outResent)
			if s.cfg.Policy.Exhausted(attempt) {
				return s.deadLetter(r, j, tok, attempt, retry.ReasonExhausted, class, reason), false
			}
			if err := s.infra(s.workCtx, "release", func(ctx context.Context) error { return s.fnc.Release(ctx, c, u, tok) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
				return false, false
			}
			return s.emit(s.retryRecords(r, j, attempt, class, reason)...) == nil, false
		}
		s.m.count(outAmbiguous)
		s.jobLog(r, j).Warn("ambiguous: SES may have accepted this email; holding it (nothing resent)", "err", sendErr)
		if err := s.infra(s.workCtx, "mark_ambiguous", func(ctx context.Context) error { return s.fnc.MarkAmbiguous(ctx, c, u, tok, reason) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
			return false, false
		}
		return s.emit(s.ledgerRecord(j, ledger.Ambiguous, "", reason)) == nil, false
	}
}

func (s *Sender) deadLetter(r *kgo.Record, j *job.Job, tok string, attempt int, why string, class retry.Class, reason string) bool {
	if err := s.infra(s.workCtx, "mark_dead_lettered", func(ctx context.Context) error {
		return s.fnc.MarkDeadLettered(ctx, j.Campaign, j.UserID, tok, why)
	}); err != nil && !errors.Is(err, fence.ErrNotOwner) {
		return false
	}
	s.m.count(outDeadLettered)
	s.m.dlq.WithLabelValues(why).Inc()
	return s.emit(s.ledgerRecord(j, ledger.DeadLettered, "", why+": "+reason), s.dlqRecord(r, j, attempt, why, class, reason)) == nil
}

// jobLog is the logger of one job, built only when something is logged: the
// per-email path should not allocate it.
func (s *Sender) jobLog(r *kgo.Record, j *job.Job) *slog.Logger {
	return s.log.With("campaign", j.Campaign, "user", j.UserID, "partition", r.Partition, "offset", r.Offset)
}

// releaseQuietly gives a claim back on the way out of a cancelled attempt;
// if it fails the claim simply lapses (Claimed, so it is safe).
func (s *Sender) releaseQuietly(c, u, tok string) {
	ctx, cancel := context.WithTimeout(s.workCtx, 2e9)
	defer cancel()
	_ = s.fnc.Release(ctx, c, u, tok)
}

// infra runs a Redis or Kafka step until it works, the context ends, or it
// fails with ErrNotOwner (a decision, not an outage). While Redis is down,
// jobs wait here: nothing is sent without a fence and nothing is committed.
func (s *Sender) infra(ctx context.Context, step string, f func(context.Context) error) error {
	for {
		start := s.clk.Now()
		err := f(ctx)
		s.m.observeStep(step, s.clk.Now().Sub(start).Seconds())
		if err == nil || errors.Is(err, fence.ErrNotOwner) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.m.infraErrors.WithLabelValues(step).Inc()
		s.log.Warn("step failed; trying again", "step", step, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clk.After(s.cfg.InfraBackoff):
		}
	}
}

// emit produces records and waits for their acknowledgement, trying again
// until the drain deadline.
func (s *Sender) emit(recs ...*kgo.Record) error {
	return s.infra(s.workCtx, "produce", func(ctx context.Context) error {
		res := s.cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			return fmt.Errorf("producing %s: %w", recs[0].Topic, err)
		}
		return nil
	})
}

// message is the SES request of j; hashKey keys the user_hash tag.
func message(j *job.Job, hashKey []byte) ses.Message {
	data := string(j.Data)
	if data == "" {
		data = "{}"
	}
	return ses.Message{
		From: j.From, To: j.Email, Template: j.Template, TemplateData: data,
		ConfigurationSet: j.ConfigurationSet, Headers: j.Headers,
		Tags: map[string]string{"campaign": j.Campaign, "user_hash": pseudonym.UserHash(hashKey, j.UserID)},
	}
}
