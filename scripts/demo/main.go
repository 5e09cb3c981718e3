// Command demo runs the whole sendonce pipeline, the reconciler included,
// in one process on embedded Kafka, Redis and SES stand-ins (`make demo`);
// see pkg/demo and docs/DEMO.md.
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
	"runtime/debug"
	"syscall"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/demo"
)

const usage = `usage: go run ./scripts/demo [flags]   (or: make demo DEMO_FLAGS="...")

Runs producer → two senders (batches: SendBulkEmail) → retrier, and the
reconciler (sender reconcile), in one process on an in-process Kafka (kfake),
an in-process Redis (miniredis) and a local SES v2 endpoint that writes every
accepted email to OUTBOX/<campaign>/*.eml and publishes SES's Send and
Delivery events of it to an in-process queue the reconciler reads. SES
throttles some calls, one sender is restarted mid-run, and one SendBulkEmail
is accepted by SES and answered 503: only SES's events can settle its users.
It ends with a report and exits 0 only if every valid user has exactly one
email in the outbox, no rejected row has any, and every user of the 503 was
settled by its SES event (ledger reason settled_by_event).

The campaign's outbox folder is emptied when the demo starts (so that the
check sees this run only) and left in place at the end for you to read,
unless --keep=false.

flags:
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	o := demo.DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.Users, "users", o.Users, "rows of the generated users CSV (a few of them invalid or duplicates)")
	fs.StringVar(&o.OutboxDir, "outbox", o.OutboxDir, "folder that receives every accepted email as <campaign>/<recipient>-<message id>.eml")
	fs.BoolVar(&o.Keep, "keep", o.Keep, "leave the outbox after the run (--keep=false removes it once the check has passed)")
	fs.IntVar(&o.BatchSize, "batch-size", o.BatchSize, "the senders' --batch-size: most users of one SES call (1: one SendEmail per user, and the injected 503 answers a SendEmail)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz of every component on this address while the demo runs (e.g. :9090)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if os.Getenv("GOGC") == "" {
		// Kafka, Redis, SES and six clients share this one process: a
		// larger GC target trades ~150 MB for a quarter less CPU.
		debug.SetGCPercent(400)
	}
	o.Interactive = config.IsTerminal(stdout)
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := demo.Run(ctx, o, stdout)
	return err
}
