// Package metrics builds the Prometheus registry of a binary and serves
// /metrics, /healthz and /readyz.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go and process collectors, named
// sendonce_go_* and sendonce_process_*: the contract says every metric name
// starts with sendonce_.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	prometheus.WrapRegistererWithPrefix("sendonce_", r).MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Server serves the observability endpoints.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	log   *slog.Logger
	ready *readyCheck
}

// Timeouts of the observability server: a slow or idle client cannot hold
// connections open (slowloris), and a scrape still has time to finish.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Listen binds addr and builds the handlers. ready is asked by /readyz (at
// most once per ReadyCacheTTL): nil means ready; the reason of a failure is
// logged, the response says only "not ready". /healthz answers 200 while
// the process serves.
func Listen(addr string, g prometheus.Gatherer, ready func() error, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	rc := newReadyCheck(ready, log)
	mux.Handle("/readyz", rc)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	return &Server{srv: srv, ln: ln, log: log, ready: rc}, nil
}

// Addr is the bound address (useful with ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown.
func (s *Server) Serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.log != nil {
		s.log.Error("metrics server stopped", "err", err)
	}
}

// Shutdown stops serving.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
