package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The outcome labels of sendonce_reconcile_events_total.
const (
	outSettled      = "settled"
	outAlready      = "already"
	outFactAdded    = "fact_added"
	outOtherAttempt = "other_attempt"
	outDuplicate    = "duplicate"
	outUnknown      = "unknown"
	outOtherSender  = "other_sender"
	outIgnored      = "ignored"
	outUnparsable   = "unparsable"
	outInvalid      = "invalid"
)

var outcomeLabels = []string{outSettled, outAlready, outFactAdded, outOtherAttempt, outDuplicate, outUnknown, outOtherSender, outIgnored, outUnparsable, outInvalid}

// The calls timed in sendonce_reconcile_request_duration_seconds.
const (
	callReceive  = "receive"
	callSettle   = "settle"
	callProduce  = "produce"
	callDelete   = "delete"
	callExtend   = "extend"
	callDLQDepth = "dlq_depth"
)

// The facts of sendonce_reconcile_facts_total.
const factSent = "sent"

type metrics struct {
	events     *prometheus.CounterVec
	facts      *prometheus.CounterVec
	duplicates prometheus.Counter
	oldest     prometheus.Gauge
	dlq        prometheus.Gauge
	calls      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_reconcile_events_total",
			Help: "Events queue messages handled, by SES eventType (other: not an attempt's event; unparsable) and outcome (settled, already, fact_added, other_attempt, duplicate, unknown, other_sender, ignored, unparsable, invalid: the fence refused it).",
		}, []string{"event", "outcome"}),
		facts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_reconcile_facts_total",
			Help: "Facts SES reported of our emails, per campaign: sent (Send events and settlements; an SQS redelivery may count twice), delivered, bounced, complained (each counted once per user, when the fence takes it).",
		}, []string{"campaign", "fact"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_reconcile_duplicates_total",
			Help: "Events proving that a second attempt of a user already sent left SES: a real duplicate email.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_reconcile_oldest_message_seconds",
			Help: "Age of the oldest message of the last receive of each poller (SQS SentTimestamp), the oldest over the pollers; 0 when they all received none.",
		}),
		dlq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_reconcile_dlq_messages",
			Help: "ApproximateNumberOfMessages of the events queue's dead-letter queue (--events-dlq-url): messages that never parsed.",
		}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sendonce_reconcile_request_duration_seconds",
			Help:    "Latency of the reconciler's calls to SQS (receive, delete, extend, dlq_depth), the fence (settle) and Kafka (produce), by result (ok, error).",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 25},
		}, []string{"call", "result"}),
	}
	for _, e := range eventLabels() {
		for _, o := range outcomeLabels {
			m.events.WithLabelValues(e, o)
		}
	}
	for _, c := range []string{callReceive, callSettle, callProduce, callDelete, callExtend, callDLQDepth} {
		m.calls.WithLabelValues(c, "ok")
		m.calls.WithLabelValues(c, "error")
	}
	if reg != nil {
		reg.MustRegister(m.events, m.facts, m.duplicates, m.oldest, m.dlq, m.calls)
	}
	return m
}
