package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/retry"
)

// campaignID is the campaign of every bench run: the length of a real one.
const campaignID = "2026-11"

// snapshot is the CPU and Redis state before or after a phase.
type snapshot struct {
	at           time.Time
	kafka, redis time.Duration
	self         time.Duration
	busy, total  time.Duration
	redisMem     int64
	redisKeys    int64
	redisCmds    map[string]cmdStat
}

func (b *bench) snap(ctx context.Context) snapshot {
	s := snapshot{at: time.Now(), self: selfCPU()}
	s.kafka, _ = b.in.serviceCPU()
	// Redis's own account of its CPU (INFO CPU), as Redis reports it
	// wherever it runs.
	if d, err := b.in.redisCPU(ctx); err == nil {
		s.redis = d
	}
	s.busy, s.total = machineBusy()
	s.redisMem, _ = b.in.redisMemory(ctx)
	s.redisKeys = b.in.redisKeys(ctx)
	s.redisCmds = b.in.redisCommands(ctx)
	return s
}

// window is what happened on the machine between two snapshots.
type window struct {
	Wall         time.Duration
	Kafka, Redis time.Duration
	Bench        time.Duration // this process: the fake SES (and in-process clients)
	Busy         time.Duration // every CPU of the machine
	RedisMem     int64
	RedisKeys    int64
	// RedisCmds is Redis's own time per command (INFO commandstats),
	// busiest first.
	RedisCmds []namedStat
}

func between(a, z snapshot) window {
	return window{
		Wall: z.at.Sub(a.at), Kafka: z.kafka - a.kafka, Redis: z.redis - a.redis, Bench: z.self - a.self,
		Busy: z.busy - a.busy, RedisMem: z.redisMem - a.redisMem, RedisKeys: z.redisKeys - a.redisKeys,
		RedisCmds: commandsBetween(a.redisCmds, z.redisCmds),
	}
}

type e2eResult struct {
	Senders, Concurrency int
	// Batch is the senders' --batch-size (0: the sender's default, not
	// given).
	Batch           int
	Users, Accepted int
	Duplicates      int
	Stats           rateStats
	// Publish is the producer's own run; Total is from the producer's start
	// to the last acceptance.
	Publish   usage
	Total     time.Duration
	SenderUse []usage
	// SendersBusy is the senders' CPU from the producer's start to the
	// last acceptance: their start-up and drain left out.
	SendersBusy time.Duration
	Retrier     usage
	Win         window
	// RedisSampled is the MEMORY USAGE of every fence key (bucket) of
	// the run, per user.
	RedisSampled float64
	Outcomes     map[string]float64
	Throttles    int    // answered by the fake
	Timeline     string // CSV of SendEmail calls per 100 ms
	// TopicBytes is the size on disk of each of the phase's topics at the
	// end (by the name after the prefix: jobs, ledger, members, ...).
	TopicBytes map[string]int64
}

func (r e2eResult) sendonceCPU() time.Duration {
	t := r.Publish.CPU + r.Retrier.CPU
	for _, u := range r.SenderUse {
		t += u.CPU
	}
	return t
}

func (r e2eResult) sendersCPU() time.Duration {
	var t time.Duration
	for _, u := range r.SenderUse {
		t += u.CPU
	}
	return t
}

func (r e2eResult) peakSenderRSS() int64 {
	var m int64
	for _, u := range r.SenderUse {
		m = max(m, u.MaxRSS)
	}
	return m
}

// perEmail is a CPU time per accepted email.
func (r e2eResult) perEmail(d time.Duration) time.Duration {
	if r.Accepted == 0 {
		return 0
	}
	return d / time.Duration(r.Accepted)
}

// endToEnd: n senders (and a retrier) with --batch-size batch wait on a
// fresh prefix; the producer publishes the users; the run ends when the
// fake SES accepted every email.
func (b *bench) endToEnd(ctx context.Context, n, batch int) error {
	users := b.o.usersE2E
	csv, err := usersCSV(b.o.out, users)
	if err != nil {
		return err
	}
	conc := b.o.concurrencyFor(batch)
	// '0'+n for the per-user path (as before batches), 'b'+n for batches.
	pc := byte('0' + n%10)
	if batch > 1 {
		pc = byte('b' + n%10)
	}
	r, err := b.pipeline(ctx, pipelineRun{
		phase: fmt.Sprintf("e2e%d-b%d", n, batch), prefixChar: pc, users: users, csv: csv, senders: n,
		senderArgs: append(senderRunArgs(conc, batch, b.o.maxRate, b.o.partitions), strings.Fields(b.o.senderFlags)...),
	})
	if r != nil {
		r.Concurrency, r.Batch = conc, batch
		b.res.E2E = append(b.res.E2E, *r)
		logf("e2e %d sender(s), batch %d, concurrency %d: %d emails, %.0f emails/s, %.1f µs CPU/email (sendonce), Redis %.1f µs/email, dups %d",
			n, batch, conc, r.Accepted, r.Stats.Avg, float64(r.perEmail(r.sendonceCPU()).Nanoseconds())/1e3, float64(r.perEmail(r.Win.Redis).Nanoseconds())/1e3, r.Duplicates)
	}
	return err
}

// senderRunArgs are the flags of `sender run` in the end-to-end and
// profiled runs.
func senderRunArgs(conc, batch int, maxRate float64, partitions int) []string {
	return []string{"--concurrency", strconv.Itoa(conc), "--batch-size", strconv.Itoa(batch), "--max-send-rate", fmt.Sprint(maxRate), "--partitions", strconv.Itoa(partitions)}
}

type pipelineRun struct {
	phase       string
	prefixChar  byte
	users       int
	csv         string
	senders     int
	senderArgs  []string
	retrierArgs []string
	tiers       string // retry tiers of the senders and the retrier (default: the default tiers)
	rateLimit   int    // the fake throttles above this many per second (0: never)
	profile     string // CPU profile path: the senders run the profiled wiring
}

// pipeline runs producer → Kafka → senders → fake SES once.
func (b *bench) pipeline(ctx context.Context, pr pipelineRun) (*e2eResult, error) {
	prefix := b.prefix(pr.prefixChar)
	defer b.cleanup(prefix)
	f, err := newFake(b.o.latency, pr.users, pr.rateLimit)
	if err != nil {
		return nil, err
	}
	defer f.close()

	r := &e2eResult{Senders: pr.senders, Users: pr.users}
	before := b.snap(ctx)
	tiers := pr.tiers
	if tiers == "" {
		tiers = retry.FormatTiers(retry.DefaultTiers)
	}
	svc, err := b.startServices(ctx, pr.phase, prefix, f.srv.URL(), pr.senders, pr.senderArgs, pr.retrierArgs, tiers, pr.profile)
	if err != nil {
		_, _, _ = svc.stop()
		return nil, err
	}
	pubStart := time.Since(f.rec.start)
	busy0 := svc.sendersCPU()
	r.Publish, err = b.publishJobs(ctx, pr.phase, prefix, pr.csv, campaignID, f.srv.URL())
	if err != nil {
		_, _, _ = svc.stop()
		return nil, fmt.Errorf("producer: %w", err)
	}
	deadline := 2*time.Minute + time.Duration(pr.users/1000)*time.Second
	if pr.rateLimit > 0 {
		deadline = 2*time.Minute + time.Duration(float64(pr.users)/float64(pr.rateLimit)*1.5*float64(time.Second))
	}
	werr := waitAccepted(ctx, f, pr.users, svc, deadline)
	r.SendersBusy = svc.sendersCPU() - busy0
	// The senders count an email after SES answered and the fence recorded
	// it: give the last ones a moment before reading their metrics.
	for end := time.Now().Add(5 * time.Second); ; {
		r.Outcomes = svc.outcomes()
		if werr != nil || int(r.Outcomes["sent"]) >= f.accepted() || time.Now().After(end) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.SenderUse, r.Retrier, err = svc.stop()
	after := b.snap(ctx)
	r.Win = between(before, after)
	r.Accepted = f.accepted()
	r.Duplicates = f.duplicates()
	r.Throttles = f.throttles()
	ts := f.rec.times()
	r.Stats = statsOf(ts)
	r.Timeline = filepath.Join(b.o.out, b.runID+"-"+pr.phase+"-timeline.csv")
	if os.Getenv("BENCH_RAW_TIMES") != "" {
		var sb strings.Builder
		for _, t := range ts {
			fmt.Fprintf(&sb, "%d\n", t.Microseconds())
		}
		_ = os.WriteFile(r.Timeline+".raw", []byte(sb.String()), 0o644)
	}
	if err := writeTimeline(r.Timeline, ts); err != nil {
		logf("warning: %v", err)
	}
	if len(ts) > 0 {
		r.Total = ts[len(ts)-1] - pubStart
	}
	if mean, n, err := b.in.sampleMemory(ctx, prefix+":f:*", 1<<20); err == nil && pr.users > 0 {
		r.RedisSampled = mean * float64(n) / float64(pr.users)
	}
	r.TopicBytes = b.in.topicBytes(ctx, prefix)
	if werr != nil {
		return r, werr
	}
	return r, err
}
