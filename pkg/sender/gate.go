package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ses"
)

// gate pauses sending for what SES refuses: the whole account (quota used
// up, account paused), one configuration set (ConfigurationSetSending-
// PausedException) or one From identity (AccessDenied). Only the jobs of a
// paused scope wait; every other campaign keeps sending. A pause lifts on
// evidence that matches its cause (GetAccount, GetConfigurationSet,
// GetEmailIdentity), read every AccountRefresh. A stop that does not lift
// after MaxStopCycles checks, or that comes straight back after lifting
// that many times, gives up: its jobs go to the DLQ with reason "stopped",
// to be redriven once the cause is fixed. A quota pause never gives up: the
// quota refills.
type gate struct {
	s *Sender

	mu     sync.Mutex
	pauses map[scope]*pause
	// strikes counts, per scope, the pauses and the checks without change
	// since the scope last sent an email.
	strikes map[scope]int
	// busy is len(pauses)+len(strikes): the per-email paths skip the lock
	// while it is 0.
	busy atomic.Int32

	stopCh chan struct{}
	wg     sync.WaitGroup
}

// scope is what a pause applies to.
type scope struct {
	kind string // scopeAccount, scopeConfigSet or scopeIdentity
	name string
}

const (
	scopeAccount   = "account"
	scopeConfigSet = "configuration_set"
	scopeIdentity  = "identity"
)

func (sc scope) String() string {
	if sc.kind == scopeAccount {
		return "the SES account"
	}
	return fmt.Sprintf("%s %q", sc.kind, sc.name)
}

var account = scope{kind: scopeAccount}

// The reasons of a pause, also the values of the paused metric's label for
// the account scope.
const (
	pauseQuota   = "quota"
	pauseStopped = "stopped"
)

type pause struct {
	reason string
	cause  error
	open   chan struct{} // closed when the pause lifts or gives up
	gaveUp bool
}

// errStopped is what wait returns for a job whose scope gave up.
type errStopped struct {
	scope scope
	cause error
	after int
}

func (e *errStopped) Error() string {
	return fmt.Sprintf("SES kept refusing %s after %d checks: %v", e.scope, e.after, e.cause)
}

func newGate(s *Sender) *gate {
	return &gate{s: s, pauses: map[scope]*pause{}, strikes: map[scope]int{}, stopCh: make(chan struct{})}
}

// scopesOf lists the scopes a job sends under.
func scopesOf(j *job.Job) [3]scope {
	out := [3]scope{account}
	if j.ConfigurationSet != "" {
		out[1] = scope{kind: scopeConfigSet, name: j.ConfigurationSet}
	}
	if j.From != "" {
		out[2] = scope{kind: scopeIdentity, name: j.From}
	}
	return out
}

// stopScope is the scope a refusal applies to.
func stopScope(j *job.Job, err error) scope {
	var se *ses.SendError
	if !errors.As(err, &se) {
		return account
	}
	switch se.Code {
	case "ConfigurationSetSendingPausedException", "ConfigurationSetDoesNotExistException", "ConfigurationSetDoesNotExist":
		if j.ConfigurationSet != "" {
			return scope{kind: scopeConfigSet, name: j.ConfigurationSet}
		}
	case "AccessDeniedException", "AccessDenied":
		if j.From != "" {
			return scope{kind: scopeIdentity, name: j.From}
		}
	}
	return account
}

// start reads the account once (the rate ceiling may depend on it) and
// refreshes it, and the evidence of every scoped pause, in the background.
func (g *gate) start(ctx context.Context) error {
	if err := g.refreshAccount(ctx, true); err != nil {
		return err
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-g.stopCh:
				return
			case <-g.s.clk.After(g.s.cfg.AccountRefresh):
			}
			g.refresh(ctx)
		}
	}()
	return nil
}

func (g *gate) stop() {
	close(g.stopCh)
	g.wg.Wait()
}

// refresh is one cycle of the background check.
func (g *gate) refresh(ctx context.Context) {
	if err := g.refreshAccount(ctx, false); err != nil {
		g.s.log.Warn("reading SES account failed", "err", err)
	}
	g.checkScopes(ctx)
	g.s.checkRedis(ctx)
}

func (g *gate) refreshAccount(ctx context.Context, first bool) error {
	s := g.s
	var lastErr error
	tries := 1
	if first && s.cfg.MaxSendRate == 0 {
		tries = 5
	}
	for i := 0; i < tries; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		acct, err := s.ses.Account(cctx)
		cancel()
		if err == nil {
			g.apply(acct.MaxSendRate, acct.Max24HourSend, acct.SentLast24Hours, acct.SendingEnabled)
			return nil
		}
		lastErr = err
		if i+1 < tries {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.clk.After(time.Duration(i+1) * time.Second):
			}
		}
	}
	if first && s.cfg.MaxSendRate == 0 {
		return fmt.Errorf("reading SES GetAccount to size the send rate (set --max-send-rate to skip it): %w", lastErr)
	}
	if first {
		s.log.Warn("reading SES account failed; sending at --max-send-rate", "err", lastErr)
		g.apply(0, -1, 0, true)
		return nil
	}
	return lastErr
}

func (g *gate) apply(maxRate, max24, sent24 float64, enabled bool) {
	s := g.s
	s.m.maxRate.Set(maxRate)
	if max24 > 0 {
		s.m.quotaUsed.Set(sent24 / max24)
	}
	ceiling := s.cfg.MaxSendRate
	if ceiling == 0 {
		ceiling = maxRate * s.cfg.RateFraction
	}
	if s.lim != nil && ceiling > 0 {
		s.lim.SetCeiling(ceiling)
		s.m.rate.Set(s.lim.Rate())
	}
	switch g.reason(account) {
	case pauseQuota:
		if max24 < 0 || sent24 < max24 {
			g.resume(account, "the SES quota has room again")
		}
	case pauseStopped:
		if enabled {
			g.resume(account, "GetAccount says sending is enabled again")
		}
	}
}

// Checker reads the evidence that lifts a scoped pause. *ses.Client
// implements it; a Mailer without it keeps scoped pauses until they give
// up.
type Checker interface {
	ConfigurationSetSending(ctx context.Context, name string) (bool, error)
	IdentitySending(ctx context.Context, from string) (bool, error)
}

// checkScopes reads the evidence of every paused configuration set and
// identity: lift what SES says can send again, strike what it does not.
func (g *gate) checkScopes(ctx context.Context) {
	g.mu.Lock()
	var scopes []scope
	for sc := range g.pauses {
		if sc.kind != scopeAccount {
			scopes = append(scopes, sc)
		}
	}
	g.mu.Unlock()
	chk, _ := g.s.ses.(Checker)
	for _, sc := range scopes {
		ok, err := false, errors.New("the mailer cannot read SES sending state")
		if chk != nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if sc.kind == scopeConfigSet {
				ok, err = chk.ConfigurationSetSending(cctx, sc.name)
			} else {
				ok, err = chk.IdentitySending(cctx, sc.name)
			}
			cancel()
		}
		switch {
		case err == nil && ok:
			g.resume(sc, "SES says it can send again")
		case err != nil:
			g.s.log.Warn("cannot read whether a paused scope can send; it stays paused", "scope", sc.String(), "err", err)
			g.strike(sc)
		default:
			g.strike(sc)
		}
	}
}

func (g *gate) reason(sc scope) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pauses[sc]; p != nil {
		return p.reason
	}
	return ""
}

// pause stops the jobs of sc until the evidence lifts it.
func (g *gate) pause(sc scope, reason string, cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pauses[sc] != nil {
		return
	}
	p := &pause{reason: reason, cause: cause, open: make(chan struct{})}
	g.pauses[sc] = p
	g.setBusy()
	g.s.m.paused.WithLabelValues(pauseLabel(sc, reason)).Inc()
	switch {
	case reason == pauseQuota:
		g.s.log.Warn("SES daily quota used up: sending paused until GetAccount shows room", "err", cause)
	case sc.kind == scopeAccount:
		g.s.log.Error("SES refuses to send for this account: all sending stopped until GetAccount says sending is enabled", "err", cause)
	default:
		g.s.log.Error("SES refuses to send for one scope: its jobs wait, every other job keeps sending", "scope", sc.String(), "err", cause)
	}
	if reason == pauseStopped {
		// A stop that comes back right after lifting is a loop: count it.
		g.strikeLocked(sc, p)
	}
}

func pauseLabel(sc scope, reason string) string {
	if sc.kind == scopeAccount {
		return reason
	}
	return sc.kind
}

// strike counts a check (or a renewed pause) without change; past
// MaxStopCycles the pause gives up and its jobs are dead-lettered.
func (g *gate) strike(sc scope) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pauses[sc]; p != nil && !p.gaveUp && p.reason == pauseStopped && sc.kind != scopeAccount {
		g.strikeLocked(sc, p)
	}
}

func (g *gate) strikeLocked(sc scope, p *pause) {
	g.strikes[sc]++
	g.setBusy()
	if n := g.strikes[sc]; n > g.s.cfg.MaxStopCycles && !p.gaveUp {
		p.gaveUp = true
		close(p.open)
		g.s.log.Error("giving up on a stopped scope: its jobs go to the DLQ with reason \"stopped\"; fix the cause, then `retrier redrive --reason stopped`",
			"scope", sc.String(), "checks", n, "err", p.cause)
	}
}

// resume lifts the pause of sc.
func (g *gate) resume(sc scope, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pauses[sc]
	if p == nil {
		return
	}
	delete(g.pauses, sc)
	g.setBusy()
	g.s.m.paused.WithLabelValues(pauseLabel(sc, p.reason)).Dec()
	g.s.log.Info("sending resumed", "scope", sc.String(), "why", why)
	if !p.gaveUp {
		close(p.open)
	}
}

func (g *gate) setBusy() { g.busy.Store(int32(len(g.pauses) + len(g.strikes))) }

// sent clears the strikes of j's scopes: they can send.
func (g *gate) sent(j *job.Job) {
	if g.busy.Load() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, sc := range scopesOf(j) {
		if sc.kind != "" {
			delete(g.strikes, sc)
		}
	}
	g.setBusy()
}

// wait blocks while one of j's scopes is paused. It returns an *errStopped
// when a scope gave up, and the context's error when ctx ends.
func (g *gate) wait(ctx context.Context, j *job.Job) error {
	for g.busy.Load() != 0 {
		var ch chan struct{}
		g.mu.Lock()
		for _, sc := range scopesOf(j) {
			p := g.pauses[sc]
			if sc.kind == "" || p == nil {
				continue
			}
			if p.gaveUp {
				err := &errStopped{scope: sc, cause: p.cause, after: g.strikes[sc]}
				g.mu.Unlock()
				return err
			}
			ch = p.open
			break
		}
		g.mu.Unlock()
		if ch == nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}
