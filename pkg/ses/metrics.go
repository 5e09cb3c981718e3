package ses

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/retry"
)

// The operation label values.
const (
	opSendEmail      = "SendEmail"
	opSendBulkEmail  = "SendBulkEmail"
	opGetAccount     = "GetAccount"
	opCreateTemplate = "CreateEmailTemplate"
	opUpdateTemplate = "UpdateEmailTemplate"
	opRender         = "TestRenderEmailTemplate"

	opGetConfigurationSet = "GetConfigurationSet"
	opGetEmailIdentity    = "GetEmailIdentity"
)

// resultOK is the result label of a call that succeeded; a failed call is
// labelled with its retry.Class.
const resultOK = "ok"

type metrics struct {
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	// entries counts SendBulkEmail entries by result; a failure of the
	// whole call counts every entry under its class, so that the blast
	// radius of an ambiguous bulk call shows.
	entries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sendonce_ses_request_duration_seconds",
			Help:    "Latency of SES API calls by operation and result (ok or the error class).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"operation", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_ses_requests_total",
			Help: "SES API calls by operation and result (ok or the error class).",
		}, []string{"operation", "result"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_ses_bulk_entries_total",
			Help: "SendBulkEmail entries by result (ok or the error class); a failed call counts all its entries under its class.",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.entries, err = register(reg, m.entries); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same name, so that two clients can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *metrics) observe(op string, start time.Time, class retry.Class) {
	result := resultOK
	if class != "" {
		result = string(class)
	}
	m.duration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(op, result).Inc()
}

// observeBulk records a SendBulkEmail call that failed as a whole: every
// one of its n entries shares its class.
func (m *metrics) observeBulk(start time.Time, n int, class retry.Class) {
	m.observe(opSendBulkEmail, start, class)
	m.entries.WithLabelValues(string(class)).Add(float64(n))
}

// countEntries counts the entries of a SendBulkEmail call by result.
func (m *metrics) countEntries(results []BulkResult) {
	ok := 0
	for i := range results {
		var se *SendError
		if results[i].Err == nil {
			ok++
		} else if errors.As(results[i].Err, &se) {
			m.entries.WithLabelValues(string(se.Class)).Inc()
		}
	}
	if ok > 0 {
		m.entries.WithLabelValues(resultOK).Add(float64(ok))
	}
}
