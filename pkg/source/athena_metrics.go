package source

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
)

// timedAthena observes the latency of every Athena call in
// sendonce_athena_request_duration_seconds{operation,result}.
type timedAthena struct {
	api  AthenaAPI
	hist *prometheus.HistogramVec
}

// InstrumentAthena wraps api so that each call's latency is recorded on reg.
func InstrumentAthena(api AthenaAPI, reg prometheus.Registerer) AthenaAPI {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sendonce_athena_request_duration_seconds",
		Help:    "Latency of Athena API calls, by operation and result (ok or error).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"operation", "result"})
	if err := reg.Register(h); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			h = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	return timedAthena{api: api, hist: h}
}

func (t timedAthena) observe(op string, start time.Time, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	t.hist.WithLabelValues(op, res).Observe(time.Since(start).Seconds())
}

func (t timedAthena) StartQueryExecution(ctx context.Context, in *athena.StartQueryExecutionInput, opts ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	start := time.Now()
	out, err := t.api.StartQueryExecution(ctx, in, opts...)
	t.observe("StartQueryExecution", start, err)
	return out, err
}

func (t timedAthena) GetQueryExecution(ctx context.Context, in *athena.GetQueryExecutionInput, opts ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	start := time.Now()
	out, err := t.api.GetQueryExecution(ctx, in, opts...)
	t.observe("GetQueryExecution", start, err)
	return out, err
}

func (t timedAthena) GetQueryResults(ctx context.Context, in *athena.GetQueryResultsInput, opts ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error) {
	start := time.Now()
	out, err := t.api.GetQueryResults(ctx, in, opts...)
	t.observe("GetQueryResults", start, err)
	return out, err
}

// timedS3 observes the latency of every S3 call (up to the response
// headers; the body streams after) in
// sendonce_s3_request_duration_seconds{operation,result}.
type timedS3 struct {
	api  S3API
	hist *prometheus.HistogramVec
}

// InstrumentS3 wraps api so that each call's latency is recorded on reg.
func InstrumentS3(api S3API, reg prometheus.Registerer) S3API {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sendonce_s3_request_duration_seconds",
		Help:    "Latency of S3 API calls up to the response headers, by operation and result (ok or error).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"operation", "result"})
	if err := reg.Register(h); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			h = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	return timedS3{api: api, hist: h}
}

func (t timedS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	start := time.Now()
	out, err := t.api.GetObject(ctx, in, opts...)
	res := "ok"
	if err != nil {
		res = "error"
	}
	t.hist.WithLabelValues("GetObject", res).Observe(time.Since(start).Seconds())
	return out, err
}
