// Command retrier moves due jobs from the retry tiers back to the jobs
// topic, and re-drives dead-lettered jobs. Subcommands: run, redrive.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/retrier"
)

const usage = `usage: retrier <command> [flags]

commands:
  run       move due jobs from the retry tiers back to the jobs topic (until SIGTERM/SIGINT)
  redrive   re-publish dead-lettered jobs the ledger says were not sent: [--campaign ID] [--reason R] [--fence-retention D] [--force]

Run 'retrier <command> --help' for its flags; 'retrier --version' for the build.
Exit codes: 0 success, 1 a fatal error (the message says what to fix), 2 bad flags or arguments.
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "retrier:", err)
	}
	os.Exit(config.ExitCode(err))
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return config.Usage(errors.New("missing command"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return runRetrier(ctx, args[1:], stderr)
	case "redrive":
		return runRedrive(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return nil
	case "--version", "-version", "version":
		fmt.Fprint(stdout, config.Version("retrier"))
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return config.Usage(fmt.Errorf("unknown command %q", args[0]))
	}
}

func runRetrier(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("retrier run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common config.Common
	cfg := retrier.DefaultConfig()
	config.RegisterCommon(fs, &common, ":9091")
	cfg.RegisterFlags(fs)
	config.Positive(fs, "startup-timeout", "drain-timeout", "commit-interval", "depth-interval", "paused-wake", "fence-retention", "dlq-retention")
	config.Hide(fs, "redis-*") // accepted (one configuration for every command), never used by run
	config.SetUsage(fs, "retrier run [flags]",
		"retrier run --brokers b-1.msk:9094 --kafka-tls",
		"retrier run --retry-tiers 30s,2m,10m,1h --log-format json")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return config.Usage(err)
	}
	cfg.Topics = kafka.Topics{Prefix: common.TopicPrefix}
	if err := cfg.Validate(); err != nil {
		return config.Usage(err)
	}
	log, err := common.Logger(stderr)
	if err != nil {
		return config.Usage(err)
	}

	reg := metrics.NewRegistry()
	r, err := retrier.New(cfg, retrier.Deps{Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(common.KafkaClient("retrier", log, reg), r.ClientOpts()...)
	if err != nil {
		return err
	}
	if err := kafka.WaitReachable(ctx, cl, common.BrokerList(), common.StartupTimeout); err != nil {
		cl.Close()
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(tctx, cl, cfg.Layout(), log)
	cancel()
	if err != nil {
		cl.Close()
		return fmt.Errorf("could not reach Kafka at %s: %w", common.Brokers, err)
	}
	if err := retrier.CheckDLQRetention(ctx, kadm.NewClient(cl), cfg.Topics.DLQ(), cfg.FenceRetention); err != nil {
		log.Warn("the dead-letter topic outlives the fence", "err", err)
	}
	if common.MetricsAddr != "" {
		srv, err := metrics.Listen(common.MetricsAddr, reg, r.Ready, log)
		if err != nil {
			cl.Close()
			return err
		}
		go srv.Serve()
		defer srv.Shutdown(context.Background())
	}
	log.Info("retrier starting", "brokers", common.Brokers, "tiers", cfg.Topics.RetryTopics(cfg.Policy.Tiers), "group", cfg.Group)
	return r.Run(ctx, cl)
}

func runRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("retrier redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common config.Common
	config.RegisterCommon(fs, &common, "")
	campaign := fs.String("campaign", "", "redrive only this campaign's jobs (default: every campaign)")
	reason := fs.String("reason", "", "redrive only records with this DLQ reason: "+strings.Join(retrier.DLQReasons, ", ")+" (default: every reason)")
	asJSON := fs.Bool("json", false, "print the counts as one JSON object")
	fenceRetain := fs.Duration("fence-retention", fence.DefaultRetention, "how long the fence keeps settled users (as on sender run); older dead-lettered jobs are skipped without --force")
	force := fs.Bool("force", false, "redrive jobs dead-lettered longer ago than --fence-retention too (the ledger still decides who was sent)")
	config.Positive(fs, "redis-timeout", "startup-timeout", "fence-retention")
	config.SetUsage(fs, "retrier redrive [--campaign ID] [--reason R] [flags]",
		"retrier redrive --campaign 2026-11 --reason stopped",
		"retrier redrive --reason attempts_exhausted --json")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return config.Usage(err)
	}
	if err := retrier.ValidateReason(*reason); err != nil {
		return config.Usage(err)
	}
	log, err := common.Logger(stderr)
	if err != nil {
		return config.Usage(err)
	}
	rc := common.RedisConfig(0)
	rc.Log = log
	rdb, err := redisconn.New(ctx, rc)
	if err != nil {
		return err
	}
	defer rdb.Close()
	fnc, err := fence.New(rdb, fence.Config{Prefix: common.TopicPrefix, Retention: *fenceRetain, Timeout: common.RedisTimeout}, nil)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(common.KafkaClient("retrier-redrive", log, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.WaitReachable(ctx, cl, common.BrokerList(), common.StartupTimeout); err != nil {
		return err
	}
	topics := kafka.Topics{Prefix: common.TopicPrefix}
	if err := retrier.CheckDLQRetention(ctx, kadm.NewClient(cl), topics.DLQ(), *fenceRetain); err != nil {
		log.Warn("the dead-letter topic outlives the fence", "err", err)
	}
	rep, err := retrier.Redrive(ctx, cl, fnc, retrier.RedriveOptions{
		Topics: topics, Campaign: *campaign, Reason: *reason, FenceRetention: *fenceRetain, Force: *force, Log: log,
	})
	if err != nil {
		return fmt.Errorf("redrive stopped after %d redriven: %w", rep.Redriven, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprint(stdout, retrier.FormatRedriveReport(rep, *fenceRetain))
	return nil
}
