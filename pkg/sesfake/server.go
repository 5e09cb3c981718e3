package sesfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server. The zero value is a working server.
type Config struct {
	// Latency delays every SendEmail answer (after the email is accepted,
	// so a caller that gives up early leaves an accepted email behind, as
	// with the real SES).
	Latency time.Duration
	// MaxSendRate and Max24HourSend are what GetAccount reports (defaults
	// 1000 and 100,000,000). The fake does not enforce them; use Fault.
	MaxSendRate, Max24HourSend float64
	// OutboxDir, when set, receives every accepted email as
	// OutboxDir/<campaign tag or "default">/<recipient>-<message id>.eml.
	OutboxDir string
	// Keep keeps every accepted email in memory for Messages.
	Keep bool
	// Fault, when set, is asked about every well-formed SendEmail, and
	// every entry of a SendBulkEmail; a non-nil answer is served instead of
	// a plain acceptance (for an entry, see Fault.BulkStatus).
	Fault func(r *SendRequest) *Fault
	// BulkFault, when set, is asked once about every well-formed
	// SendBulkEmail (one SendRequest per entry); a non-nil answer is the
	// whole call's (with Accept, after accepting every entry).
	BulkFault func(entries []SendRequest) *Fault
	// OnAccepted, when set, is called for every accepted email (SendEmail,
	// or a bulk entry), also those answered with an error after
	// acceptance, so that the demo can feed SES-style events
	// (sesevents.NewEvent) to the reconciler in-process. It must not block.
	OnAccepted func(Accepted)
}

// Server is the fake. It is an http.Handler; Start serves it on a loopback
// port.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	prefix string
	seq    atomic.Uint64

	tmu       sync.RWMutex
	templates map[string]*template

	counts   counts
	sending  sending
	dirs     sync.Map // outbox directories already created
	kmu      sync.Mutex
	messages []Email

	ln  net.Listener
	srv *http.Server
}

// New builds a server; call Start, or mount it as an http.Handler.
func New(cfg Config) *Server {
	if cfg.MaxSendRate == 0 {
		cfg.MaxSendRate = 1000
	}
	if cfg.Max24HourSend == 0 {
		cfg.Max24HourSend = 1e8
	}
	var p [4]byte
	_, _ = rand.Read(p[:])
	s := &Server{cfg: cfg, prefix: "fake-" + hex.EncodeToString(p[:]) + "-", templates: map[string]*template{}}
	s.counts.init()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v2/email/outbound-emails", s.sendEmail)
	s.mux.HandleFunc("POST /v2/email/outbound-bulk-emails", s.sendBulkEmail)
	s.mux.HandleFunc("GET /v2/email/account", s.getAccount)
	s.mux.HandleFunc("GET /v2/email/configuration-sets/{name}", s.getConfigurationSet)
	s.mux.HandleFunc("GET /v2/email/identities/{identity}", s.getEmailIdentity)
	s.mux.HandleFunc("POST /v2/email/templates", s.createTemplate)
	s.mux.HandleFunc("GET /v2/email/templates/{name}", s.getTemplate)
	s.mux.HandleFunc("PUT /v2/email/templates/{name}", s.updateTemplate)
	s.mux.HandleFunc("DELETE /v2/email/templates/{name}", s.deleteTemplate)
	s.mux.HandleFunc("POST /v2/email/templates/{name}/render", s.renderTemplate)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "sesfake does not implement "+r.Method+" "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Start serves on 127.0.0.1 on a free port.
func (s *Server) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves on addr.
func (s *Server) StartOn(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sesfake: listening on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL is the base URL to give the SDK (BaseEndpoint or
// AWS_ENDPOINT_URL_SESV2). Empty before Start.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops serving.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) nextID() string {
	return s.prefix + strconv.FormatUint(s.seq.Add(1), 10)
}

func (s *Server) getAccount(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"DedicatedIpAutoWarmupEnabled": false,
		"EnforcementStatus":            "HEALTHY",
		"ProductionAccessEnabled":      true,
		"SendingEnabled":               true,
		"SendQuota": map[string]any{
			"MaxSendRate":     s.cfg.MaxSendRate,
			"Max24HourSend":   s.max24HourSend(),
			"SentLast24Hours": s.counts.recipients.Load(),
		},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
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
