package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/producer"
)

// watch shows progress until every valid user is settled (none left
// ambiguous, awaiting its SES event), restarting a sender on the way and
// telling of the injected "accepted, then 503" calls and their settlement,
// and returns when that happened.
func watch(ctx context.Context, o *Options, w *world, wt *watcher, amb *ambiguity, prog *progress, pm *producer.Metrics,
	published <-chan publishResult, svcs *[]*service, rep *Report, valid int) (time.Time, error) {
	// Check often (a small run is over in a second), repaint every 250ms.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var (
		pub       *producer.Summary
		restarted = o.RestartAt == 0
		restart   chan restartResult
		lastLine  time.Time
		lastPaint time.Time
		told      = &injectionNews{}
	)
	for {
		select {
		case <-ctx.Done():
			c := wt.counts()
			return time.Time{}, fmt.Errorf("the demo did not finish (%s of %s users settled, %s retrying, %s ambiguous awaiting their SES events): %w",
				num(c.Terminal()-c[ledger.Ambiguous]), num(valid), num(c[ledger.Retrying]), num(c[ledger.Ambiguous]), ctx.Err())
		case r := <-published:
			if r.err != nil {
				return time.Time{}, fmt.Errorf("producer publish: %w", r.err)
			}
			pub = &r.s
			rep.Published = int(r.s.Published)
			rep.DuplicateRows = int(r.s.Duplicates)
			for k, n := range r.s.RejectedBy {
				rep.Rejected[string(k)] = int(n)
			}
			prog.event(time.Now(), "producer publish done: %s rows read, %s jobs published, %s rejected, %s duplicate rows",
				num(int(r.s.Rows)), num(int(r.s.Published)), num(int(r.s.Rejected)), num(int(r.s.Duplicates)))
			continue
		case r := <-restart:
			restart = nil
			if r.err != nil {
				return time.Time{}, r.err
			}
			*svcs = append(*svcs, r.started)
			rep.Restarted = true
			continue
		case <-tick.C:
		}
		for _, s := range *svcs {
			if err := s.failed(); err != nil {
				return time.Time{}, err
			}
		}
		now := time.Now()
		c := wt.counts()
		snap := snapshot{
			published: int(counterValue(pm.Published)), valid: valid,
			sent: c[ledger.Sent], retrying: c[ledger.Retrying] + c[ledger.Redriven], ambiguous: c[ledger.Ambiguous],
			settled: c.Terminal() - c[ledger.Ambiguous], limit: w.rateLimit(),
		}
		told.tell(now, prog, amb, wt)
		if now.Sub(lastPaint) >= 250*time.Millisecond {
			line := now.Sub(lastLine) >= o.LineEvery
			prog.update(now, snap, line)
			lastPaint = now
			if line {
				lastLine = now
			}
		}

		if !restarted && float64(snap.sent) >= o.RestartAt*float64(valid) {
			restarted = true
			restart = make(chan restartResult, 1)
			go func(svcs []*service) {
				s, err := restartSender(ctx, o, w, prog, svcs)
				restart <- restartResult{s, err}
			}(*svcs)
		}
		if pub != nil && restart == nil && snap.settled >= int(pub.Published) {
			prog.update(now, snap, true)
			prog.event(now, "every published user is settled in the ledger; stopping the senders and the retrier (graceful drain)")
			return now, nil
		}
	}
}

// restartSender stops sender-2 as Kubernetes would (SIGTERM: it stops
// taking work, finishes what is in flight, commits and leaves the group)
// and starts sender-3 in its place.
func restartSender(ctx context.Context, o *Options, w *world, prog *progress, svcs []*service) (*service, error) {
	var old *service
	for _, s := range svcs {
		if s.name == "sender-2" {
			old = s
		}
	}
	prog.event(time.Now(), "stopping sender-2 mid-run (SIGTERM: graceful drain)")
	t := time.Now()
	if err := old.stop(); err != nil {
		return nil, err
	}
	prog.event(time.Now(), "sender-2 drained, committed and left the group in %.2fs; starting sender-3", time.Since(t).Seconds())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := w.startSender(ctx, o, "sender-3")
	if err != nil {
		return nil, fmt.Errorf("starting sender-3: %w", err)
	}
	return s, nil
}

type restartResult struct {
	started *service
	err     error
}

// injectionNews tells, once each, of every injected "accepted, then 503"
// call and of the moment the reconciler has settled all of their users.
type injectionNews struct {
	told    int
	settled bool
}

func (n *injectionNews) tell(now time.Time, prog *progress, amb *ambiguity, wt *watcher) {
	inj := amb.Injected()
	for ; n.told < len(inj); n.told++ {
		prog.event(inj[n.told].At, "SES accepted %s of one call and answered 503 (injected): the senders cannot know they left; ambiguous until SES's events settle them",
			plural(len(inj[n.told].Users), "email"))
		n.settled = false
	}
	if n.settled || len(inj) == 0 {
		return
	}
	users := injectedUsers(inj)
	if len(wt.settlement(users).byEvent) < len(users) {
		return
	}
	n.settled = true
	prog.event(now, "the reconciler settled the %s of the injected call(s) from their SES events, %.1fs after the 503: ledger sent, reason settled_by_event",
		plural(len(users), "user"), now.Sub(inj[len(inj)-1].At).Seconds())
}

// injectedUsers are the users of every injected call.
func injectedUsers(calls []InjectedCall) []string {
	var users []string
	for _, c := range calls {
		users = append(users, c.Users...)
	}
	return users
}
