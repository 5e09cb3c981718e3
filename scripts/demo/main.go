// Command demo runs the whole sendonce pipeline in one process on embedded
// Kafka, Redis and SES stand-ins (`make demo`); see pkg/demo and
// docs/DEMO.md.
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

Runs producer → two senders → retrier in one process on an in-process Kafka
(kfake), an in-process Redis (miniredis) and a local SES v2 endpoint that
writes every accepted email to OUTBOX/<campaign>/*.eml. SES throttles some
calls and one sender is restarted mid-run. It ends with a report and exits 0
only if every valid user has exactly one email in the outbox and no rejected
row has any.

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
