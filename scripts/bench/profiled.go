package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/sender"
	"github.com/sendonce/sendonce/pkg/ses"
)

// profiledSenderMain is `sender run` with the same wiring as sender/main.go
// (fence, limiter, SES client, sender, Kafka client, metrics server; the
// flags the bench uses) plus a CPU profile written when it stops. The
// sender binary has no pprof endpoint.
func profiledSenderMain(args []string) error {
	fs := flag.NewFlagSet("profiled-sender", flag.ContinueOnError)
	var common config.Common
	cfg := sender.DefaultConfig()
	config.RegisterCommon(fs, &common, ":9090")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "SES calls in flight per instance")
	fs.IntVar(&cfg.BatchSize, "batch-size", sender.DefaultBatchSize, "recipients per SES call")
	fs.DurationVar(&cfg.BatchLinger, "batch-linger", sender.DefaultBatchLinger, "how long a batch that is not full waits")
	buckets := fs.Int("fence-buckets", fence.DefaultBuckets, "Redis hashes per fence shard")
	fs.Float64Var(&cfg.MaxSendRate, "max-send-rate", 0, "emails per second shared by all senders")
	partitions := fs.Int("partitions", 12, "partitions of created topics")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	cfg.Topics = kafka.Topics{Prefix: common.TopicPrefix}
	if err := common.Validate(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	rc := common.RedisConfig(512)
	rc.Log = log
	rdb, err := redisconn.New(ctx, rc)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// As sender/main.go: the fence's shards follow the partitions.
	fnc, err := fence.New(rdb, fence.Config{Prefix: common.TopicPrefix, Timeout: common.RedisTimeout, OnAbandoned: cfg.OnAmbiguous, Shards: *partitions, Buckets: *buckets}, nil)
	if err != nil {
		return err
	}
	if _, err := fnc.Establish(ctx); err != nil {
		return err
	}
	lim, err := ratelimit.New(rdb, ratelimit.Config{Key: common.TopicPrefix + ":rate", Rate: cfg.MaxSendRate, Timeout: common.RedisTimeout}, nil)
	if err != nil {
		return err
	}
	mailer, err := ses.New(ctx, ses.Config{}, reg)
	if err != nil {
		return err
	}
	s, err := sender.New(cfg, sender.Deps{Fence: fnc, Limiter: lim, Mailer: mailer, Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(common.KafkaClient("sender", log, reg), s.ClientOpts()...)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(tctx, cl, kafka.Layout{Topics: cfg.Topics, Partitions: int32(*partitions), ReplicationFactor: -1, Tiers: cfg.Policy.Tiers}, log)
	cancel()
	if err != nil {
		cl.Close()
		return err
	}
	srv, err := metrics.Listen(common.MetricsAddr, reg, func() error {
		c, cancel := context.WithTimeout(context.Background(), common.RedisTimeout)
		defer cancel()
		return s.Ready(c)
	}, log)
	if err != nil {
		cl.Close()
		return err
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	f, err := os.Create(*cpuprofile)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = s.Run(ctx, cl)
	pprof.StopCPUProfile()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
