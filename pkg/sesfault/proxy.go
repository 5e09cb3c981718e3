package sesfault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Stats counts what the proxy did.
type Stats struct {
	// Requests is every request received; SendEmail the SendEmail calls.
	Requests, SendEmail int
	// Forwarded is the SendEmail calls sent upstream (AcceptedAfter503
	// included).
	Forwarded int
	// Throttled and RateCapped were answered 429, Err503 503, Rejected 400
	// MessageRejected, all without forwarding.
	Throttled, RateCapped, Err503, Rejected int
	// AcceptedAfter503 were accepted upstream and answered 503.
	AcceptedAfter503 int
	// UpstreamErrors are calls upstream could not answer (answered 502).
	UpstreamErrors int
	// SendBulkEmail is the SendBulkEmail calls, BulkEntries their entries.
	// A bulk call's whole-call faults count once in Throttled, RateCapped,
	// Err503; Forwarded counts it once if any entry went upstream.
	SendBulkEmail, BulkEntries int
	// BulkForwardedEntries went upstream; BulkRejected were answered
	// MESSAGE_REJECTED without forwarding (RejectRecipient).
	BulkForwardedEntries, BulkRejected int
	// BulkAcceptedAfter503 are entries accepted upstream in calls the proxy
	// answered 503.
	BulkAcceptedAfter503 int
	// EventsAccepted is the accepted emails told to Config.Events.
	EventsAccepted int
	// PeakSendRate is the most SendEmail calls (a bulk call counting its
	// entries) received within one second (at a resolution of 100ms).
	PeakSendRate float64
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	cfg    Config
	target string
	hc     *http.Client

	mu    sync.Mutex // guards d and stats
	d     *decider
	stats Stats

	ln       net.Listener
	srv      *http.Server
	cmu      sync.Mutex // guards closed, so that no call starts once Close waits
	closed   bool
	inflight sync.WaitGroup
}

// upstreamTimeout bounds one forwarded call.
const upstreamTimeout = 30 * time.Second

// New starts a proxy on a free loopback port.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sesfault: listening: %w", err)
	}
	p := &Proxy{
		cfg:    cfg,
		target: strings.TrimRight(cfg.Target, "/"),
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
		}},
		ln: ln,
	}
	p.d = newDecider(&p.cfg)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy and waits for the calls it is still forwarding.
func (p *Proxy) Close() error {
	p.cmu.Lock()
	p.closed = true
	p.cmu.Unlock()
	err := p.srv.Close()
	p.inflight.Wait()
	p.hc.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Stats returns a copy of the counts.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.PeakSendRate = float64(p.d.peak)
	return s
}

func (p *Proxy) count(f func(s *Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.cmu.Lock()
	if p.closed {
		p.cmu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "", "sesfault: closed")
		return
	}
	p.inflight.Add(1)
	p.cmu.Unlock()
	defer p.inflight.Done()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the caller left before sending the whole request: nothing to forward
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == pathSendEmail:
		p.sendEmail(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == pathSendBulkEmail:
		p.sendBulk(w, r, body)
	default:
		p.count(func(s *Stats) { s.Requests++ })
		p.pass(w, r, body)
	}
}

// The paths of SendEmail and SendBulkEmail.
const (
	pathSendEmail     = "/v2/email/outbound-emails"
	pathSendBulkEmail = "/v2/email/outbound-bulk-emails"
)

func (p *Proxy) sendEmail(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Destination struct{ ToAddresses []string }
	}
	_ = json.Unmarshal(body, &in) // a malformed body is forwarded and refused upstream
	p.mu.Lock()
	p.stats.Requests++
	p.stats.SendEmail++
	v, latency := p.d.decide(in.Destination.ToAddresses)
	switch v {
	case rateCapped:
		p.stats.RateCapped++
	case rejected:
		p.stats.Rejected++
	case throttled:
		p.stats.Throttled++
	case unavailable:
		p.stats.Err503++
	default:
		p.stats.Forwarded++
	}
	p.mu.Unlock()

	sleep(latency)
	switch v {
	case rateCapped, throttled:
		writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Maximum sending rate exceeded.")
	case rejected:
		writeError(w, http.StatusBadRequest, "MessageRejected", "Email address is not verified. (sesfault)")
	case unavailable:
		writeError(w, http.StatusServiceUnavailable, "", "Service Unavailable (sesfault)")
	case unavailableAfter:
		resp, ok := p.forward(w, r, body)
		if !ok {
			return
		}
		if resp.status/100 != 2 {
			resp.relay(w)
			return
		}
		p.count(func(s *Stats) { s.AcceptedAfter503++ })
		p.emailAccepted(body, resp.body)
		writeError(w, http.StatusServiceUnavailable, "", "Service Unavailable (sesfault, after acceptance)")
	default:
		resp, ok := p.forward(w, r, body)
		if !ok {
			return
		}
		if resp.status/100 == 2 {
			p.emailAccepted(body, resp.body)
		}
		resp.relay(w)
	}
}

// sleep waits d. It is not cut short by the caller leaving: the call goes
// on, as SES would process it.
func sleep(d time.Duration) {
	if d > 0 {
		t := time.NewTimer(d)
		<-t.C
	}
}

// pass forwards the call and relays the answer.
func (p *Proxy) pass(w http.ResponseWriter, r *http.Request, body []byte) {
	if resp, ok := p.forward(w, r, body); ok {
		resp.relay(w)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// forward sends the call upstream under a context detached from the
// caller's: a call the proxy has read goes through even if its caller has
// gone. If upstream cannot be reached it answers 502 and returns false.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte) (*response, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), upstreamTimeout)
	defer cancel()
	resp, err := p.roundTrip(ctx, r, body)
	if err != nil {
		p.count(func(s *Stats) { s.UpstreamErrors++ })
		writeError(w, http.StatusBadGateway, "", "sesfault: upstream: "+err.Error())
		return nil, false
	}
	return resp, true
}

func (p *Proxy) roundTrip(ctx context.Context, r *http.Request, body []byte) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	copyHeader(req.Header, r.Header)
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (resp *response) relay(w http.ResponseWriter) {
	copyHeader(w.Header(), resp.header)
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// hopByHop headers belong to one connection and are not forwarded.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if hopByHop[k] {
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// writeError answers like SES: the code in X-Amzn-ErrorType, the message in
// the body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Amzn-ErrorType", code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}
