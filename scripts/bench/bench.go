package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/retry"
)

// bench runs the phases and collects their results.
type bench struct {
	o       options
	in      *infra
	root    string
	self    string
	runID   string
	tag     string // 4 hex digits, unique per run
	started time.Time
	res     results
}

func (b *bench) all(ctx context.Context) error {
	var failed []string
	phase := func(name string, skip bool, fn func(context.Context) error) {
		if skip || ctx.Err() != nil {
			return
		}
		logf("== %s", name)
		t := time.Now()
		if err := fn(ctx); err != nil {
			logf("%s FAILED: %v", name, err)
			failed = append(failed, name)
			b.res.Errors = append(b.res.Errors, fmt.Sprintf("%s: %v", name, err))
			return
		}
		logf("%s done in %s", name, time.Since(t).Round(time.Second))
	}
	phase("publish", b.o.skipPublish, b.publish)
	phase("athena from S3", b.o.skipAthena, b.athena)
	counts, _ := b.o.senderCounts()
	batches, _ := b.o.batchList()
	for _, n := range counts {
		for _, bs := range batches {
			phase(fmt.Sprintf("end to end, %d sender(s), batch %d", n, bs), b.o.skipE2E, func(ctx context.Context) error { return b.endToEnd(ctx, n, bs) })
		}
	}
	phase("baselines", b.o.skipBaselines, func(ctx context.Context) error { return b.baselines(ctx, counts) })
	phase("rate precision", b.o.skipRate, b.ratePrecision)
	phase("fence memory", b.o.skipMemory, b.memory)
	phase("profiled sender", b.o.skipProfile, b.profile)
	phase("micro-benchmarks", b.o.skipMicro, b.micro)
	b.res.Wall = time.Since(b.started)
	if err := b.report(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(failed) > 0 {
		return fmt.Errorf("phases failed: %v", failed)
	}
	return nil
}

// prefix is a phase's topic and Redis key prefix: "sob" + the run's tag +
// a phase letter, 8 characters like the default "sendonce", so that fence
// keys (and the Redis memory per user) have their production size.
func (b *bench) prefix(phase byte) string { return "sob" + b.tag + string(phase) }

func (b *bench) logPath(phase, name string) string {
	return filepath.Join(b.o.out, "logs", b.runID+"-"+phase+"-"+name+".log")
}

func (b *bench) cleanup(prefix string) {
	if b.o.keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.in.cleanup(ctx, prefix); err != nil {
		logf("warning: %v", err)
	}
}

// env is the environment of every sendonce child process of a phase.
func (b *bench) env(prefix, sesURL, metricsAddr string) []string {
	return append(b.goEnv(), []string{
		"KAFKA_BROKERS=" + b.in.brokersString(),
		"REDIS_URL=" + b.in.redisURL,
		"SENDONCE_TOPIC_PREFIX=" + prefix,
		"METRICS_ADDR=" + metricsAddr,
		"SENDONCE_LOG_FORMAT=json",
		"AWS_ENDPOINT_URL_SESV2=" + sesURL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench",
	}...)
}

// goEnv is the Go runtime settings of every measured process.
func (b *bench) goEnv() []string {
	var env []string
	if b.o.gogc != "" {
		env = append(env, "GOGC="+b.o.gogc)
	}
	if b.o.gomemlimit != "" {
		env = append(env, "GOMEMLIMIT="+b.o.gomemlimit)
	}
	return env
}

func (b *bench) bin(name string) string { return filepath.Join(b.o.bin, name) }

// services is one set of running senders and a retrier.
type services struct {
	senders []*proc
	retrier *proc
}

// startServices starts n senders (bin/sender run, or the profiled wiring)
// and one retrier on prefix, and waits until every one is ready.
func (b *bench) startServices(ctx context.Context, phase, prefix, sesURL string, n int, senderArgs, retrierArgs []string, tiers, profile string) (*services, error) {
	s := &services{}
	if err := b.createTopics(ctx, prefix, tiers); err != nil {
		return s, err
	}
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			return s, err
		}
		bin, args := b.bin("sender"), append([]string{"run"}, senderArgs...)
		if profile != "" {
			bin, args = b.self, append([]string{"profiled-sender", "--cpuprofile", profile}, senderArgs...)
		}
		p, err := startProc(fmt.Sprintf("sender-%d", i+1), bin, args, b.env(prefix, sesURL, addr), b.logPath(phase, fmt.Sprintf("sender-%d", i+1)))
		if err != nil {
			return s, err
		}
		p.metrics = addr
		s.senders = append(s.senders, p)
	}
	addr, err := freeAddr()
	if err != nil {
		return s, err
	}
	s.retrier, err = startProc("retrier", b.bin("retrier"), append([]string{"run"}, retrierArgs...), b.env(prefix, sesURL, addr), b.logPath(phase, "retrier"))
	if err != nil {
		return s, err
	}
	s.retrier.metrics = addr
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, p := range append(append([]*proc{}, s.senders...), s.retrier) {
		if err := waitUp(rctx, p); err != nil {
			return s, err
		}
	}
	// A sender is ready (/readyz) only once it fetched a record, so wait for
	// the group to settle on our topic instead: no rebalance mid-run.
	if err := b.in.waitAssigned(rctx, kafka.Topics{Prefix: prefix}.SenderGroup(), kafka.Topics{Prefix: prefix}.Jobs(), b.o.partitions, n); err != nil {
		return s, err
	}
	return s, nil
}

// createTopics creates the prefix's topics as the producer and the senders
// would (kafka.EnsureTopics), before any of them starts, so that they do not
// race to create them.
func (b *bench) createTopics(ctx context.Context, prefix, tiers string) error {
	t, err := retry.ParseTiers(tiers)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The producer's membership topic too, first, so that it has been
	// served the longest when the producer writes to it: a busy broker
	// answered writes to a topic created a moment before with
	// UNKNOWN_TOPIC_OR_PARTITION, which failed the producer (2 runs of ~30
	// at load average 10-17).
	resp, err := b.in.adm.CreateTopic(ctx, int32(b.o.partitions), -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}, producer.MembersTopic(kafka.Topics{Prefix: prefix}))
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating the members topic: %w", err)
	}
	if err := kafka.EnsureTopics(ctx, b.in.kcl, kafka.Layout{Topics: kafka.Topics{Prefix: prefix}, Partitions: int32(b.o.partitions), ReplicationFactor: -1, Tiers: t}, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	return b.waitTopicsLed(ctx, prefix)
}

// waitTopicsLed waits until every topic of prefix has a leader for each
// partition: a busy KRaft broker answers CreateTopics before it serves
// the new partitions, and a producer that writes at once is told
// UNKNOWN_TOPIC_OR_PARTITION.
func (b *bench) waitTopicsLed(ctx context.Context, prefix string) error {
	for {
		topics, err := b.in.adm.ListTopics(ctx)
		ready, seen := err == nil, 0
		if err == nil {
			for name, d := range topics {
				if !strings.HasPrefix(name, prefix+".") {
					continue
				}
				seen++
				if d.Err != nil || len(d.Partitions) == 0 {
					ready = false
				}
				for _, p := range d.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
			}
		}
		if ready && seen > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the topics of %s have no leader yet: %w", prefix, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// outcomes sums sendonce_sender_jobs_total over the senders, by outcome.
func (s *services) outcomes() map[string]float64 {
	out := map[string]float64{}
	for _, p := range s.senders {
		m, err := scrape(p.metrics, "sendonce_sender_jobs_total")
		if err != nil {
			continue
		}
		for k, v := range m {
			out[trimLabel(k, "outcome")] += v
		}
	}
	return out
}

// sendersCPU is the CPU the running senders used so far (/proc).
func (s *services) sendersCPU() time.Duration {
	var t time.Duration
	for _, p := range s.senders {
		if d, err := procCPU(p.cmd.Process.Pid); err == nil {
			t += d
		}
	}
	return t
}

// trimLabel returns the value of label name in `a="x",b="y"`.
func trimLabel(labels, name string) string {
	for _, part := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(part, name+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return labels
}

// stop stops every process (SIGTERM, drain) and returns the senders' and
// the retrier's usage.
func (s *services) stop() (senders []usage, retrier usage, err error) {
	var errs []error
	for _, p := range s.senders {
		if e := p.stop(60 * time.Second); e != nil {
			errs = append(errs, e)
		}
		senders = append(senders, p.use)
	}
	if s.retrier != nil {
		if e := s.retrier.stop(60 * time.Second); e != nil {
			errs = append(errs, e)
		}
		retrier = s.retrier.use
	}
	if len(errs) > 0 {
		err = fmt.Errorf("%v", errs)
	}
	return senders, retrier, err
}

// anyExited returns the first process that stopped on its own.
func (s *services) anyExited() *proc {
	for _, p := range append(append([]*proc{}, s.senders...), s.retrier) {
		if p != nil && p.exited() {
			return p
		}
	}
	return nil
}

// publishJobs runs bin/producer publish of csv on prefix and waits for it.
func (b *bench) publishJobs(ctx context.Context, phase, prefix, csv, campaign, sesURL string) (usage, error) {
	p, err := startProc("producer", b.bin("producer"), []string{
		"publish", "--campaign", campaign, "--source", "csv:" + csv, "--template", templateName,
		"--from", fromAddr, "--partitions", strconv.Itoa(b.o.partitions),
	}, b.env(prefix, sesURL, ""), b.logPath(phase, "producer"))
	if err != nil {
		return usage{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := p.wait(wctx); err != nil {
		return p.use, err
	}
	return p.use, nil
}

// waitAccepted waits until the fake accepted want emails, a service exits,
// or the deadline passes.
func waitAccepted(ctx context.Context, f *fake, want int, s *services, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	last, lastChange := -1, time.Now()
	for {
		n := f.accepted()
		if n >= want {
			return nil
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if p := s.anyExited(); p != nil {
			return fmt.Errorf("%s exited with %d of %d emails accepted: %v", p.name, n, want, p.result())
		}
		if time.Now().After(end) {
			return fmt.Errorf("only %d of %d emails accepted after %s (no progress for %s)", n, want, deadline, time.Since(lastChange).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// jobsInTopic sums the end offsets of the jobs topic.
func (b *bench) jobsInTopic(ctx context.Context, prefix string) (int64, error) {
	ends, err := b.in.adm.ListEndOffsets(ctx, kafka.Topics{Prefix: prefix}.Jobs())
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
