package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/metrics"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sender"
)

// ErrCheckFailed is returned by Run when the outbox does not hold exactly
// one email per valid user (or holds one for a rejected row).
var ErrCheckFailed = errors.New("the outbox check failed")

// The template the demo creates through the SES client.
const (
	templateName    = "usage"
	templateSubject = "Your device usage for {{month}}"
	templateHTML    = "<p>Hello {{name}},</p><p>Your <b>{{device}}</b> used <b>{{kwh}} kWh</b> in {{month}}.</p><p>Thank you for keeping an eye on your energy.</p>"
	templateText    = "Hello {{name}},\n\nYour {{device}} used {{kwh}} kWh in {{month}}.\n\nThank you for keeping an eye on your energy.\n"
	fromAddress     = "Usage reports <reports@example.com>"
)

// Run runs the demo and writes its progress and report to out. It returns
// the report, and an error when the run could not finish or the outbox
// check failed (ErrCheckFailed).
func Run(ctx context.Context, o Options, out io.Writer) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	began, start := time.Now(), o.Now()
	lastMonth := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	campaign := "usage-" + lastMonth.Format("2006-01")
	rep := Report{Campaign: campaign, Rejected: map[string]int{}, Retried: map[string]int{}, Outcomes: map[string]int{}, WantInjected: o.AmbiguousCalls}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	// The outbox folder of this campaign is this run's: a previous run's
	// emails would read as duplicates.
	outDir := filepath.Join(o.OutboxDir, campaign)
	if err := os.RemoveAll(outDir); err != nil {
		return rep, fmt.Errorf("clearing %s: %w", outDir, err)
	}

	tmp, err := os.MkdirTemp("", "sendonce-demo-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	csvPath := filepath.Join(tmp, "users.csv")
	pop, err := writeSample(csvPath, o, lastMonth.Format("January 2006"))
	if err != nil {
		return rep, err
	}
	rep.Rows, rep.Valid = pop.Rows, len(pop.Valid)

	awsEnv()
	thr := newThrottler(len(pop.Valid), o.ThrottlePercent)
	amb := newAmbiguity(o.AmbiguousCalls, int(o.AmbiguousAt*float64(len(pop.Valid))), o.BatchSize > 1, pop.Valid)
	feed, err := newEventFeed(&o)
	if err != nil {
		return rep, err
	}
	defer feed.close(context.WithoutCancel(ctx))
	w, err := startWorld(ctx, &o, faults(amb, thr), amb.bulkFault, feed)
	if err != nil {
		return rep, err
	}
	defer w.close()
	if o.MetricsAddr != "" {
		srv, err := metrics.Listen(o.MetricsAddr, w.reg, nil, o.Log)
		if err != nil {
			return rep, fmt.Errorf("--metrics-addr: %w", err)
		}
		go srv.Serve()
		defer srv.Shutdown(context.WithoutCancel(ctx))
		o.MetricsAddr = srv.Addr()
	}

	mailer, err := w.sesClient(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("SES client: %w", err)
	}
	if err := mailer.CreateTemplate(ctx, templateName, templateSubject, templateHTML, templateText); err != nil {
		return rep, fmt.Errorf("creating the SES template: %w", err)
	}
	rep.RateCeiling = o.MaxSendRate * sender.DefaultConfig().RateFraction
	intro(out, &o, w, campaign, outDir, pop)

	wt, err := w.watchLedger(campaign)
	if err != nil {
		return rep, err
	}
	go wt.run(ctx)
	defer wt.close()

	// The consumers first, as in a deployment: they wait for jobs (and
	// the reconciler for SES's events).
	var svcs []*service
	defer func() { stopAll(svcs) }()
	for _, name := range []string{"reconciler", "retrier", "sender-1", "sender-2"} {
		var s *service
		switch name {
		case "reconciler":
			s, err = w.startReconciler(ctx, &o)
		case "retrier":
			s, err = w.startRetrier(ctx, &o)
		default:
			s, err = w.startSender(ctx, &o, name)
		}
		if err != nil {
			return rep, fmt.Errorf("starting %s: %w", name, err)
		}
		svcs = append(svcs, s)
	}

	pm := producer.NewMetrics(w.registerer("producer"))
	pubStart := time.Now()
	published := make(chan publishResult, 1)
	go func() {
		s, err := w.publish(ctx, campaign, csvPath, pm, o.Log)
		published <- publishResult{s, err}
	}()

	prog := newProgress(out, o.Interactive, pubStart)
	settledAt, err := watch(ctx, &o, w, wt, amb, prog, pm, published, &svcs, &rep, len(pop.Valid))
	if err != nil {
		prog.finish()
		return rep, err
	}
	rep.Sending = settledAt.Sub(pubStart)

	// Stop like deleting the deployments would: SIGTERM to every pod at
	// once, each drains. The reconciler goes last, once it has taken
	// every SES event of the run (the Delivery events come after the
	// sends).
	svcs, err = stopAllBut(svcs, "reconciler")
	if err == nil {
		if err = feed.drain(ctx); err == nil {
			prog.event(time.Now(), "the reconciler has taken every SES event of the run; stopping it")
		}
	}
	prog.finish()
	err = errors.Join(err, stopAll(svcs))
	svcs = nil
	if err != nil {
		return rep, err
	}

	if err := finalCounts(ctx, w, campaign, &rep); err != nil {
		return rep, err
	}
	if err := batchCounts(w, &rep); err != nil {
		return rep, err
	}
	if err := settlementCounts(w, wt, amb, &rep); err != nil {
		return rep, err
	}
	rep.Accepted = w.ses.Count()
	if o.afterSettled != nil {
		o.afterSettled(pop)
	}
	if rep.Outbox, err = checkOutbox(outDir, pop); err != nil {
		return rep, err
	}
	rep.Wall = time.Since(began)
	rep.WriteText(out, o.Tiers)
	if rep.Answers, err = answers(ctx, w, campaign, lookupUser(&rep), out); err != nil {
		return rep, err
	}
	if !rep.OK() {
		return rep, ErrCheckFailed
	}
	if !o.Keep {
		if err := os.RemoveAll(outDir); err != nil {
			return rep, fmt.Errorf("removing the outbox: %w", err)
		}
		os.Remove(o.OutboxDir) // only if empty
		fmt.Fprintf(out, "(outbox removed: --keep=false)\n")
	}
	return rep, nil
}

type publishResult struct {
	s   producer.Summary
	err error
}

func writeSample(path string, o Options, month string) (*population, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	pop, err := generate(f, o.Users, o.Seed, month)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the sample CSV: %w", cerr)
	}
	return pop, err
}

// intro says what is about to run.
func intro(out io.Writer, o *Options, w *world, campaign, outDir string, p *population) {
	row := func(k, format string, args ...any) {
		fmt.Fprintf(out, "  %-10s %s\n", k, fmt.Sprintf(format, args...))
	}
	fmt.Fprintln(out, "sendonce demo: the whole pipeline in one process, on embedded stand-ins")
	row("Kafka", "in-process kfake at %s, jobs topic with %d partitions", strings.Join(w.brokers, ","), o.Partitions)
	row("Redis", "in-process miniredis at %s (fence, shared rate limiter)", w.redis.Addr())
	row("SES", "local SES v2 endpoint %s, called by the real aws-sdk-go-v2 client; GetAccount MaxSendRate %s/s", w.sesURL, num(int(o.MaxSendRate)))
	row("outbox", "%s/", outDir)
	if o.MetricsAddr != "" {
		row("metrics", "http://%s/metrics", o.MetricsAddr)
	}
	row("campaign", "%s, template %q (subject %q), from %s", campaign, templateName, templateSubject, fromAddress)
	row("users", "%s CSV rows: %s valid, %s invalid, %s repeating a user_id", num(p.Rows), num(len(p.Valid)),
		num(p.Rows-len(p.Valid)-p.DuplicateRows()), num(p.DuplicateRows()))
	row("pipeline", "producer publish → sender-1 + sender-2 (group %s) → retrier; SES events → reconciler", w.topics.SenderGroup())
	batches := fmt.Sprintf("up to %d users per SES call (SendBulkEmail; a batch of one is a SendEmail), linger %s", o.BatchSize, sender.DefaultBatchLinger)
	if o.BatchSize == 1 {
		batches = "1 user per SES call (SendEmail)"
	}
	row("batches", "%s", batches)
	row("events", "configuration set %s: SES's Send and Delivery events of every accepted email, %s to %s later (%g%% twice), go through an in-process queue to the reconciler (sender reconcile); --resolve-after %s",
		demoConfigurationSet, o.EventDelay[0], o.EventDelay[1], o.EventDuplicates*100, o.ResolveAfter)
	row("retries", "tiers %s, %d attempts (production defaults: %s)", retry.FormatTiers(o.Tiers), o.MaxAttempts, retry.FormatTiers(retry.DefaultTiers))
	trouble := fmt.Sprintf("SES throttles in two bursts (~%g%% of the users; a fifth of those twice)", o.ThrottlePercent)
	if o.RestartAt > 0 {
		trouble += fmt.Sprintf("; sender-2 is stopped at %.0f%% sent and sender-3 started", o.RestartAt*100)
	}
	if o.AmbiguousCalls > 0 {
		call := "SendBulkEmail"
		if o.BatchSize == 1 {
			call = "SendEmail"
		}
		trouble += fmt.Sprintf("; %d %s call(s) accepted by SES and answered 503 (ambiguous: only SES's events can settle them)", o.AmbiguousCalls, call)
	}
	row("trouble", "%s", trouble)
	fmt.Fprintln(out)
}
