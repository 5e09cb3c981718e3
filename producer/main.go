// Command producer publishes one email job per user of a campaign, reports
// a campaign's progress and previews one user's email.
//
//	producer publish --campaign ID --source SRC --template NAME --from ADDR [flags]
//	producer status  --campaign ID [--json] [--watch] [--user USER_ID]
//	producer report  --campaign ID [--format csv|jsonl]
//	producer preview --campaign ID --source SRC --template NAME --user USER_ID
//
// Every flag can also be set from the environment (--foo-bar is
// SENDONCE_FOO_BAR; --brokers is KAFKA_BROKERS). Exit codes: 0 success, 1 a
// fatal error (the message says what to fix), 2 bad flags, 3 publish
// finished but rejects exceeded --max-rejects, or status/report of an
// unknown campaign or user.
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

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sendonce/sendonce/pkg/awsconf"
	sconfig "github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/source"
)

const usage = `usage: producer <command> [flags]

commands:
  publish   read the source, validate each row, publish one job per valid user
  status    count a campaign's users per state, across every publish run;
            percent, rate, ETA, top failure reasons; --user USER: one user;
            --watch: again every --interval until complete
  report    every user's state, message id, reason and time as csv or jsonl
  preview   render one user's email without sending
  test-send render one user's email and send it to --to, tagged test=true (no fence)
  erase     remove a user's jobs, ledger entries and fence keys (erasure request)
  pause     park a campaign's jobs on every sender within seconds; others keep sending
  resume    send a paused campaign again (its parked jobs are published again)
  cancel    end a campaign's remaining users as cancelled (final)

Run "producer <command> --help" for the flags of a command (required ones
marked, with examples); "producer --version" for the build.
`

// Exit codes.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitTooManyBad = 3
	exitNotFound   = 3 // status/report: unknown campaign or user
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprint(stdout, sconfig.Version("producer"))
		return exitOK
	}
	var err error
	switch args[0] {
	case "publish":
		err = publish(ctx, args[1:], stdout, stderr, lookup)
	case "status":
		err = status(ctx, args[1:], stdout, stderr, lookup)
	case "report":
		err = report(ctx, args[1:], stdout, stderr, lookup)
	case "preview":
		err = preview(ctx, args[1:], stdout, stderr, lookup)
	case "test-send":
		err = testSend(ctx, args[1:], stdout, stderr, lookup)
	case "erase":
		err = erase(ctx, args[1:], stdout, stderr, lookup)
	case "pause":
		err = campaignControl(ctx, "pause", control.Paused, args[1:], stdout, stderr, lookup)
	case "resume":
		err = campaignControl(ctx, "resume", control.Active, args[1:], stdout, stderr, lookup)
	case "cancel":
		err = campaignControl(ctx, "cancel", control.Cancelled, args[1:], stdout, stderr, lookup)
	default:
		fmt.Fprintf(stderr, "producer: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var ue usageError
	var cue sconfig.UsageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue), errors.As(err, &cue):
		fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
		return exitUsage
	case errors.Is(err, producer.ErrTooManyRejects):
		fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
		return exitTooManyBad
	case errors.Is(err, producer.ErrNotFound):
		fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
		return exitNotFound
	default:
		fmt.Fprintf(stderr, "producer %s: %v\n", args[0], err)
		return exitError
	}
}

// commandHelp is what a command's flags add to its --help and its checks:
// the synopsis, the required flags (every missing one is named at once,
// exit 2), durations that must be above 0, and examples.
type commandHelp struct {
	synopsis string
	required []string
	positive []string
	// hidden are shared flags the command never uses: still accepted (one
	// configuration fits every command), not offered in --help.
	hidden   []string
	examples []string
}

// Shared flags of commands without Redis, or without Kafka either.
var (
	noRedis = []string{"redis-*"}
	noKafka = []string{"redis-*", "brokers", "kafka-*", "startup-timeout", "metrics-addr"}
)

var commandHelps = map[string]commandHelp{
	"publish": {
		synopsis: "producer publish --campaign ID --source SRC --template NAME --from ADDR [flags]",
		required: []string{"campaign|campaign-from-date", "source", "template", "from"},
		positive: []string{"startup-timeout", "connect-timeout", "flush-timeout", "progress-every"},
		hidden:   noRedis,
		examples: []string{
			"producer publish --campaign 2026-11 --source csv:users.csv --template welcome --from news@example.com",
			"producer publish --campaign 2026-11 --source csv:users.csv --template welcome --from news@example.com --dry-run",
			"producer publish --campaign-from-date 2006-01 --source athena --athena-query-file q.sql --template monthly --from news@example.com",
		},
	},
	"status": {
		synopsis: "producer status --campaign ID [--json] [--watch] [--user USER_ID]",
		required: []string{"campaign"},
		positive: []string{"redis-timeout", "startup-timeout", "timeout"},
		examples: []string{"producer status --campaign 2026-11", "producer status --campaign 2026-11 --watch", "producer status --campaign 2026-11 --user u-42"},
	},
	"report": {
		synopsis: "producer report --campaign ID [--format csv|jsonl]",
		required: []string{"campaign"},
		positive: []string{"startup-timeout", "timeout"},
		hidden:   noRedis,
		examples: []string{"producer report --campaign 2026-11 > 2026-11.csv", "producer report --campaign 2026-11 --format jsonl"},
	},
	"preview": {
		synopsis: "producer preview --campaign ID --source SRC --template NAME --user USER_ID [flags]",
		required: []string{"campaign", "source", "template", "user"},
		positive: []string{"timeout"},
		hidden:   noKafka,
		examples: []string{"producer preview --campaign 2026-11 --source csv:users.csv --template welcome --user u-42"},
	},
	"test-send": {
		synopsis: "producer test-send --campaign ID --source SRC --template NAME --from ADDR --user USER_ID --to ADDR [flags]",
		required: []string{"campaign", "source", "template", "from", "user", "to"},
		positive: []string{"timeout", "ses-timeout"},
		hidden:   noKafka,
		examples: []string{"producer test-send --campaign 2026-11 --source csv:users.csv --template welcome --from news@example.com --user u-42 --to me@example.com"},
	},
	"erase": {
		synopsis: "producer erase --user USER_ID [--campaign ID] [flags]",
		required: []string{"user"},
		positive: []string{"redis-timeout", "startup-timeout", "timeout"},
		examples: []string{"producer erase --user u-42", "producer erase --user u-42 --campaign 2026-11 --json"},
	},
}

// parse binds and parses the flags of a command, then validates them.
func parse(name string, args []string, stderr io.Writer, lookup func(string) (string, bool), register func(*flag.FlagSet), validate func() error) error {
	fs := flag.NewFlagSet("producer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	register(fs)
	if h, ok := commandHelps[name]; ok {
		sconfig.Require(fs, h.required...)
		sconfig.Positive(fs, h.positive...)
		sconfig.Hide(fs, h.hidden...)
		sconfig.SetUsage(fs, h.synopsis, h.examples...)
	}
	if err := sconfig.Parse(fs, args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// Missing or zero flags: add what the command's own checks say
		// about the other flags, so that every problem is named at once.
		var fe *sconfig.FlagErrors
		if errors.As(err, &fe) {
			err = fe.With(validate())
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if err := validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func publish(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.PublishCommand
	if err := parse("publish", args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	// Clients built without a logger of their own (the AWS SDK's, in the
	// SES checks) log in the chosen format too.
	slog.SetDefault(log)
	if w := producer.UnsubscribeWarning(&cmd.PublishConfig); w != "" {
		log.Warn(w)
	}
	if w := producer.NoEventsWarning(&cmd); w != "" {
		log.Warn(w)
	}
	reg := metrics.NewRegistry()
	if cmd.Common.MetricsAddr != "" {
		srv, err := metrics.Listen(cmd.Common.MetricsAddr, reg, nil, log)
		if err != nil {
			return err
		}
		go srv.Serve()
		defer srv.Shutdown(context.WithoutCancel(ctx))
	}
	if cmd.DryRun { // no Kafka at all
		return dryRun(ctx, &cmd, log, reg, stdout)
	}
	cl, err := kafka.NewClient(cmd.Common.KafkaClient("producer", log, reg), producer.ClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := producer.EnsureTopics(ctx, cl, cmd.Layout(), cmd.ConnectTimeout, log); err != nil {
		return err
	}

	opened, err := openSource(ctx, &cmd, log, reg)
	if err != nil {
		return err
	}
	defer opened.Close()
	// The pre-flight checks (template, From identity, first row renders)
	// run before any job is produced; src replays the rows they read.
	src, err := checkSES(ctx, &cmd, opened, log, reg)
	if err != nil {
		return err
	}

	deps := producer.Deps{Client: cl, Source: src, Log: log, Metrics: producer.NewMetrics(reg)}
	if sconfig.IsTerminal(stderr) {
		deps.Progress = stderr
	}
	if cmd.RejectsFile != "" {
		f, err := producer.CreateRejectsFile(cmd.RejectsFile)
		if err != nil {
			return err
		}
		defer f.Close()
		deps.RejectsFile = f
	}
	sum, err := producer.Publish(ctx, cmd.PublishConfig, deps)
	if sum.Campaign != "" {
		_ = sum.WriteText(stdout)
	}
	return err
}

func preview(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.PreviewCommand
	if err := parse("preview", args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	awsCfg, err := config.LoadDefaultConfig(tctx, config.WithLogger(awsconf.Logger(log)))
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	athena, err := cmd.Source.Athena(cmd.Campaign)
	if err != nil {
		return usageError{err}
	}
	athena.Log = log
	src, err := source.Open(tctx, cmd.Source.Spec, athena)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := producer.RenderPreview(tctx, cmd.PublishConfig, src, cmd.User, sesv2.NewFromConfig(awsCfg))
	if err != nil {
		return err
	}
	return p.WriteText(stdout)
}
