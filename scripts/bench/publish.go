package main

import (
	"context"
	"fmt"
	"time"
)

type publishResult struct {
	Users      int
	CSVBytes   int64
	Use        usage
	JobsPerSec float64
	InTopic    int64
	Win        window
}

// publish runs `producer publish` of the big CSV into a fresh prefix.
func (b *bench) publish(ctx context.Context) error {
	n := b.o.usersPublish
	t := time.Now()
	csv, err := usersCSV(b.o.out, n)
	if err != nil {
		return err
	}
	if d := time.Since(t); d > time.Second {
		logf("generated %s in %s", csv, d.Round(time.Millisecond))
	}
	prefix := b.prefix('u')
	defer b.cleanup(prefix)
	f, err := newFake(0, 1, 0) // the producer needs no SES; given one anyway
	if err != nil {
		return err
	}
	defer f.close()
	before := b.snap(ctx)
	use, err := b.publishJobs(ctx, "publish", prefix, csv, campaignID, f.srv.URL())
	after := b.snap(ctx)
	if err != nil {
		return err
	}
	r := &publishResult{Users: n, CSVBytes: fileSize(csv), Use: use, Win: between(before, after)}
	r.JobsPerSec = float64(n) / use.Wall.Seconds()
	r.InTopic, err = b.jobsInTopic(ctx, prefix)
	if err != nil {
		return err
	}
	b.res.Publish = r
	logf("publish: %d jobs in %s: %.0f jobs/s, peak RSS %s, CPU %s, %d records in the topic",
		n, use.Wall.Round(time.Millisecond), r.JobsPerSec, mib(use.MaxRSS), use.CPU.Round(time.Millisecond), r.InTopic)
	if r.InTopic < int64(n) {
		return fmt.Errorf("only %d of %d jobs in the topic", r.InTopic, n)
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
