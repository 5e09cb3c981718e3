package sender

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// CampaignControl says what the operator decided for a campaign (producer
// pause|resume|cancel), whether that view is current, and whether it was
// ever loaded. *control.Watcher implements it.
type CampaignControl interface {
	State(campaign string) (st control.State, current, loaded bool)
}

// controlled applies the campaign's control state before anything else: a
// paused campaign's job is parked (moved to <prefix>.parked untouched: no
// claim, no attempt used, nothing waits behind it), a cancelled campaign's
// job is ended cancelled. handled is false for an active campaign.
func (s *Sender) controlled(p *partition, r *kgo.Record, j *job.Job) (handled, finished bool) {
	if s.ctl == nil {
		return false, false
	}
	for {
		st, current, loaded := s.ctl.State(j.Campaign)
		switch {
		case !loaded:
			// The control topic was never read to its end (the sender
			// just started): the campaign may be paused.
		case st == control.Cancelled: // final: a stale view of it holds
			return true, s.cancelJob(p, r, j)
		case st != control.Paused:
			return false, false
		case current:
			return true, s.park(r, j)
		}
		// Not loaded yet, or paused on a view that is not current: wait
		// for a current one rather than send a paused campaign's job, or
		// park a job of a campaign that may have been resumed meanwhile
		// (its parked jobs were already swept back).
		select {
		case <-p.ctx.Done():
			return true, false
		case <-s.clk.After(time.Second):
		}
	}
}

// park moves a paused campaign's job to the parked topic as it is.
func (s *Sender) park(r *kgo.Record, j *job.Job) bool {
	out := &kgo.Record{Topic: s.cfg.Topics.Parked(), Key: r.Key, Value: r.Value, Headers: append([]kgo.RecordHeader(nil), r.Headers...)}
	if job.Header(r, job.HeaderOrigTopic) == "" {
		job.SetHeader(out, job.HeaderOrigTopic, r.Topic)
	}
	if ok, held := s.logs.Allow("parked:"+j.Campaign, s.clk.Now()); ok {
		s.log.Info("campaign paused: parking its jobs until producer resume", "campaign", j.Campaign, "similar_lines_suppressed", held)
	}
	if s.emit(out) != nil {
		return false
	}
	s.m.count(outParked)
	return true
}

// cancelJob ends a cancelled campaign's job: cancelled in the fence and
// the ledger, unless the fence already settled the user (sent stays sent).
func (s *Sender) cancelJob(p *partition, r *kgo.Record, j *job.Job) bool {
	cl, ok := s.claim(p, j)
	if !ok {
		return false
	}
	if cl.Outcome != fence.Won {
		return s.emit(s.notWon(&entry{r: r, j: j, claim: cl})...) == nil
	}
	err := s.book("mark_cancelled", func(ctx context.Context) error { return s.fnc.MarkCancelled(ctx, j.Campaign, j.UserID, cl.Token) })
	if err != nil && !errors.Is(err, fence.ErrNotOwner) {
		return false
	}
	s.m.count(outCancelled)
	return s.emit(s.ledgerRecord(j, ledger.Cancelled, "", "campaign cancelled")) == nil
}
