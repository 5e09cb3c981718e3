package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// world is the embedded infrastructure: Kafka, Redis and SES stand-ins on
// loopback, and the registry every component reports to.
type world struct {
	log     *slog.Logger
	kafka   *kfake.Cluster
	brokers []string
	redis   *miniredis.Miniredis
	ses     *sesfake.Server
	sesURL  string
	reg     *prometheus.Registry
	topics  kafka.Topics
	layout  kafka.Layout
	// events is SES's event publishing, in-process; userKey is the
	// user-hash key the senders seal the user_ref tag with and the
	// reconciler opens it with (random for each run).
	events  *eventFeed
	userKey []byte

	mu      sync.Mutex
	limiter *ratelimit.Limiter // sender-1's, for the progress line
}

// startWorld starts the stand-ins and creates the topics. The local SES
// answers with fault and bulkFault, and tells events of every email it
// accepts.
func startWorld(ctx context.Context, o *Options, fault func(*sesfake.SendRequest) *sesfake.Fault,
	bulkFault func([]sesfake.SendRequest) *sesfake.Fault, events *eventFeed) (w *world, err error) {
	w = &world{log: o.Log, reg: metrics.NewRegistry(), topics: kafka.Topics{Prefix: "sendonce"}, events: events, userKey: make([]byte, 32)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if _, err = rand.Read(w.userKey); err != nil {
		return nil, fmt.Errorf("making the user-hash key: %w", err)
	}
	if w.kafka, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
		return nil, fmt.Errorf("starting the in-process Kafka (kfake): %w", err)
	}
	w.brokers = w.kafka.ListenAddrs()
	if w.redis, err = miniredis.Run(); err != nil {
		return nil, fmt.Errorf("starting the in-process Redis (miniredis): %w", err)
	}
	w.ses = sesfake.New(sesfake.Config{OutboxDir: o.OutboxDir, Fault: fault, BulkFault: bulkFault, OnAccepted: events.accepted, MaxSendRate: o.MaxSendRate})
	if err = w.ses.Start(); err != nil {
		return nil, fmt.Errorf("starting the local SES endpoint: %w", err)
	}
	w.sesURL = w.ses.URL()
	w.layout = kafka.Layout{Topics: w.topics, Partitions: int32(o.Partitions), ReplicationFactor: -1, Tiers: o.Tiers}

	// Topics are created by a client of their own: a client that asked for
	// a topic before it existed may answer "unknown" from its metadata
	// cache for a while after.
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err = kafka.EnsureTopics(tctx, cl, w.layout, o.Log); err != nil {
		return nil, fmt.Errorf("creating the topics: %w", err)
	}
	return w, nil
}

// awsEnv gives the AWS SDK a region and credentials when the environment
// has none, so that a machine with only Go can run the demo. The local
// endpoint accepts any signature.
func awsEnv() {
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
}

// sesClient is the production SES adapter pointed at the local endpoint.
func (w *world) sesClient(ctx context.Context, reg prometheus.Registerer) (*ses.Client, error) {
	return ses.New(ctx, ses.Config{}, reg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(w.sesURL) })
}

// redisClient is a client of the in-process Redis set up like the
// binaries' (per-call timeouts that hold).
func (w *world) redisClient() *redis.Client {
	opt := &redis.Options{Addr: w.redis.Addr(), PoolSize: 256}
	fence.ClientOptions(opt, fence.DefaultTimeout)
	return redis.NewClient(opt)
}

// kafkaClient builds a client the way the binaries do, reporting to the
// shared registry under instance.
func (w *world) kafkaClient(instance string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kafka.NewClient(kafka.ClientConfig{Brokers: w.brokers, ClientID: instance, Logger: w.log.With("component", instance), Registerer: w.registerer(instance)}, opts...)
}

// registerer is the shared registry with an instance label, so that two
// senders (and the retrier) can register the same metrics side by side,
// as two pods would be scraped.
func (w *world) registerer(instance string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"instance": instance}, w.reg)
}

func (w *world) close() error {
	var errs []error
	if w.ses != nil {
		errs = append(errs, w.ses.Close())
	}
	if w.redis != nil {
		w.redis.Close()
	}
	if w.kafka != nil {
		w.kafka.Close()
	}
	return errors.Join(errs...)
}
