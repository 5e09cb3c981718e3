package retrier

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/retry"
)

type metrics struct {
	scheduled     *prometheus.CounterVec
	republished   *prometheus.CounterVec
	dueLag        prometheus.Histogram
	dlq           *prometheus.CounterVec
	depth         *prometheus.GaugeVec
	paused        prometheus.Gauge
	produceErrors prometheus.Counter
	commits       prometheus.Counter
	commitErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, p retry.Policy) *metrics {
	m := &metrics{
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_retrier_scheduled_total", Help: "Records taken from a retry tier, by tier.",
		}, []string{"tier"}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_retrier_republished_total", Help: "Due jobs moved back to the jobs topic (acknowledged), by tier.",
		}, []string{"tier"}),
		dueLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sendonce_retrier_due_lag_seconds", Help: "How late a due job was moved back to the jobs topic: acknowledged time minus its not-before time.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900},
		}),
		// Same name, help and labels as the sender's, so that both can
		// share one registry (the demo runs them in one process).
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_dlq_total", Help: "Jobs sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sendonce_retrier_tier_depth", Help: "Records in a retry tier not yet committed by the retrier group (high watermark minus committed offset, summed over partitions).",
		}, []string{"tier"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_retrier_paused_partitions", Help: "Tier partitions paused because their next record is not due yet (or their buffer is full).",
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_retrier_produce_errors_total", Help: "Produce batches that failed and were tried again.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_retrier_commits_total", Help: "Offset commits that succeeded.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_retrier_commit_errors_total", Help: "Offset commits that failed (tried again).",
		}),
	}
	for _, d := range p.Tiers {
		n := retry.TierName(d)
		m.scheduled.WithLabelValues(n)
		m.republished.WithLabelValues(n)
		m.depth.WithLabelValues(n)
	}
	m.dlq.WithLabelValues(retry.ReasonMalformed)
	if reg != nil {
		reg.MustRegister(m.scheduled, m.republished, m.dueLag, m.depth, m.paused, m.produceErrors, m.commits, m.commitErrors)
		m.dlq = registerShared(reg, m.dlq)
	}
	return m
}

// registerShared registers c, or returns the identical collector already
// registered (the sender's sendonce_dlq_total in a shared registry).
func registerShared(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	if err != nil {
		panic(err)
	}
	return c
}
