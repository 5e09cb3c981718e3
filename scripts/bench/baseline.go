package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sendonce/sendonce/pkg/ses"
)

type seqResult struct {
	Users int
	Stats rateStats
	Wall  time.Duration
	Rate  float64 // emails/s
}

type rawResult struct {
	Concurrency int
	Users       int
	Stats       rateStats
	Client      usage // the client process
}

// baselines runs (a) the conventional sequential loop and (b) a bare
// concurrent SES client at each total concurrency of the end-to-end runs,
// against the same kind of fake SES.
func (b *bench) baselines(ctx context.Context, senderCounts []int) error {
	if err := b.sequential(ctx); err != nil {
		return fmt.Errorf("sequential loop: %w", err)
	}
	seen := map[int]bool{}
	for _, n := range senderCounts {
		c := n * b.o.concurrency
		if seen[c] {
			continue
		}
		seen[c] = true
		if err := b.raw(ctx, c); err != nil {
			return fmt.Errorf("raw client at concurrency %d: %w", c, err)
		}
	}
	return nil
}

// message is the email of user i, as the sender builds it from a job.
func message(i int) ses.Message {
	return ses.Message{
		From: fromAddr, To: fmt.Sprintf("user%09d@bench.example.org", i), Template: templateName,
		TemplateData: fmt.Sprintf(`{"name":"Ann %d","kwh":"%d.5"}`, i, 100+i%900),
		Tags:         map[string]string{"campaign": campaignID, "user": fmt.Sprintf("u%09d", i)},
	}
}

// sequential is the seed's "conventional way": one loop calling SendEmail
// for each user, one after the other.
func (b *bench) sequential(ctx context.Context) error {
	f, err := newFake(b.o.latency, b.o.seqUsers, 0)
	if err != nil {
		return err
	}
	defer f.close()
	cl, err := ses.New(ctx, ses.Config{}, nil, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(f.srv.URL()) })
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range b.o.seqUsers {
		if _, err := cl.Send(ctx, message(i)); err != nil {
			return err
		}
	}
	wall := time.Since(start)
	r := &seqResult{Users: b.o.seqUsers, Stats: statsOf(f.rec.times()), Wall: wall, Rate: float64(b.o.seqUsers) / wall.Seconds()}
	b.res.Seq = r
	logf("sequential loop: %d emails in %s: %.1f emails/s", r.Users, wall.Round(time.Millisecond), r.Rate)
	return nil
}

// raw runs the raw-client worker (this binary, "raw") against a fresh fake.
func (b *bench) raw(ctx context.Context, conc int) error {
	r, err := b.rawRun(ctx, conc, b.o.rawUsers, "")
	if err != nil {
		return err
	}
	b.res.Raw = append(b.res.Raw, *r)
	logf("raw client, concurrency %d: %.0f emails/s, %.1f µs CPU/email in the client", conc, r.Stats.Avg, float64(r.Client.CPU.Nanoseconds())/float64(r.Users)/1e3)
	return nil
}

// rawRun runs the raw-client worker once; profile, if set, is where it
// writes a CPU profile.
func (b *bench) rawRun(ctx context.Context, conc, users int, profile string) (*rawResult, error) {
	f, err := newFake(b.o.latency, users, 0)
	if err != nil {
		return nil, err
	}
	defer f.close()
	args := []string{"raw", "--url", f.srv.URL(), "--users", strconv.Itoa(users), "--concurrency", strconv.Itoa(conc)}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	p, err := startProc("raw", b.self, args, b.goEnv(), b.logPath("raw"+strconv.Itoa(conc), "client"))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := p.wait(wctx); err != nil {
		return nil, err
	}
	if got := f.accepted(); got != users {
		return nil, fmt.Errorf("fake accepted %d of %d", got, users)
	}
	return &rawResult{Concurrency: conc, Users: users, Stats: statsOf(f.rec.times()), Client: p.use}, nil
}

// rawMain is the raw-client worker: conc goroutines send users emails
// through pkg/ses (the SDK, as the sender uses it), nothing else.
func rawMain(args []string) error {
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	url := fs.String("url", "", "fake SES URL")
	users := fs.Int("users", 10000, "emails to send")
	conc := fs.Int("concurrency", 256, "concurrent sends")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	ctx := context.Background()
	cl, err := ses.New(ctx, ses.Config{}, nil, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(*url) })
	if err != nil {
		return err
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *users {
					return
				}
				if _, err := cl.Send(ctx, message(i)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
