package sender

import (
	"github.com/prometheus/client_golang/prometheus"
	"sync/atomic"
	"time"

	"github.com/sendonce/sendonce/pkg/retry"
)

// Job outcomes counted in sendonce_sender_jobs_total.
const (
	outSent         = "sent"
	outDuplicate    = "skipped_duplicate"
	outThrottled    = "throttled"
	outNotSent      = "not_sent"
	outFailed       = "failed"
	outAmbiguous    = "ambiguous"
	outExpired      = "expired"
	outBusy         = "busy"
	outDeadLettered = "dead_lettered"
	outMalformed    = "malformed"
	outResent       = "ambiguous_resent"
	outPolicy       = "policy_refused"
	outParked       = "parked"
	outCancelled    = "cancelled"
	// outUnsettled: ambiguous, and its SES event has not come yet (looked
	// at again later).
	outUnsettled = "unsettled"
	// outResolved: ambiguous with no SES event within --resolve-after:
	// declared not sent and sent again.
	outResolved = "resolved_not_sent"
)

// infraSteps are the Redis and Kafka steps counted in
// sendonce_sender_infra_errors_total, created up front so the series exist
// before the first error.
var infraSteps = []string{"claim", "rate_limit", "arm", "mark", "get", "produce", "mark_cancelled"}

var outcomes = []string{outSent, outDuplicate, outThrottled, outNotSent, outFailed, outAmbiguous, outExpired, outBusy, outDeadLettered, outMalformed, outResent, outPolicy, outParked, outCancelled, outUnsettled, outResolved}

type metrics struct {
	jobs *prometheus.CounterVec
	// outcome and step hold the children of jobs and fence, resolved once:
	// the per-email path does no label hashing.
	outcome      map[string]prometheus.Counter
	step         map[string]prometheus.Observer
	inflight     prometheus.Gauge
	lag          *prometheus.GaugeVec
	rateWait     prometheus.Histogram
	rate         prometheus.Gauge
	maxRate      prometheus.Gauge
	quotaUsed    prometheus.Gauge
	paused       *prometheus.GaugeVec
	fence        *prometheus.HistogramVec
	dlq          *prometheus.CounterVec
	commits      prometheus.Counter
	commitErrors prometheus.Counter
	infraErrors  *prometheus.CounterVec
	// oldest is the age of the oldest record dispatched and not finished.
	oldest      prometheus.Gauge
	reruns      prometheus.Counter
	evictedKeys prometheus.Gauge
	noEviction  prometheus.Gauge
	// batchSize is the size of each batch the pipeline ran; bulkCalls the
	// SendBulkEmail calls.
	batchSize prometheus.Histogram
	bulkCalls prometheus.Counter
	// rateRetaken counts batches whose rate slots went stale while they
	// were armed, and were reserved again.
	rateRetaken prometheus.Counter
	// unsettled is the age of the oldest ambiguous record awaiting its SES
	// event that a claim found during the last minute; unsettledMax
	// collects it (ms).
	unsettled    prometheus.Gauge
	unsettledMax atomic.Int64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_sender_jobs_total", Help: "Jobs handled by the sender, by outcome.",
		}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_sender_inflight", Help: "Jobs dispatched and not yet finished in this instance.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sendonce_sender_consumer_lag", Help: "Records behind the high watermark, per partition, as of the last fetch.",
		}, []string{"partition"}),
		rateWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sendonce_sender_ratelimit_wait_seconds", Help: "Time a job waited for the shared rate limiter.",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5},
		}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_sender_send_rate_limit", Help: "Current emails/s allowed by the shared limiter (after throttle backoff); 0 means unlimited.",
		}),
		maxRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_ses_max_send_rate", Help: "SES MaxSendRate from GetAccount (emails/s).",
		}),
		quotaUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_ses_quota_used_ratio", Help: "SES SentLast24Hours / Max24HourSend from GetAccount.",
		}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sendonce_sender_paused", Help: "1 while sending is paused, by reason (quota, stopped).",
		}, []string{"reason"}),
		fence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sendonce_fence_request_duration_seconds", Help: "Latency of fence calls to Redis.",
			Buckets: []float64{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 2},
		}, []string{"op"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_dlq_total", Help: "Jobs sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_sender_commits_total", Help: "Offset commits that succeeded.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_sender_commit_errors_total", Help: "Offset commits that failed (retried).",
		}),
		infraErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sendonce_sender_infra_errors_total", Help: "Redis or Kafka steps that failed and were tried again, by step.",
		}, []string{"step"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_sender_oldest_unfinished_seconds",
			Help: "Age of the oldest record this instance dispatched and has not finished (its partition cannot commit past it); 0 when none.",
		}),
		reruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_sender_reruns_total", Help: "Records run again because a step did not finish while their partition was still owned.",
		}),
		evictedKeys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_redis_evicted_keys", Help: "Redis INFO evicted_keys: keys Redis dropped under memory pressure since it started (any increase may have dropped fence keys).",
		}),
		noEviction: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_redis_noeviction", Help: "1 when Redis maxmemory-policy is noeviction, 0 when it may evict fence keys, -1 when it cannot be read.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sendonce_sender_batch_size", Help: "Jobs per batch (one fence round trip, one rate reservation, one SES call).",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 40, 50},
		}),
		bulkCalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_sender_bulk_calls_total", Help: "SendBulkEmail calls made (an error of the whole call applies to every entry).",
		}),
		rateRetaken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sendonce_sender_rate_retaken_total", Help: "Batches whose rate-limiter slots went stale while arming (a Redis stall) and were reserved again, so that late sends do not burst above the rate.",
		}),
		unsettled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sendonce_sender_unsettled_oldest_seconds",
			Help: "Age of the oldest ambiguous send still awaiting its SES event that a claim found in the last minute; 0 when none.",
		}),
	}
	m.noEviction.Set(-1)
	m.outcome = map[string]prometheus.Counter{}
	for _, o := range outcomes {
		m.outcome[o] = m.jobs.WithLabelValues(o)
	}
	m.step = map[string]prometheus.Observer{}
	for _, st := range infraSteps {
		m.step[st] = m.fence.WithLabelValues(st)
	}
	for _, r := range []string{pauseQuota, pauseStopped, scopeConfigSet, scopeIdentity} {
		m.paused.WithLabelValues(r)
	}
	for _, step := range infraSteps {
		m.infraErrors.WithLabelValues(step)
	}
	for _, r := range []string{retry.ReasonPermanent, retry.ReasonExhausted, retry.ReasonMalformed, retry.ReasonPolicy, retry.ReasonStopped} {
		m.dlq.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.jobs, m.inflight, m.lag, m.rateWait, m.rate, m.maxRate, m.quotaUsed, m.paused, m.fence, m.dlq, m.commits, m.commitErrors, m.infraErrors,
			m.oldest, m.reruns, m.evictedKeys, m.noEviction, m.batchSize, m.bulkCalls, m.rateRetaken, m.unsettled)
	}
	return m
}

// count adds one job with outcome o.
func (m *metrics) count(o string) {
	if c, ok := m.outcome[o]; ok {
		c.Inc()
		return
	}
	m.jobs.WithLabelValues(o).Inc()
}

// observeStep records the latency of an infrastructure step.
func (m *metrics) observeStep(step string, seconds float64) {
	if o, ok := m.step[step]; ok {
		o.Observe(seconds)
		return
	}
	m.fence.WithLabelValues(step).Observe(seconds)
}

// observeUnsettled notes the age of an ambiguous record awaiting its event.
func (m *metrics) observeUnsettled(age time.Duration) {
	ms := age.Milliseconds()
	for {
		cur := m.unsettledMax.Load()
		if ms <= cur || m.unsettledMax.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// publishUnsettled sets the gauge from the last window and starts another.
func (m *metrics) publishUnsettled() {
	m.unsettled.Set(float64(m.unsettledMax.Swap(0)) / 1000)
}
