package sesfault

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// upstream is an httptest SES stand-in that accepts everything and counts
// what reached it.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	sends map[string]int // SendEmail calls per To address
	other atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{sends: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v2/email/outbound-emails" {
			u.other.Add(1)
			w.Header().Set("X-Upstream", r.Method+" "+r.URL.RequestURI())
			_, _ = io.WriteString(w, `{"SendQuota":{"MaxSendRate":7}}`)
			return
		}
		to := strings.Split(strings.Split(string(b), `"ToAddresses":["`)[1], `"`)[0]
		u.mu.Lock()
		u.sends[to]++
		u.mu.Unlock()
		_, _ = io.WriteString(w, `{"MessageId":"m-`+to+`"}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, v := range u.sends {
		n += v
	}
	return n
}

func (u *upstream) got(to string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sends[to]
}

func newProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func sendEmail(ctx context.Context, url, to string) (int, string, error) {
	body := `{"Content":{"Template":{"TemplateName":"t"}},"Destination":{"ToAddresses":["` + to + `"]},"FromEmailAddress":"a@example.com"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v2/email/outbound-emails", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), nil
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Target: "http://127.0.0.1:1"}, true},
		{"no target", Config{}, false},
		{"relative target", Config{Target: "127.0.0.1:1"}, false},
		{"ratio over 1", Config{Target: "http://h", ThrottleRatio: 1.5}, false},
		{"negative ratio", Config{Target: "http://h", Err503Ratio: -0.1}, false},
		{"sum over 1", Config{Target: "http://h", ThrottleRatio: 0.5, Err503Ratio: 0.3, Err503AfterRatio: 0.3}, false},
		{"sum exactly 1", Config{Target: "http://h", ThrottleRatio: 0.5, Err503Ratio: 0.25, Err503AfterRatio: 0.25}, true},
		{"negative rate", Config{Target: "http://h", RateCap: -1}, false},
		{"latency range", Config{Target: "http://h", MinLatency: 2, MaxLatency: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
	cfg := Config{Target: "http://h", RateCap: 200}
	require.NoError(t, cfg.Validate())
	require.Equal(t, 20.0, cfg.RateBurst)
}

func TestRatios(t *testing.T) {
	run := func(n int) (Stats, map[int]int, int) {
		up := newUpstream(t)
		p := newProxy(t, Config{Target: up.URL, ThrottleRatio: 0.10, Err503Ratio: 0.05, Err503AfterRatio: 0.05, Seed: 7})
		statuses := map[int]int{}
		for i := range n {
			st, code, err := sendEmail(context.Background(), p.URL(), fmt.Sprintf("u%d@example.org", i))
			require.NoError(t, err)
			if st == http.StatusTooManyRequests {
				require.Equal(t, "TooManyRequestsException", code)
			}
			statuses[st]++
		}
		return p.Stats(), statuses, up.total()
	}
	const n = 4000
	s, statuses, upstreamGot := run(n)
	near := func(name string, got int, ratio float64) {
		sigma := math.Sqrt(n * ratio * (1 - ratio))
		require.InDelta(t, n*ratio, float64(got), 4*sigma, "%s: %d of %d", name, got, n)
	}
	near("throttled", s.Throttled, 0.10)
	near("503", s.Err503, 0.05)
	near("503 after", s.AcceptedAfter503, 0.05)
	require.Equal(t, n, s.SendEmail)
	require.Equal(t, statuses[http.StatusTooManyRequests], s.Throttled)
	require.Equal(t, statuses[http.StatusServiceUnavailable], s.Err503+s.AcceptedAfter503)
	require.Equal(t, n-s.Throttled-s.Err503, s.Forwarded)
	// Every 503-after reached upstream, and nothing else did.
	require.Equal(t, s.Forwarded, upstreamGot)
	require.Equal(t, statuses[http.StatusOK]+s.AcceptedAfter503, upstreamGot)

	// The same seed and the same calls give the same decisions.
	s2, _, _ := run(n)
	s.PeakSendRate, s2.PeakSendRate = 0, 0
	require.Equal(t, s, s2)
}

func TestOnlySendEmailGetsFaults(t *testing.T) {
	up := newUpstream(t)
	p := newProxy(t, Config{Target: up.URL, ThrottleRatio: 1})
	resp, err := http.Get(p.URL() + "/v2/email/account?x=1")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"SendQuota":{"MaxSendRate":7}}`, string(b))
	require.Equal(t, "GET /v2/email/account?x=1", resp.Header.Get("X-Upstream"))

	resp, err = http.Post(p.URL()+"/v2/email/templates/a%2Fb/render", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "POST /v2/email/templates/a%2Fb/render", resp.Header.Get("X-Upstream"))

	st, _, err := sendEmail(context.Background(), p.URL(), "a@example.org")
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, st)
	require.Equal(t, int64(2), up.other.Load())
	require.Equal(t, 0, up.total())
	s := p.Stats()
	require.Equal(t, 3, s.Requests)
	require.Equal(t, 1, s.SendEmail)
}

func TestRejectRecipient(t *testing.T) {
	up := newUpstream(t)
	p := newProxy(t, Config{Target: up.URL, RejectRecipient: func(to string) bool { return strings.HasPrefix(to, "bad") }})
	st, code, err := sendEmail(context.Background(), p.URL(), "bad@example.org")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "MessageRejected", code)
	st, _, err = sendEmail(context.Background(), p.URL(), "good@example.org")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, 0, up.got("bad@example.org"))
	require.Equal(t, 1, up.got("good@example.org"))
	require.Equal(t, 1, p.Stats().Rejected)
}

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRateCap(t *testing.T) {
	up := newUpstream(t)
	clk := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	p := newProxy(t, Config{Target: up.URL, RateCap: 10, RateBurst: 5, Now: clk.Now})
	burst := func(n int) (ok int) {
		for i := range n {
			st, _, err := sendEmail(context.Background(), p.URL(), fmt.Sprintf("u%d@example.org", i))
			require.NoError(t, err)
			if st == http.StatusOK {
				ok++
			} else {
				require.Equal(t, http.StatusTooManyRequests, st)
			}
		}
		return ok
	}
	require.Equal(t, 5, burst(8), "the burst")
	clk.Add(100 * time.Millisecond)
	require.Equal(t, 1, burst(3), "10/s refills one token per 100ms")
	clk.Add(10 * time.Second)
	require.Equal(t, 5, burst(8), "never more than the burst")
	s := p.Stats()
	require.Equal(t, 11, s.Forwarded)
	require.Equal(t, 8, s.RateCapped)
	require.Equal(t, 11, up.total())
}

func TestPeakSendRate(t *testing.T) {
	up := newUpstream(t)
	clk := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	p := newProxy(t, Config{Target: up.URL, Now: clk.Now})
	send := func(n int) {
		for range n {
			_, _, err := sendEmail(context.Background(), p.URL(), "a@example.org")
			require.NoError(t, err)
		}
	}
	clk.Add(950 * time.Millisecond)
	send(10)
	clk.Add(100 * time.Millisecond) // 1.05s: a different second, the same 1s window
	send(10)
	require.Equal(t, 20.0, p.Stats().PeakSendRate)
	clk.Add(5 * time.Second)
	send(3)
	require.Equal(t, 20.0, p.Stats().PeakSendRate)
}

// leave sends one SendEmail and hangs up as soon as the proxy has read it.
func leave(t *testing.T, p *Proxy, to string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := sendEmail(ctx, p.URL(), to)
		done <- err
	}()
	require.Eventually(t, func() bool { return p.Stats().SendEmail == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestCallerDisconnectStillForwards(t *testing.T) {
	up := newUpstream(t)
	p := newProxy(t, Config{Target: up.URL, MinLatency: 500 * time.Millisecond, MaxLatency: 500 * time.Millisecond})
	leave(t, p, "gone@example.org")
	require.Equal(t, 0, up.got("gone@example.org"), "still in the proxy's latency")
	require.Eventually(t, func() bool { return up.got("gone@example.org") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, p.Stats().Forwarded)
}

func TestErr503AfterWithDisconnect(t *testing.T) {
	up := newUpstream(t)
	p, err := New(Config{Target: up.URL, Err503AfterRatio: 1, MinLatency: 100 * time.Millisecond, MaxLatency: 100 * time.Millisecond})
	require.NoError(t, err)
	leave(t, p, "late@example.org")
	// Close waits for the call still being forwarded.
	require.NoError(t, p.Close())
	require.Equal(t, 1, up.got("late@example.org"))
	require.Equal(t, 1, p.Stats().AcceptedAfter503)
}

func TestUpstreamDown(t *testing.T) {
	up := newUpstream(t)
	url := up.URL
	up.Close()
	p := newProxy(t, Config{Target: url})
	st, _, err := sendEmail(context.Background(), p.URL(), "a@example.org")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadGateway, st)
	require.Equal(t, 1, p.Stats().UpstreamErrors)
}
