package ses

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/awsconf"
)

// Client calls SES v2. It is safe for concurrent use.
type Client struct {
	api *sesv2.Client
	cfg Config
	m   *metrics
}

// New builds a Client from the AWS SDK's default chain only
// (config.LoadDefaultConfig): region, credentials and the endpoint
// (AWS_ENDPOINT_URL_SESV2) come from there. optFns adjust the sesv2 options
// (tests set BaseEndpoint); whatever they set, SendEmail is never retried by
// the SDK. Metrics are registered on reg when it is not nil.
func New(ctx context.Context, cfg Config, reg prometheus.Registerer, optFns ...func(*sesv2.Options)) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(newHTTPClient()), config.WithLogger(awsconf.Logger(cfg.Log)))
	if err != nil {
		return nil, fmt.Errorf("loading AWS config for SES: %w", err)
	}
	fns := append([]func(*sesv2.Options){}, optFns...)
	fns = append(fns, func(o *sesv2.Options) {
		// Operations other than SendEmail are safe to retry; the standard
		// retryer without its client-wide retry quota, so that sustained
		// throttling never turns into "retry quota exceeded" failures.
		o.Retryer = awsretry.NewStandard(func(so *awsretry.StandardOptions) {
			so.RateLimiter = ratelimit.None
		})
		o.RetryMaxAttempts = 0
	})
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering SES metrics: %w", err)
	}
	return &Client{api: sesv2.NewFromConfig(awsCfg, fns...), cfg: cfg, m: m}, nil
}

// NewFromAPI wraps an existing sesv2 client (tests). SendEmail is still
// never retried: every call turns the SDK's retries off. It panics if the
// metrics cannot be registered on reg.
func NewFromAPI(api *sesv2.Client, cfg Config, reg prometheus.Registerer) *Client {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		panic(fmt.Sprintf("registering SES metrics: %v", err))
	}
	return &Client{api: api, cfg: cfg, m: m}
}

// noRetry turns the SDK's retries off for one call. RetryMaxAttempts is
// zeroed too, so that an AWS_MAX_ATTEMPTS in the environment cannot wrap
// the retryer back into one that retries.
func noRetry(o *sesv2.Options) {
	o.Retryer = aws.NopRetryer{}
	o.RetryMaxAttempts = 0
}

// newHTTPClient is tuned for many concurrent sends to one host: the default
// keeps 10 idle connections per host, so 64+ in-flight sends would open and
// close connections all the time.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = 5 * time.Second
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 1024
			t.MaxIdleConnsPerHost = 512
			t.MaxConnsPerHost = 0
			t.IdleConnTimeout = 90 * time.Second
		})
}

// call runs one SES call with the client's timeout and a trace that records
// whether the request was completely written.
func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc, *atomic.Bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	written := new(atomic.Bool)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		// A write that failed did not deliver the whole request (its body
		// is framed by Content-Length), so SES cannot have acted on it.
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	return ctx, cancel, written
}
