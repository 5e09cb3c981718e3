// Command sender consumes email jobs and sends each through SES at least
// once and only once. Subcommands: run, replay, fence-restore.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/awsconf"
	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/ratelimit"
	"github.com/sendonce/sendonce/pkg/redisconn"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sender"
	"github.com/sendonce/sendonce/pkg/ses"
)

const usage = `usage: sender <command> [flags]

commands:
  run            consume jobs, fence, send through SES, commit (until SIGTERM/SIGINT)
  replay         reset the sender group's offsets: --to earliest | --to-time RFC3339
  fence-restore  rebuild a campaign's fence from the ledger: --campaign ID
  reconcile      settle every send from SES's events on the SQS queue: --events-queue-url URL (until SIGTERM/SIGINT)

Run 'sender <command> --help' for its flags; 'sender --version' for the build.
Exit codes: 0 success, 1 a fatal error (the message says what to fix), 2 bad flags or arguments.
`

func main() {
	err := run(os.Args[1:], os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sender:", err)
	}
	os.Exit(config.ExitCode(err))
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return config.Usage(errors.New("missing command"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return runSender(ctx, args[1:], stderr)
	case "replay":
		return runReplay(ctx, args[1:], stderr)
	case "fence-restore":
		return runRestore(ctx, args[1:], stderr)
	case "reconcile":
		return runReconcile(ctx, args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return nil
	case "--version", "-version", "version":
		fmt.Fprint(os.Stdout, config.Version("sender"))
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return config.Usage(fmt.Errorf("unknown command %q", args[0]))
	}
}

// runFlags are the flags of `sender run`.
type runFlags struct {
	common      config.Common
	cfg         sender.Config
	tiers       string
	onAmbiguous string
	fenceLease  time.Duration
	// fenceBuckets is fence.Config.Buckets, used when no layout is stored yet.
	fenceBuckets int
	fenceRetain  time.Duration
	sesTimeout   time.Duration
	partitions   int
	replication  int
	trust        trustFlags
}

func runSender(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sender run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := runFlags{cfg: sender.DefaultConfig()}
	config.RegisterCommon(fs, &f.common, ":9090")
	fs.StringVar(&f.tiers, "retry-tiers", retry.FormatTiers(retry.DefaultTiers), "comma-separated delays of the retry tiers")
	fs.IntVar(&f.cfg.Policy.MaxAttempts, "max-attempts", retry.DefaultMaxAttempts, "attempts before the DLQ")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 64, "in-flight sends (SES calls) per instance; each carries up to --batch-size recipients")
	fs.IntVar(&f.cfg.BatchSize, "batch-size", sender.DefaultBatchSize, "recipients per SES call (1: SendEmail per user; up to 50: SendBulkEmail of the ready jobs sharing campaign, template, From and configuration set)")
	fs.DurationVar(&f.cfg.BatchLinger, "batch-linger", sender.DefaultBatchLinger, "how long a batch that is not full waits for more ready jobs before it goes")
	fs.DurationVar(&f.cfg.ResolveAfter, "resolve-after", 0, "with `sender reconcile` running: how long an ambiguous send waits for its SES event before it is declared not sent and sent again (0: hold ambiguous sends for a person; set the same value as on sender reconcile)")
	fs.Float64Var(&f.cfg.MaxSendRate, "max-send-rate", 0, "emails per second shared by all senders (0: SES GetAccount MaxSendRate × --rate-fraction)")
	fs.Float64Var(&f.cfg.RateFraction, "rate-fraction", 0.9, "fraction of SES MaxSendRate to use when --max-send-rate is 0")
	fs.DurationVar(&f.fenceLease, "fence-lease", time.Minute, "how long an in-flight claim is honoured before it counts as abandoned")
	fs.IntVar(&f.fenceBuckets, "fence-buckets", fence.DefaultBuckets, "Redis hashes per fence shard, fixed when the first sender starts (stored in Redis): about your largest campaign's users / --partitions / 250, so that each stays in Redis's compact encoding (docs/SCALE.md)")
	fs.DurationVar(&f.fenceRetain, "fence-retention", 62*24*time.Hour, "how long settled fence records are kept")
	fs.StringVar(&f.onAmbiguous, "on-ambiguous", "hold", "hold (report, send nothing) or resend (at-least-once) when SES may have accepted an email")
	fs.DurationVar(&f.cfg.DrainTimeout, "drain-timeout", 25*time.Second, "how long SIGTERM waits for in-flight work")
	fs.DurationVar(&f.cfg.SummaryInterval, "summary-interval", sender.DefaultSummaryInterval, "how often to log a summary line: sent, skipped, failed, throttled, rate, in flight (0: off)")
	fs.DurationVar(&f.sesTimeout, "ses-timeout", 10*time.Second, "timeout of each SES SendEmail call")
	fs.DurationVar(&f.cfg.AccountRefresh, "account-refresh", time.Minute, "how often SES GetAccount is read (rate ceiling, quota) and paused configuration sets and identities are checked")
	fs.IntVar(&f.cfg.MaxStopCycles, "stop-cycles", 10, "checks a configuration set or identity that SES refuses may stay refused before its jobs go to the DLQ (reason stopped)")
	fs.StringVar(&f.cfg.EvictionCheck, "redis-eviction-check", sender.EvictionRequire, "require: refuse to run unless Redis maxmemory-policy is noeviction; warn: log and run (managed Redis without CONFIG)")
	fs.IntVar(&f.partitions, "partitions", 12, "partitions of the jobs topic and tiers, when the sender creates them")
	fs.IntVar(&f.replication, "replication-factor", -1, "replication of created topics (-1: broker default)")
	f.trust.register(fs)
	config.Positive(fs, "redis-timeout", "startup-timeout", "fence-lease", "fence-retention", "drain-timeout", "ses-timeout", "account-refresh")
	config.SetUsage(fs, "sender run [flags]",
		"sender run --brokers b-1.msk:9092 --redis-url rediss://redis:6379/0 --concurrency 64",
		"sender run --max-send-rate 50 --on-ambiguous hold --log-format json")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := f.trust.apply(&f.cfg); err != nil {
		return config.Usage(err)
	}
	tiers, err := retry.ParseTiers(f.tiers)
	if err != nil {
		return config.Usage(fmt.Errorf("--retry-tiers: %w", err))
	}
	f.cfg.Policy.Tiers = tiers
	f.cfg.OnAmbiguous = fence.AbandonPolicy(f.onAmbiguous)
	f.cfg.Topics = kafka.Topics{Prefix: f.common.TopicPrefix}
	if err := f.common.Validate(); err != nil {
		return config.Usage(err)
	}
	if err := f.cfg.Validate(); err != nil {
		return config.Usage(err)
	}
	if err := validateLease(f.fenceLease, f.sesTimeout); err != nil {
		return config.Usage(err)
	}
	log, err := f.common.Logger(stderr)
	if err != nil {
		return config.Usage(err)
	}
	f.trust.warn(log)

	reg := metrics.NewRegistry()
	rdb, err := newRedis(ctx, f.common, log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// The fence's shards follow the jobs topic's partitions, so that a
	// batch (one partition) is one Redis round trip, in one Cluster slot.
	fnc, err := fence.New(rdb, fence.Config{Prefix: f.common.TopicPrefix, Lease: f.fenceLease, Retention: f.fenceRetain, Timeout: f.common.RedisTimeout,
		OnAbandoned: f.cfg.OnAmbiguous, Shards: f.partitions, Buckets: f.fenceBuckets, ResolveAfter: f.cfg.ResolveAfter}, nil)
	if err != nil {
		return err
	}
	lim, err := ratelimit.New(rdb, ratelimit.Config{Key: f.common.TopicPrefix + ":rate", Rate: f.cfg.MaxSendRate, Timeout: f.common.RedisTimeout}, nil)
	if err != nil {
		return err
	}
	if err := awsconf.Check(ctx, "SES"); err != nil {
		return err
	}
	mailer, err := ses.New(ctx, ses.Config{Timeout: f.sesTimeout, Log: log}, reg)
	if err != nil {
		return err
	}
	// Per-campaign control (producer pause|resume|cancel): a client of its
	// own, outside the group, follows <prefix>.control.
	watcher := control.NewWatcher(f.cfg.Topics, log)
	wcl, err := kafka.NewClient(f.common.KafkaClient("sender-control", log, nil), watcher.ClientOpts()...)
	if err != nil {
		return err
	}
	defer wcl.Close()
	wctx, stopWatcher := context.WithCancel(ctx)
	defer stopWatcher()
	go watcher.Run(wctx, wcl)
	s, err := sender.New(f.cfg, sender.Deps{Fence: fnc, Limiter: lim, Mailer: mailer, Log: log, Registerer: reg, Control: watcher})
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(f.common.KafkaClient("sender", log, reg), s.ClientOpts()...)
	if err != nil {
		return err
	}
	if err := kafka.WaitReachable(ctx, cl, f.common.BrokerList(), f.common.StartupTimeout); err != nil {
		cl.Close()
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	// The DLQ must not outlive the fence: a redrive relies on it.
	layout := kafka.Layout{Topics: f.cfg.Topics, Partitions: int32(f.partitions), ReplicationFactor: int16(f.replication), Tiers: tiers,
		DLQRetention: min(f.fenceRetain, kafka.DefaultDLQRetention)}
	err = kafka.EnsureTopics(tctx, cl, layout, log)
	cancel()
	if err != nil {
		cl.Close()
		return fmt.Errorf("could not reach Kafka at %s: %w", f.common.Brokers, err)
	}

	if err := establishFence(ctx, fnc, f.partitions, log); err != nil {
		cl.Close()
		return err
	}

	if f.common.MetricsAddr != "" {
		srv, err := metrics.Listen(f.common.MetricsAddr, reg, func() error {
			c, cancel := context.WithTimeout(context.Background(), f.common.RedisTimeout)
			defer cancel()
			return s.Ready(c)
		}, log)
		if err != nil {
			cl.Close()
			return err
		}
		go srv.Serve()
		defer srv.Shutdown(context.Background())
	}
	log.Info("sender starting", "brokers", f.common.Brokers, "topic", f.cfg.Topics.Jobs(), "concurrency", f.cfg.Concurrency, "batch_size", f.cfg.BatchSize, "resolve_after", f.cfg.ResolveAfter, "on_ambiguous", f.onAmbiguous)
	return s.Run(ctx, cl)
}

// establishFence stores the fence layout on the first start (shards = the
// jobs topic's partitions) and says when a stored one differs: the stored
// layout always wins, since records are found by it.
func establishFence(ctx context.Context, fnc *fence.Fence, partitions int, log *slog.Logger) error {
	l, err := fnc.Establish(ctx)
	if err != nil {
		return fmt.Errorf("reading the fence layout from Redis: %w", err)
	}
	if l.Shards != partitions && partitions%l.Shards != 0 {
		log.Warn("the fence's shard count does not divide the jobs topic's partitions: batches split into one Redis call per shard", "fence_shards", l.Shards, "partitions", partitions)
	}
	return nil
}

// newRedis is the one Redis client of the sender's commands: TLS, password
// file and per-call timeouts from the common flags, pinged at start; a
// cluster client with --redis-cluster or a cluster URL.
func newRedis(ctx context.Context, c config.Common, log *slog.Logger) (redis.UniversalClient, error) {
	rc := c.RedisConfig(512)
	rc.Log = log
	return redisconn.New(ctx, rc)
}

func runReplay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sender replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common config.Common
	config.RegisterCommon(fs, &common, "")
	to := fs.String("to", "", "earliest: reset to the start of the jobs topic")
	toTime := fs.String("to-time", "", "reset to the first job at or after this RFC3339 time")
	fenceRetain := fs.Duration("fence-retention", fence.DefaultRetention, "how long settled fence records are kept (as on sender run); a replay of older jobs is refused without --force")
	force := fs.Bool("force", false, "replay jobs older than --fence-retention anyway (their fence keys may have expired: they may be sent again)")
	config.Positive(fs, "startup-timeout", "fence-retention")
	config.Hide(fs, "redis-*") // accepted (one configuration for every command), never used by replay
	config.SetUsage(fs, "sender replay --to earliest | --to-time RFC3339 [flags]",
		"sender replay --to earliest",
		"sender replay --to-time 2026-11-30T08:00:00Z")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return config.Usage(err)
	}
	target := sender.ReplayTarget{FenceRetention: *fenceRetain, Force: *force}
	switch {
	case *to == "earliest" && *toTime == "":
		target.Earliest = true
	case *to == "" && *toTime != "":
		t, err := time.Parse(time.RFC3339, *toTime)
		if err != nil {
			return config.Usage(fmt.Errorf("--to-time: %w", err))
		}
		target.Time = t
	default:
		return config.Usage(errors.New("give exactly one of --to earliest or --to-time RFC3339"))
	}
	cl, err := kafka.NewClient(common.KafkaClient("sender-replay", nil, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.WaitReachable(ctx, cl, common.BrokerList(), common.StartupTimeout); err != nil {
		return err
	}
	topics := kafka.Topics{Prefix: common.TopicPrefix}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := sender.ReplayWithReport(tctx, kadm.NewClient(cl), topics.SenderGroup(), topics.Jobs(), target)
	if err != nil {
		return err
	}
	if err := rep.WriteText(os.Stdout); err != nil {
		return err
	}
	if *force {
		fmt.Fprintf(os.Stdout, "--force: jobs older than --fence-retention %s may be replayed; a user whose fence key expired can be sent again\n", *fenceRetain)
	} else {
		fmt.Fprintln(os.Stdout, "the fence keeps the replay from sending any user twice")
	}
	return nil
}

func runRestore(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sender fence-restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common config.Common
	config.RegisterCommon(fs, &common, "")
	campaign := fs.String("campaign", "", "campaign whose fence to rebuild from the ledger")
	retain := fs.Duration("fence-retention", 62*24*time.Hour, "how long restored records are kept")
	config.Require(fs, "campaign")
	config.Positive(fs, "redis-timeout", "startup-timeout", "fence-retention")
	config.SetUsage(fs, "sender fence-restore --campaign ID [flags]", "sender fence-restore --campaign 2026-11")
	if err := config.Parse(fs, args, nil); err != nil {
		return err
	}
	if err := common.Validate(); err != nil {
		return config.Usage(err)
	}
	rdb, err := newRedis(ctx, common, slog.Default())
	if err != nil {
		return err
	}
	defer rdb.Close()
	fnc, err := fence.New(rdb, fence.Config{Prefix: common.TopicPrefix, Retention: *retain, Timeout: common.RedisTimeout}, nil)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(common.KafkaClient("sender-fence-restore", nil, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.WaitReachable(ctx, cl, common.BrokerList(), common.StartupTimeout); err != nil {
		return err
	}
	sum, err := sender.RestoreFence(ctx, cl, kafka.Topics{Prefix: common.TopicPrefix}, *campaign, fnc)
	if err != nil {
		return err
	}
	slog.Info("fence restored", "campaign", *campaign, "ledger_entries", sum.Entries, "terminal_users", sum.Terminal, "restored", sum.Restored, "already_present", sum.Present)
	fmt.Fprintf(os.Stdout, "campaign %s: %d terminal users in the ledger, %d restored, %d already in the fence\n", *campaign, sum.Terminal, sum.Restored, sum.Present)
	return nil
}

// validateLease refuses a fence lease that an SES call can outlast: another
// sender would take the key over while the request is still in flight.
func validateLease(lease, sesTimeout time.Duration) error {
	if lease < 2*sesTimeout {
		return fmt.Errorf("--fence-lease (%s) must be at least twice --ses-timeout (%s): a lease that a slow SES call can outlast lets another sender take the user over mid-request", lease, sesTimeout)
	}
	return nil
}
