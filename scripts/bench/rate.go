package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sendonce/sendonce/pkg/ratelimit"
)

type rateResult struct {
	Cap        float64
	Senders    int
	Jobs       int
	Accepted   int
	Throttles  int // answered by the fake
	Limit      int // the fake's throttle threshold per trailing second
	Stats      rateStats
	Outcomes   map[string]float64
	Duplicates int
	Timeline   string
	// Batch is the --batch-size the senders ran with (0: the sender has
	// no such flag, one SendEmail per user).
	Batch int
	// Bulk is the same run with --batch-size 50, when the sender has it.
	Bulk *rateResult
	// Limiter is the limiter alone, batch 1 and batch 50.
	Limiter []limiterRun
}

// limiterRun measures the limiter alone: Senders limiters on one key, each
// with its own Redis client (as one per sender process), each driven by
// Concurrency goroutines calling WaitN(Batch), for Run. The figures are
// taken at the moments WaitN returned.
type limiterRun struct {
	Senders, Concurrency, Batch int
	Cap                         float64
	Run                         time.Duration
	Grants                      int           // WaitN calls that returned
	AvgPct                      float64       // between the first and the last grant, % of Cap
	MaxPct                      float64       // busiest [t, t+1s) starting at a grant, the first included, % of Cap
	MaxAt                       time.Duration // where that window starts, from the first grant
	FirstPct                    float64       // the window starting at the first grant, % of Cap
}

// rateRetryTiers are short so that a throttled job (none is expected) comes
// back within the run.
const rateRetryTiers = "2s,10s"

// rateBatches are the batch sizes of the limiter runs (and of the pipeline
// runs when the sender has --batch-size).
var rateBatches = []int{1, 50}

// ratePrecision: several senders share one --max-send-rate; the fake SES
// records every call and throttles like SES above cap×(1+tolerance). Before
// that, the limiter alone, with batches of 1 and 50.
func (b *bench) ratePrecision(ctx context.Context) error {
	var runs []limiterRun
	for _, n := range rateBatches {
		lr, err := b.limiterPrecision(ctx, n)
		if err != nil {
			return fmt.Errorf("limiter alone, batch %d: %w", n, err)
		}
		logf("rate precision, limiter alone: %s", lr)
		runs = append(runs, lr)
	}

	csv, err := usersCSV(b.o.out, b.o.rateJobs)
	if err != nil {
		return err
	}
	batch := 0
	if senderHasFlag(filepath.Join(b.o.bin, "sender"), "batch-size") {
		batch = 1
	}
	rr, err := b.ratePipeline(ctx, csv, 'r', batch)
	if rr == nil {
		return err
	}
	rr.Limiter = runs
	b.res.Rate = rr
	if batch == 0 {
		logf("rate precision: %s has no --batch-size: batches of 50 measured with the limiter alone", filepath.Join(b.o.bin, "sender"))
		return err
	}
	bulk, err2 := b.ratePipeline(ctx, csv, 's', 50)
	rr.Bulk = bulk
	return errors.Join(err, err2)
}

// ratePipeline runs the senders end to end at the shared cap (batch 0: no
// --batch-size flag).
func (b *bench) ratePipeline(ctx context.Context, csv string, prefix byte, batch int) (*rateResult, error) {
	limit := int(math.Floor(b.o.rateCap * (1 + b.o.rateTol)))
	args := []string{"--max-send-rate", fmt.Sprint(b.o.rateCap), "--partitions", strconv.Itoa(b.o.partitions), "--retry-tiers", rateRetryTiers}
	if batch > 0 {
		args = append(args, "--batch-size", strconv.Itoa(batch))
	}
	r, err := b.pipeline(ctx, pipelineRun{
		phase: fmt.Sprintf("rate-b%d", batch), prefixChar: prefix, users: b.o.rateJobs, csv: csv, senders: b.o.rateSenders,
		senderArgs:  args,
		retrierArgs: []string{"--retry-tiers", rateRetryTiers, "--partitions", strconv.Itoa(b.o.partitions)},
		rateLimit:   limit,
		tiers:       rateRetryTiers,
	})
	if r == nil {
		return nil, err
	}
	rr := &rateResult{
		Cap: b.o.rateCap, Senders: b.o.rateSenders, Jobs: b.o.rateJobs, Accepted: r.Accepted, Limit: limit,
		Stats: r.Stats, Outcomes: r.Outcomes, Duplicates: r.Duplicates, Timeline: r.Timeline,
		Throttles: r.Throttles, Batch: batch,
	}
	logf("rate precision, senders end to end (batch %d): avg %.1f/s (%.1f%% of %g), busiest 1 s window %d (%.1f%%) at +%.1f s, throttles %d",
		max(batch, 1), rr.Stats.Avg, 100*rr.Stats.Avg/rr.Cap, rr.Cap, rr.Stats.MaxWindow, 100*float64(rr.Stats.MaxWindow)/rr.Cap, rr.Stats.MaxAt.Seconds(), rr.Throttles)
	return rr, err
}

// senderHasFlag reports whether `sender run --help` lists --name.
func senderHasFlag(bin, name string) bool {
	out, _ := exec.Command(bin, "run", "--help").CombinedOutput() // --help may exit non-zero
	return strings.Contains(string(out), "-"+name+" ") || strings.Contains(string(out), "-"+name+"\n")
}

// limiterConcurrency is each limiter's goroutines: the sender's default
// --concurrency.
const limiterConcurrency = 64

// limiterRunFor is how long each limiter run lasts.
const limiterRunFor = 5 * time.Second

func (b *bench) limiterPrecision(ctx context.Context, batch int) (limiterRun, error) {
	prefix := b.prefix('l')
	defer b.cleanup(prefix)
	key := fmt.Sprintf("%s:rate:b%d", prefix, batch)
	lr := limiterRun{Senders: b.o.rateSenders, Concurrency: limiterConcurrency, Batch: batch, Cap: b.o.rateCap, Run: limiterRunFor}

	opt, err := redis.ParseURL(b.in.redisURL)
	if err != nil {
		return lr, err
	}
	var limiters []*ratelimit.Limiter
	for range lr.Senders {
		rdb := redis.NewClient(opt) // its own pool: connections are dialled as the run starts
		defer rdb.Close()
		l, err := ratelimit.New(rdb, ratelimit.Config{Key: key, Rate: lr.Cap}, nil)
		if err != nil {
			return lr, err
		}
		limiters = append(limiters, l)
	}

	var (
		mu   sync.Mutex
		at   []time.Time
		errs []error
		wg   sync.WaitGroup
	)
	rctx, cancel := context.WithTimeout(ctx, lr.Run)
	defer cancel()
	for _, l := range limiters {
		for range lr.Concurrency {
			wg.Go(func() {
				for {
					_, err := l.WaitN(rctx, batch)
					now := time.Now()
					mu.Lock()
					if err != nil {
						if rctx.Err() == nil {
							errs = append(errs, err)
						}
						mu.Unlock()
						return
					}
					at = append(at, now)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return lr, err
	}
	if err := ctx.Err(); err != nil {
		return lr, err
	}
	if len(at) < 2 {
		return lr, fmt.Errorf("only %d grants in %s", len(at), lr.Run)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	lr.Grants = len(at)
	span := at[len(at)-1].Sub(at[0])
	lr.AvgPct = 100 * float64(batch*(len(at)-1)) / span.Seconds() / lr.Cap
	for i, j := 0, 0; i < len(at); i++ {
		for j < len(at) && at[j].Sub(at[i]) < time.Second {
			j++
		}
		pct := 100 * float64(batch*(j-i)) / lr.Cap
		if i == 0 {
			lr.FirstPct = pct
		}
		if pct > lr.MaxPct {
			lr.MaxPct, lr.MaxAt = pct, at[i].Sub(at[0])
		}
	}
	return lr, nil
}

func (lr limiterRun) String() string {
	return fmt.Sprintf("%d senders × %d goroutines × WaitN(%d) at %g/s for %s: %d grants, avg %.1f%%, busiest sliding second %.1f%% at +%.2f s, first second %.1f%%",
		lr.Senders, lr.Concurrency, lr.Batch, lr.Cap, lr.Run, lr.Grants, lr.AvgPct, lr.MaxPct, lr.MaxAt.Seconds(), lr.FirstPct)
}

// extraRows are the table rows of the limiter runs and of the batch-50
// pipeline run (report.go appends them after its rate rows).
func (q *rateResult) extraRows() []row {
	var rows []row
	if p := q.Bulk; p != nil {
		avgPct := 100 * p.Stats.Avg / p.Cap
		winPct := 100 * float64(p.Stats.MaxWindow) / p.Cap
		rows = append(rows,
			row{"rate, batch 50: average", fmt.Sprintf("%.1f/s (%.1f%%)", p.Stats.Avg, avgPct), "≥ 95%", verdict(avgPct >= 95, "")},
			row{"rate, batch 50: busiest 1 s window", fmt.Sprintf("%d (%.1f%%)", p.Stats.MaxWindow, winPct), "≤ 105%", verdict(winPct <= 105, "")},
		)
	}
	for _, lr := range q.Limiter {
		rows = append(rows,
			row{fmt.Sprintf("rate, limiter alone, batch %d: average", lr.Batch), fmt.Sprintf("%.1f%%", lr.AvgPct), "≥ 95%", verdict(lr.AvgPct >= 95, "")},
			row{fmt.Sprintf("rate, limiter alone, batch %d: busiest sliding second (first included)", lr.Batch), fmt.Sprintf("%.1f%% (first %.1f%%)", lr.MaxPct, lr.FirstPct), "≤ 105%", verdict(lr.MaxPct <= 105, "")},
		)
	}
	return rows
}

// extraDetail is the text of the limiter runs (report.go appends it after
// its rate precision paragraph).
func (q *rateResult) extraDetail() string {
	if len(q.Limiter) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("\nRate limiter alone, one Redis client per sender, measured when WaitN returned (the moment a sender may call SES):\n")
	for _, lr := range q.Limiter {
		fmt.Fprintf(&sb, "- %s.\n", lr)
	}
	return sb.String()
}
