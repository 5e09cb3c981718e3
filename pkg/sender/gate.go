package sender

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// gate pauses all sending while the SES quota is used up or the account
// cannot send, and keeps the rate ceiling in step with SES GetAccount.
type gate struct {
	s *Sender

	mu     sync.Mutex
	reason string        // "" when open
	open   chan struct{} // closed while the gate is open
	stopCh chan struct{}
	wg     sync.WaitGroup
}

const (
	pauseQuota   = "quota"
	pauseStopped = "stopped"
)

func newGate(s *Sender) *gate {
	g := &gate{s: s, open: make(chan struct{}), stopCh: make(chan struct{})}
	close(g.open)
	return g
}

// start reads the account once (the rate ceiling may depend on it) and
// refreshes it in the background.
func (g *gate) start(ctx context.Context) error {
	if err := g.refresh(ctx, true); err != nil {
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
			if err := g.refresh(ctx, false); err != nil {
				g.s.log.Warn("reading SES account failed", "err", err)
			}
		}
	}()
	return nil
}

func (g *gate) stop() {
	close(g.stopCh)
	g.wg.Wait()
}

func (g *gate) refresh(ctx context.Context, first bool) error {
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
	switch g.pausedReason() {
	case pauseQuota:
		if max24 < 0 || sent24 < max24 {
			g.resume("the SES quota has room again")
		}
	case pauseStopped:
		if enabled {
			g.resume("SES sending is enabled again")
		}
	}
}

func (g *gate) pausedReason() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason
}

// pause closes the gate; every job waits before its claim until resume.
func (g *gate) pause(reason string, cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason != "" {
		return
	}
	g.reason = reason
	g.open = make(chan struct{})
	g.s.m.paused.WithLabelValues(reason).Set(1)
	if reason == pauseStopped {
		g.s.log.Error("SES refuses to send for this account: all sending stopped until GetAccount says sending is enabled", "err", cause)
	} else {
		g.s.log.Warn("SES daily quota used up: sending paused until GetAccount shows room", "err", cause)
	}
}

func (g *gate) resume(why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason == "" {
		return
	}
	g.s.m.paused.WithLabelValues(g.reason).Set(0)
	g.s.log.Info("sending resumed", "why", why)
	g.reason = ""
	close(g.open)
}

// wait blocks while the gate is closed.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
