package sender

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
)

// pipeline runs one batch through the sender's steps:
//
//	claim → (not won | give up | expire) → wait for the rate → arm → send
//	→ mark → produce
//
// Each step takes the entries still live and decides some of them. Every
// Redis step is one round trip for the whole batch, the rate is one
// reservation of len(batch) slots, SES is one call, and the ledger and
// retry records of the batch are one produce. With one entry it is the
// per-user path.
func (s *Sender) pipeline(p *partition, es []*entry) {
	if !s.claimAll(p, es) {
		return // the partition is going away: nothing finished
	}
	s.endUnsendable(es)
	if due, ok := s.waitRate(p, es); ok && s.armAll(p, es) && s.onTime(p, es, due) {
		s.sendAll(es)
	}
	s.markAll(es)
	s.produceAll(es)
}

// liveOf lists the entries still on their way to SES.
func liveOf(es []*entry) []*entry {
	out := es[:0:0]
	for _, e := range es {
		if e.step == live {
			out = append(out, e)
		}
	}
	return out
}

// itemsOf names the fence keys of es.
func itemsOf(es []*entry) []fence.Item {
	items := make([]fence.Item, len(es))
	for i, e := range es {
		items[i] = fence.Item{Campaign: e.j.Campaign, User: e.j.UserID}
	}
	return items
}

// dropAll leaves every entry unfinished (consumed again) and says so.
func dropAll(es []*entry) bool {
	for _, e := range es {
		e.step = dropped
	}
	return false
}

// claimAll takes the fence of every entry in one round trip, waiting out
// Redis outages while the partition is ours. The entries not won are
// settled here: settled before (a duplicate prevented), held by another
// sender, abandoned while sending, or awaiting their SES event.
func (s *Sender) claimAll(p *partition, es []*entry) bool {
	items := itemsOf(es)
	toks := make([]string, len(es))
	for i := range toks {
		t, err := fence.NewAttempt()
		if err != nil {
			return dropAll(es)
		}
		toks[i] = t
	}
	// The same tokens on every try: a claim that landed before its reply
	// was lost is found our own, not busy until its lease ends.
	var cls []fence.Claim
	err := s.infra(p.ctx, "claim", func(ctx context.Context) (err error) {
		cls, err = s.fnc.ClaimBatchWith(ctx, items, toks)
		return err
	})
	if err != nil {
		return dropAll(es)
	}
	for i, e := range es {
		e.claim = cls[i]
		if e.claim.Err != nil {
			// Not a key the fence can hold (no campaign or user): it is
			// not a job anyone can send.
			s.m.count(outMalformed)
			s.m.dlq.WithLabelValues(retry.ReasonMalformed).Inc()
			e.recs, e.step = []*kgo.Record{deadLetterRaw(s.cfg.Topics.DLQ(), e.r, e.claim.Err)}, produce
			continue
		}
		if e.claim.Outcome != fence.Won {
			e.recs, e.step = s.notWon(e), produce
			continue
		}
		e.tok = e.claim.Token
		switch {
		case e.claim.Resolved:
			s.m.count(outResolved)
			s.warnEntry("resolved", e, "ambiguous with no SES event after --resolve-after: declared not sent, sending it again", "resolve_after", s.cfg.ResolveAfter)
		case e.claim.Reclaimed:
			s.m.count(outResent)
			s.warnEntry("resend", e, "ambiguous: resending once (--on-ambiguous resend); if this attempt is ambiguous too, it is held")
		}
	}
	return true
}

// endUnsendable ends the won entries that must not be sent: their scope
// kept refusing (dead-lettered, to be redriven), or they expired.
func (s *Sender) endUnsendable(es []*entry) {
	for _, e := range liveOf(es) {
		switch {
		case e.gaveUp != nil:
			s.deadLetter(e, e.j.Attempt, retry.ReasonStopped, retry.Stop, e.gaveUp.Error())
		case e.j.Expired(s.clk.Now()):
			s.setMark(e, fence.OpExpired, "", "", func(error) {
				s.m.count(outExpired)
				e.recs = append(e.recs, s.entryLedger(e, ledger.Expired, "", "expires_at passed"))
			})
		}
	}
}

// waitRate takes one slot of the shared rate per live entry, in one
// reservation, and returns when the slots are due. A limiter that cannot
// reach Redis is waited out like any other step; only the partition going
// away gives the claims back.
func (s *Sender) waitRate(p *partition, es []*entry) (due time.Time, ok bool) {
	live := liveOf(es)
	if len(live) == 0 || (s.lim != nil && !s.reserve(p, live)) {
		return time.Time{}, false
	}
	return s.clk.Now(), true
}

// reserve takes one slot per entry in one reservation; when the partition
// goes away first it gives the entries' claims back.
func (s *Sender) reserve(p *partition, live []*entry) bool {
	err := s.infra(p.ctx, "rate_limit", func(ctx context.Context) error {
		waited, err := s.lim.WaitN(ctx, len(live))
		s.m.rateWait.Observe(waited.Seconds())
		return err
	})
	if err != nil {
		s.releaseUnsent(live)
	}
	return err == nil
}

// onTime keeps the rate's slots honest after arming: when the arm round
// trip took longer than the limiter allows a slot to be late (a Redis stall,
// a starved process), sending now would put the late slots on top of the
// next ones, a burst above the rate. The slots are given up and reserved
// again (the armed keys wait; nothing was written).
func (s *Sender) onTime(p *partition, es []*entry, due time.Time) bool {
	if s.lim == nil || s.clk.Now().Sub(due) <= s.lim.MaxLate() {
		return true
	}
	s.m.rateRetaken.Inc()
	return s.reserve(p, liveOf(es))
}

// armAll moves every live key to "sending" right before the request is
// written, in one round trip. An entry whose claim lapsed meanwhile
// (another sender took it) is not sent: the retrier brings it back.
func (s *Sender) armAll(p *partition, es []*entry) bool {
	live := liveOf(es)
	items := itemsOf(live)
	toks := make([]string, len(live))
	for i, e := range live {
		toks[i] = e.tok
	}
	var errs []error
	err := s.infra(p.ctx, "arm", func(ctx context.Context) (err error) {
		errs, err = s.fnc.ArmBatch(ctx, items, toks)
		return err
	})
	if err != nil {
		s.releaseUnsent(live)
		return false
	}
	n := 0
	for i, e := range live {
		if errs[i] == nil {
			n++
			continue
		}
		s.m.count(outBusy)
		e.recs, e.step = s.retryRecords(e.r, e.j, e.j.Attempt, retry.Class("busy"), "fence claim lapsed before sending"), produce
	}
	return n > 0
}

// releaseUnsent gives the keys back on the way out of an attempt that never
// reached SES (its partition went away). It is bookkeeping like any mark:
// retried until it lands or the bookkeeping bound ends, because an arm that
// landed just before Redis stalled would otherwise leave the key "sending",
// and its next owner would hold the user as ambiguous though nothing was
// sent. The entries do not finish either way.
func (s *Sender) releaseUnsent(es []*entry) {
	for _, e := range es {
		s.setMark(e, fence.OpRelease, "", "", func(error) { e.step = dropped })
	}
}

// sendAll writes the SES request of the live entries: SendEmail for one,
// SendBulkEmail for several. An error of the whole call is the outcome of
// every entry: when it may have been written, every entry is ambiguous.
func (s *Sender) sendAll(es []*entry) {
	live := liveOf(es)
	ids, errs := s.send(live)
	for i, e := range live {
		if errs[i] != nil {
			s.failed(e, errs[i])
		} else {
			s.sent(e, ids[i])
		}
	}
}

// sent records an email SES accepted: fence, then ledger.
func (s *Sender) sent(e *entry, msgID string) {
	s.setMark(e, fence.OpSent, msgID, "", func(err error) {
		switch {
		case err == nil:
		case errors.Is(err, fence.ErrSentOverLostClaim):
			s.jobLog(e.r, e.j).Warn("sent after the fence had lost this claim (Redis failover or lease taken over): recorded as sent anyway", "message_id", msgID)
		case errors.Is(err, fence.ErrNotOwner):
			s.jobLog(e.r, e.j).Warn("sent, but another owner had already settled the fence key", "message_id", msgID)
		}
		s.m.count(outSent)
		s.gate.sent(e.j)
		reason := ""
		if e.claim.Resolved {
			reason = ledger.ReasonResentAfterSilence
		}
		e.recs = append(e.recs, s.entryLedger(e, ledger.Sent, msgID, reason))
	})
}

// failed decides an entry SES did not accept, by the class of its error.
func (s *Sender) failed(e *entry, sendErr error) {
	class := retry.Ambiguous
	var se *ses.SendError
	if errors.As(sendErr, &se) {
		class = se.Class
	}
	attempt := e.j.Attempt + 1
	reason := job.Truncate(sendErr.Error())
	s.warnFailed(e.r, e.j, class, attempt, reason, sendErr)

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
			s.deadLetter(e, attempt, retry.ReasonExhausted, class, reason)
			return
		}
		s.giveBack(e, func() { e.recs = append(e.recs, s.retryRecords(e.r, e.j, attempt, class, reason)...) })

	case retry.ActionPause, retry.ActionStop:
		s.giveBack(e, func() {
			if class == retry.Quota {
				s.gate.pause(account, pauseQuota, sendErr)
			} else {
				s.gate.pause(stopScope(e.j, sendErr), pauseStopped, sendErr)
			}
			e.step = retryAtGate
		})

	case retry.ActionDeadLetter:
		s.setMark(e, fence.OpFailed, "", reason, func(error) {
			s.m.count(outFailed)
			s.m.dlq.WithLabelValues(retry.ReasonPermanent).Inc()
			e.recs = append(e.recs, s.entryLedger(e, ledger.Failed, "", reason), s.dlqRecord(e.r, e.j, attempt, retry.ReasonPermanent, class, reason))
		})

	default: // ambiguous
		s.ambiguous(e, attempt, class, reason, sendErr)
	}
}

// ambiguous settles a send SES may have accepted. --on-ambiguous resend
// releases it for one resend (the fence refuses a second: ErrResendSpent);
// hold, and a resend that was itself ambiguous, record it as ambiguous.
// When SES events settle sends (--resolve-after), an ambiguous job also goes
// back through the retry tiers: its next claim finds it settled by its
// event, or, after --resolve-after without one, declared not sent.
func (s *Sender) ambiguous(e *entry, attempt int, class retry.Class, reason string, sendErr error) {
	hold := func() {
		s.setMark(e, fence.OpAmbiguous, "", reason, func(err error) {
			if errors.Is(err, fence.ErrNotOwner) && s.settledMeanwhile(e) {
				return
			}
			s.m.count(outAmbiguous)
			e.recs = append(e.recs, s.entryLedger(e, ledger.Ambiguous, "", reason))
			if s.cfg.ResolveAfter > 0 {
				e.recs = append(e.recs, s.retryRecords(e.r, e.j, attempt, class, "awaiting its SES event: "+reason)[0])
			}
		})
	}
	if s.cfg.OnAmbiguous != fence.Resend {
		if s.cfg.ResolveAfter > 0 {
			s.warnEntry("awaiting", e, "ambiguous: SES may have accepted this email; awaiting its SES event (sender reconcile) before --resolve-after", "resolve_after", s.cfg.ResolveAfter, "err", sendErr)
		} else {
			s.warnEntry("hold", e, "ambiguous: SES may have accepted this email; holding it (nothing resent)", "err", sendErr)
		}
		hold()
		return
	}
	if s.cfg.Policy.Exhausted(attempt) {
		s.deadLetter(e, attempt, retry.ReasonExhausted, class, reason)
		return
	}
	s.setMark(e, fence.OpResendable, "", reason, func(err error) {
		if !errors.Is(err, fence.ErrResendSpent) {
			e.recs = append(e.recs, s.retryRecords(e.r, e.j, attempt, class, reason)...)
			return
		}
		s.warnEntry("hold-resend", e, "ambiguous again after its one resend: holding it", "err", sendErr)
		hold() // a second mark, in the next round of markAll
	})
}

// settledMeanwhile handles a mark refused because the key was settled
// under us (by an SES event naming this attempt): the ledger reports what
// the fence says.
func (s *Sender) settledMeanwhile(e *entry) bool {
	var rec fence.Record
	var found bool
	err := s.book("get", func(ctx context.Context) (err error) {
		rec, found, err = s.fnc.Get(ctx, e.j.Campaign, e.j.UserID)
		return err
	})
	if err != nil || !found || !rec.State.Terminal() {
		return false
	}
	e.recs = append(e.recs, s.ledgerFromFence(e.j, rec))
	return true
}

// giveBack releases the key (the email was surely not sent), then runs then.
func (s *Sender) giveBack(e *entry, then func()) {
	s.setMark(e, fence.OpRelease, "", "", func(error) { then() })
}

func (s *Sender) deadLetter(e *entry, attempt int, why string, class retry.Class, reason string) {
	s.setMark(e, fence.OpDeadLettered, "", why, func(error) {
		s.m.count(outDeadLettered)
		s.m.dlq.WithLabelValues(why).Inc()
		e.recs = append(e.recs, s.entryLedger(e, ledger.DeadLettered, "", why+": "+reason), s.dlqRecord(e.r, e.j, attempt, why, class, reason))
	})
}

// setMark decides e's outcome: the fence write op, then (given its answer)
// then.
func (s *Sender) setMark(e *entry, op fence.Op, msgID, reason string, then func(error)) {
	e.mark = fence.Mark{Item: fence.Item{Campaign: e.j.Campaign, User: e.j.UserID}, Token: e.tok, Op: op, MessageID: msgID, Reason: reason}
	e.onMark = then
	e.step = markPending
}

// markAll writes the fence marks of the batch in one round trip under the
// bookkeeping context, and runs what each outcome needs next. A mark that
// leads to another (an ambiguous resend refused: hold it) goes in a second
// round. When the marks cannot land, their entries do not finish: the key
// stays as it was and the job is consumed again.
func (s *Sender) markAll(es []*entry) {
	for round := 0; round < 3; round++ {
		var pending []*entry
		for _, e := range es {
			if e.step == markPending {
				pending = append(pending, e)
			}
		}
		if len(pending) == 0 {
			return
		}
		marks := make([]fence.Mark, len(pending))
		for i, e := range pending {
			marks[i] = e.mark
		}
		var errs []error
		err := s.book("mark", func(ctx context.Context) (err error) {
			errs, err = s.fnc.MarkBatch(ctx, marks)
			return err
		})
		for i, e := range pending {
			if err != nil || (errs[i] != nil && !decision(errs[i])) {
				e.step = dropped
				continue
			}
			e.step = produce
			e.onMark(errs[i])
		}
	}
}

// produceAll produces the records of every decided entry in one produce;
// an entry finishes when its records are acknowledged.
func (s *Sender) produceAll(es []*entry) {
	var recs []*kgo.Record
	for _, e := range es {
		switch e.step {
		case produce:
			recs = append(recs, e.recs...)
		case retryAtGate:
			e.again = true
		}
	}
	ok := len(recs) == 0 || s.emit(recs...) == nil
	for _, e := range es {
		e.finished = e.step == produce && ok
	}
}

// warnEntry logs one line about an entry, at most once per kind every few
// seconds with the count held back: an ambiguous SendBulkEmail call makes
// up to 50 users ambiguous at once, and the ledger names each of them.
func (s *Sender) warnEntry(kind string, e *entry, msg string, args ...any) {
	ok, held := s.logs.Allow("entry:"+kind, s.clk.Now())
	if !ok {
		return
	}
	s.jobLog(e.r, e.j).Warn(msg, append(args, "similar_lines_suppressed", held)...)
}
