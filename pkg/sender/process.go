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
		finished, again := s.attempt(p, r, j, gaveUp)
		if !again {
			return finished
		}
	}
}

// attempt runs one pass of the pipeline: claim, (give up | expire), wait
// for the rate, arm, send, record. again asks process to wait at the gate
// and try once more (sending was paused; nothing was sent). gaveUp is set
// when SES kept refusing the job's scope: the job is dead-lettered unsent.
func (s *Sender) attempt(p *partition, r *kgo.Record, j *job.Job, gaveUp *errStopped) (finished, again bool) {
	cl, ok := s.claim(p, j)
	if !ok {
		return false, false
	}
	if cl.Outcome != fence.Won {
		return s.notWon(r, j, cl), false
	}
	if cl.Reclaimed {
		s.m.count(outResent)
		s.jobLog(r, j).Warn("ambiguous: resending once (--on-ambiguous resend); if this attempt is ambiguous too, it is held")
	}
	tok := cl.Token

	switch {
	case gaveUp != nil:
		return s.deadLetter(r, j, tok, j.Attempt, retry.ReasonStopped, retry.Stop, gaveUp.Error()), false
	case j.Expired(s.clk.Now()):
		return s.expire(j, tok), false
	}
	if !s.waitRate(p, j, tok) {
		return false, false
	}
	if err := s.arm(p, j, tok); err != nil {
		if errors.Is(err, fence.ErrNotOwner) {
			// Our claim lapsed while we waited (another sender took it):
			// nothing was sent; let the retrier bring it back.
			s.m.count(outBusy)
			return s.emit(s.retryRecords(r, j, j.Attempt, retry.Class("busy"), "fence claim lapsed before sending")...) == nil, false
		}
		s.releaseUnsent(j, tok)
		return false, false
	}
	msgID, err := s.ses.Send(s.workCtx, message(j, s.cfg.UserHashKey))
	if err != nil {
		return s.failed(r, j, tok, err)
	}
	return s.sent(r, j, tok, msgID), false
}

// notWon settles a job whose claim was not won: settled before (a
// duplicate prevented), held by another sender (retry later), or abandoned
// while sending (held as ambiguous).
func (s *Sender) notWon(r *kgo.Record, j *job.Job, cl fence.Claim) bool {
	switch cl.Outcome {
	case fence.Done:
		s.m.count(outDuplicate)
		return s.emit(s.ledgerFromFence(j, cl.Record)) == nil
	case fence.Busy:
		s.m.count(outBusy)
		return s.emit(s.retryRecords(r, j, j.Attempt, retry.Class("busy"), "another sender holds this job's fence lease")...) == nil
	default: // fence.Held
		s.m.count(outAmbiguous)
		s.jobLog(r, j).Warn("ambiguous: a previous sender's lease expired while its request may have been on the wire; holding (nothing sent)")
		return s.emit(s.ledgerRecord(j, ledger.Ambiguous, "", "lease expired while sending")) == nil
	}
}

// claim takes the job's fence key, waiting out Redis outages while the
// partition is ours.
func (s *Sender) claim(p *partition, j *job.Job) (cl fence.Claim, ok bool) {
	err := s.infra(p.ctx, "claim", func(ctx context.Context) (err error) {
		cl, err = s.fnc.Claim(ctx, j.Campaign, j.UserID)
		return err
	})
	return cl, err == nil
}

func (s *Sender) expire(j *job.Job, tok string) bool {
	if err := s.book("mark_expired", func(ctx context.Context) error { return s.fnc.MarkExpired(ctx, j.Campaign, j.UserID, tok) }); err != nil {
		return false
	}
	s.m.count(outExpired)
	return s.emit(s.ledgerRecord(j, ledger.Expired, "", "expires_at passed")) == nil
}

// waitRate takes a slot of the shared rate. A limiter that cannot reach
// Redis is waited out like any other step; only the partition going away
// gives the claim back.
func (s *Sender) waitRate(p *partition, j *job.Job, tok string) bool {
	if s.lim == nil {
		return true
	}
	err := s.infra(p.ctx, "rate_limit", func(ctx context.Context) error {
		waited, err := s.lim.Wait(ctx)
		s.m.rateWait.Observe(waited.Seconds())
		return err
	})
	if err != nil {
		s.releaseUnsent(j, tok)
		return false
	}
	return true
}

// arm moves the key to "sending" right before the request is written. Its
// error (ErrNotOwner included) means: do not send.
func (s *Sender) arm(p *partition, j *job.Job, tok string) error {
	return s.infra(p.ctx, "arm", func(ctx context.Context) error { return s.fnc.Arm(ctx, j.Campaign, j.UserID, tok) })
}

// sent records an email SES accepted: fence, then ledger.
func (s *Sender) sent(r *kgo.Record, j *job.Job, tok, msgID string) bool {
	err := s.book("mark_sent", func(ctx context.Context) error { return s.fnc.MarkSent(ctx, j.Campaign, j.UserID, tok, msgID) })
	switch {
	case err == nil:
	case errors.Is(err, fence.ErrSentOverLostClaim):
		s.jobLog(r, j).Warn("sent after the fence had lost this claim (Redis failover or lease taken over): recorded as sent anyway", "message_id", msgID)
	case errors.Is(err, fence.ErrNotOwner):
		s.jobLog(r, j).Warn("sent, but another owner had already settled the fence key", "message_id", msgID)
	default:
		// Only the bookkeeping bound ends book: the email left but the
		// fence does not say so. The offset stays uncommitted; the lease
		// expires in Sending and the next owner holds it as ambiguous
		// (never sends it twice).
		s.jobLog(r, j).Error("sent, but could not record it in the fence", "err", err)
		return false
	}
	s.m.count(outSent)
	s.gate.sent(j)
	return s.emit(s.ledgerRecord(j, ledger.Sent, msgID, "")) == nil
}

func (s *Sender) failed(r *kgo.Record, j *job.Job, tok string, sendErr error) (finished, again bool) {
	class := retry.Ambiguous
	var se *ses.SendError
	if errors.As(sendErr, &se) {
		class = se.Class
	}
	attempt := j.Attempt + 1
	reason := job.Truncate(sendErr.Error())
	s.warnFailed(r, j, class, attempt, reason, sendErr)

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
		if !s.giveBack(j, tok) {
			return false, false
		}
		return s.emit(s.retryRecords(r, j, attempt, class, reason)...) == nil, false

	case retry.ActionPause, retry.ActionStop:
		if !s.giveBack(j, tok) {
			return false, false
		}
		if class == retry.Quota {
			s.gate.pause(account, pauseQuota, sendErr)
		} else {
			s.gate.pause(stopScope(j, sendErr), pauseStopped, sendErr)
		}
		return false, true

	case retry.ActionDeadLetter:
		s.m.count(outFailed)
		if err := s.book("mark_failed", func(ctx context.Context) error { return s.fnc.MarkFailed(ctx, j.Campaign, j.UserID, tok, reason) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
			return false, false
		}
		s.m.dlq.WithLabelValues(retry.ReasonPermanent).Inc()
		recs := []*kgo.Record{s.ledgerRecord(j, ledger.Failed, "", reason)}
		recs = append(recs, s.dlqRecord(r, j, attempt, retry.ReasonPermanent, class, reason))
		return s.emit(recs...) == nil, false

	default: // ambiguous
		return s.ambiguous(r, j, tok, attempt, class, reason, sendErr), false
	}
}

// ambiguous settles a send SES may have accepted. --on-ambiguous resend
// releases it for one resend (the fence refuses a second: ErrResendSpent);
// hold, and a resend that was itself ambiguous, record it as ambiguous.
func (s *Sender) ambiguous(r *kgo.Record, j *job.Job, tok string, attempt int, class retry.Class, reason string, sendErr error) bool {
	if s.cfg.OnAmbiguous == fence.Resend {
		if s.cfg.Policy.Exhausted(attempt) {
			return s.deadLetter(r, j, tok, attempt, retry.ReasonExhausted, class, reason)
		}
		err := s.book("mark_resendable", func(ctx context.Context) error { return s.fnc.MarkResendable(ctx, j.Campaign, j.UserID, tok, reason) })
		switch {
		case err == nil || errors.Is(err, fence.ErrNotOwner):
			return s.emit(s.retryRecords(r, j, attempt, class, reason)...) == nil
		case !errors.Is(err, fence.ErrResendSpent):
			return false
		}
		s.jobLog(r, j).Warn("ambiguous again after its one resend: holding it", "err", sendErr)
	} else {
		s.jobLog(r, j).Warn("ambiguous: SES may have accepted this email; holding it (nothing resent)", "err", sendErr)
	}
	s.m.count(outAmbiguous)
	if err := s.book("mark_ambiguous", func(ctx context.Context) error { return s.fnc.MarkAmbiguous(ctx, j.Campaign, j.UserID, tok, reason) }); err != nil && !errors.Is(err, fence.ErrNotOwner) {
		return false
	}
	return s.emit(s.ledgerRecord(j, ledger.Ambiguous, "", reason)) == nil
}

// giveBack releases the key: the email was surely not sent.
func (s *Sender) giveBack(j *job.Job, tok string) bool {
	err := s.book("release", func(ctx context.Context) error { return s.fnc.Release(ctx, j.Campaign, j.UserID, tok) })
	return err == nil || errors.Is(err, fence.ErrNotOwner)
}

func (s *Sender) deadLetter(r *kgo.Record, j *job.Job, tok string, attempt int, why string, class retry.Class, reason string) bool {
	if err := s.book("mark_dead_lettered", func(ctx context.Context) error {
		return s.fnc.MarkDeadLettered(ctx, j.Campaign, j.UserID, tok, why)
	}); err != nil && !errors.Is(err, fence.ErrNotOwner) {
		return false
	}
	s.m.count(outDeadLettered)
	s.m.dlq.WithLabelValues(why).Inc()
	return s.emit(s.ledgerRecord(j, ledger.DeadLettered, "", why+": "+reason), s.dlqRecord(r, j, attempt, why, class, reason)) == nil
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

// releaseUnsent gives the key back on the way out of an attempt that never
// reached SES (its partition went away). It is bookkeeping like any mark:
// retried until it lands or the bookkeeping bound ends, because an arm that
// landed just before Redis stalled would otherwise leave the key "sending",
// and its next owner would hold the user as ambiguous though nothing was
// sent.
func (s *Sender) releaseUnsent(j *job.Job, tok string) {
	_ = s.giveBack(j, tok)
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
