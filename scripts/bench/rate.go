package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
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
}

// rateRetryTiers are short so that a throttled job (none is expected) comes
// back within the run.
const rateRetryTiers = "2s,10s"

// ratePrecision: several senders share one --max-send-rate; the fake SES
// records every call and throttles like SES above cap×(1+tolerance).
func (b *bench) ratePrecision(ctx context.Context) error {
	csv, err := usersCSV(b.o.out, b.o.rateJobs)
	if err != nil {
		return err
	}
	limit := int(math.Floor(b.o.rateCap * (1 + b.o.rateTol)))
	r, err := b.pipeline(ctx, pipelineRun{
		phase: "rate", prefixChar: 'r', users: b.o.rateJobs, csv: csv, senders: b.o.rateSenders,
		senderArgs:  []string{"--max-send-rate", fmt.Sprint(b.o.rateCap), "--partitions", strconv.Itoa(b.o.partitions), "--retry-tiers", rateRetryTiers},
		retrierArgs: []string{"--retry-tiers", rateRetryTiers, "--partitions", strconv.Itoa(b.o.partitions)},
		rateLimit:   limit,
		tiers:       rateRetryTiers,
	})
	if r == nil {
		return err
	}
	rr := &rateResult{
		Cap: b.o.rateCap, Senders: b.o.rateSenders, Jobs: b.o.rateJobs, Accepted: r.Accepted, Limit: limit,
		Stats: r.Stats, Outcomes: r.Outcomes, Duplicates: r.Duplicates, Timeline: r.Timeline,
		Throttles: r.Throttles,
	}
	b.res.Rate = rr
	logf("rate precision: avg %.1f/s (%.1f%% of %g), busiest 1 s window %d (%.1f%%) at +%.1f s, throttles %d",
		rr.Stats.Avg, 100*rr.Stats.Avg/rr.Cap, rr.Cap, rr.Stats.MaxWindow, 100*float64(rr.Stats.MaxWindow)/rr.Cap, rr.Stats.MaxAt.Seconds(), rr.Throttles)
	return err
}
