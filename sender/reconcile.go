package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sendonce/sendonce/pkg/awsconf"
	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/reconcile"
)

// reconcileFlags are the flags of `sender reconcile`.
type reconcileFlags struct {
	common       config.Common
	cfg          reconcile.Config
	queueURL     string
	dlqURL       string
	resolveAfter time.Duration
	fenceRetain  time.Duration
	userKeyFile  string
}

func runReconcile(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sender reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f reconcileFlags
	config.RegisterCommon(fs, &f.common, ":9092")
	fs.StringVar(&f.queueURL, "events-queue-url", "", "URL of the SQS queue that receives the configuration set's SES events (SNS envelope or raw delivery); the endpoint comes from the AWS SDK chain (AWS_ENDPOINT_URL_SQS)")
	fs.StringVar(&f.dlqURL, "events-dlq-url", "", "URL of the events queue's dead-letter queue, whose depth sendonce_reconcile_dlq_messages reports every 30s (empty: not read)")
	fs.DurationVar(&f.resolveAfter, "resolve-after", 30*time.Minute, "how long an ambiguous send waits for its SES event before it counts as not sent and goes back through the retry tiers (events usually arrive within seconds; AWS promises no bound: longer is safer against a duplicate, shorter settles sooner)")
	fs.DurationVar(&f.fenceRetain, "fence-retention", fence.DefaultRetention, "how long settled fence records are kept (as on sender run)")
	fs.StringVar(&f.userKeyFile, "user-hash-key-file", "", "file holding the user-hash key of sender run (at least 32 bytes): it opens the user_ref EmailTag of each event (empty: the unkeyed default, which only matches senders run without a key)")
	fs.IntVar(&f.cfg.Pollers, "pollers", 4, "receive loops at once, each a batch of up to 10 messages (batches sharing a user take turns for it)")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 10, "fence calls in flight per batch")
	fs.DurationVar(&f.cfg.Visibility, "visibility-timeout", time.Minute, "how long a slow batch (Redis or Kafka outage) keeps its messages invisible, extended every half of it")
	fs.DurationVar(&f.cfg.DrainTimeout, "drain-timeout", 20*time.Second, "how long SIGTERM waits for the batches in hand")
	fs.DurationVar(&f.cfg.SummaryInterval, "summary-interval", reconcile.DefaultSummaryInterval, "how often to log a summary line of the events settled (0: off)")
	config.Require(fs, "events-queue-url")
	config.Positive(fs, "redis-timeout", "startup-timeout", "resolve-after", "fence-retention", "visibility-timeout", "drain-timeout")
	config.SetUsage(fs, "sender reconcile --events-queue-url URL [flags]",
		"sender reconcile --events-queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/sendonce-events --user-hash-key-file /secrets/user-hash-key",
		"sender reconcile --events-queue-url $URL --events-dlq-url $DLQ_URL --resolve-after 30m --log-format json")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := f.common.Validate(); err != nil {
		return config.Usage(err)
	}
	f.cfg.Topics = kafka.Topics{Prefix: f.common.TopicPrefix}
	if err := f.cfg.Validate(); err != nil {
		return config.Usage(err)
	}
	var key []byte
	if f.userKeyFile != "" {
		k, err := pseudonym.LoadKey(f.userKeyFile)
		if err != nil {
			return config.Usage(fmt.Errorf("--user-hash-key-file: %w", err))
		}
		key = k
	}
	log, err := f.common.Logger(stderr)
	if err != nil {
		return config.Usage(err)
	}
	if key == nil {
		log.Warn("--user-hash-key-file is not set: only events of senders run without a key open; set the same file as sender run")
	}

	reg := metrics.NewRegistry()
	rdb, err := newRedis(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	fnc, err := fence.New(rdb, fence.Config{Prefix: f.common.TopicPrefix, Retention: f.fenceRetain, Timeout: f.common.RedisTimeout, ResolveAfter: f.resolveAfter}, nil)
	if err != nil {
		return err
	}
	if err := awsconf.Check(ctx, "SQS"); err != nil {
		return err
	}
	src, err := reconcile.NewSQS(ctx, reconcile.SQSConfig{QueueURL: f.queueURL, Log: log})
	if err != nil {
		return config.Usage(err)
	}
	cl, err := kafka.NewClient(f.common.KafkaClient("sender-reconcile", log, reg))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.WaitReachable(ctx, cl, f.common.BrokerList(), f.common.StartupTimeout); err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = reconcile.CheckTopics(tctx, cl, f.cfg.Topics)
	cancel()
	if err != nil {
		return err
	}
	deps := reconcile.Deps{Settler: reconcile.FenceSettler{F: fnc}, Producer: cl, Source: src, UserKey: key, Log: log, Registerer: reg}
	if f.dlqURL != "" {
		deps.DLQDepth = func(ctx context.Context) (int, error) { return src.Depth(ctx, f.dlqURL) }
	}
	r, err := reconcile.New(f.cfg, deps)
	if err != nil {
		return err
	}
	if f.common.MetricsAddr != "" {
		srv, err := metrics.Listen(f.common.MetricsAddr, reg, func() error {
			c, cancel := context.WithTimeout(context.Background(), f.common.RedisTimeout)
			defer cancel()
			return fnc.Ping(c)
		}, log)
		if err != nil {
			return err
		}
		go srv.Serve()
		defer srv.Shutdown(context.Background())
	}
	log.Info("reconciler starting", "queue", f.queueURL, "events_dlq", f.dlqURL, "ledger", f.cfg.Topics.Ledger(), "resolve_after", f.resolveAfter, "pollers", f.cfg.Pollers)
	return r.Run(ctx)
}
