package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// ReadyCacheTTL is how long /readyz reuses its last answer: a probe (or
// anyone who can reach the port) cannot turn the endpoint into a Redis
// ping per request.
const ReadyCacheTTL = 2 * time.Second

// readyCheck serves /readyz: 200 "ready" or 503 "not ready". The reason
// goes to the log (once per change), never to the response body, which
// anyone who can reach the port reads.
type readyCheck struct {
	ready func() error
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	err     error
	logged  string // the last reason logged ("" while ready)
}

func newReadyCheck(ready func() error, log *slog.Logger) *readyCheck {
	return &readyCheck{ready: ready, ttl: ReadyCacheTTL, now: time.Now, log: log}
}

// result returns the cached answer, asking ready again once it is older
// than ttl. Concurrent probes wait for the one in flight.
func (c *readyCheck) result() error {
	if c.ready == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.checked.IsZero() && now.Sub(c.checked) < c.ttl {
		return c.err
	}
	c.err, c.checked = c.ready(), now
	c.report()
	return c.err
}

// report logs a change of readiness, with the reason.
func (c *readyCheck) report() {
	reason := ""
	if c.err != nil {
		reason = c.err.Error()
	}
	if reason == c.logged || c.log == nil {
		c.logged = reason
		return
	}
	if reason == "" {
		c.log.Info("ready again")
	} else {
		c.log.Warn("not ready", "reason", reason)
	}
	c.logged = reason
}

func (c *readyCheck) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if c.result() != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}
