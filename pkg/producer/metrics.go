package producer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the producer's Prometheus collectors.
type Metrics struct {
	Rows       prometheus.Counter
	Published  prometheus.Counter
	Rejected   *prometheus.CounterVec
	Duplicates prometheus.Counter
	// PublishSeconds is the produce latency of a job: from Produce to the
	// broker's ack (acks=all).
	PublishSeconds prometheus.Histogram

	rejected map[Reason]prometheus.Counter
}

// NewMetrics builds the collectors and registers them with reg (nil: not
// registered, for tests and in-process runs).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_producer_rows_total", Help: "Rows read from the source.",
		}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_producer_published_total", Help: "Jobs acknowledged by Kafka.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_producer_rejected_total", Help: "Rows rejected, by reason (duplicates are counted separately).",
		}, []string{"reason"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_producer_duplicate_rows_total", Help: "Rows whose user_id was already published in this run.",
		}),
		PublishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sendonce_producer_publish_duration_seconds",
			Help:    "Time from producing a job to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		rejected: map[Reason]prometheus.Counter{},
	}
	for _, r := range Reasons {
		if r != ReasonDuplicateUser {
			m.rejected[r] = m.Rejected.WithLabelValues(string(r))
		}
	}
	if reg != nil {
		reg.MustRegister(m.Rows, m.Published, m.Rejected, m.Duplicates, m.PublishSeconds)
	}
	return m
}
