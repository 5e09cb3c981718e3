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
	// Bulk is the recipients per call: 0 for SendEmail, else SendBulkEmail
	// with this many entries.
	Bulk   int
	Users  int
	Stats  rateStats
	Client usage // the client process
}

// baselines runs (a) the conventional sequential loop, (b) a bare
// concurrent SendEmail client at each total concurrency of the per-user
// end-to-end runs (senders × --concurrency), and (c) a bare concurrent
// SendBulkEmail client, 50 recipients a call: the ceiling of the batched
// path. All against the same kind of fake SES.
func (b *bench) baselines(ctx context.Context, senderCounts []int) error {
	if err := b.sequential(ctx); err != nil {
		return fmt.Errorf("sequential loop: %w", err)
	}
	seen := map[int]bool{}
	most := 0
	for _, n := range senderCounts {
		most = max(most, n)
		c := n * b.o.concurrency
		if seen[c] {
			continue
		}
		seen[c] = true
		if err := b.raw(ctx, c, 0); err != nil {
			return fmt.Errorf("raw client at concurrency %d: %w", c, err)
		}
	}
	bc := b.o.rawBulkConc
	if bc <= 0 {
		bc = most * b.o.batchConc
	}
	if err := b.raw(ctx, bc, ses.MaxBulkEntries); err != nil {
		return fmt.Errorf("raw SendBulkEmail client at concurrency %d: %w", bc, err)
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

// raw runs the raw-client worker (this binary, "raw") against a fresh
// fake: SendEmail (bulk 0) or SendBulkEmail of bulk recipients a call.
func (b *bench) raw(ctx context.Context, conc, bulk int) error {
	r, err := b.rawRun(ctx, conc, bulk, b.o.rawUsers, "")
	if err != nil {
		return err
	}
	b.res.Raw = append(b.res.Raw, *r)
	logf("raw %s client, concurrency %d: %.0f emails/s, %.1f µs CPU/email in the client", r.api(), conc, r.Stats.Avg, float64(r.Client.CPU.Nanoseconds())/float64(r.Users)/1e3)
	return nil
}

func (r rawResult) api() string {
	if r.Bulk > 0 {
		return fmt.Sprintf("SendBulkEmail (%d a call)", r.Bulk)
	}
	return "SendEmail"
}

// rawRun runs the raw-client worker once; profile, if set, is where it
// writes a CPU profile.
func (b *bench) rawRun(ctx context.Context, conc, bulk, users int, profile string) (*rawResult, error) {
	f, err := newFake(b.o.latency, users, 0)
	if err != nil {
		return nil, err
	}
	defer f.close()
	args := []string{"raw", "--url", f.srv.URL(), "--users", strconv.Itoa(users), "--concurrency", strconv.Itoa(conc), "--bulk", strconv.Itoa(bulk)}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	p, err := startProc("raw", b.self, args, b.goEnv(), b.logPath(fmt.Sprintf("raw%d-b%d", conc, bulk), "client"))
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
	return &rawResult{Concurrency: conc, Bulk: bulk, Users: users, Stats: statsOf(f.rec.times()), Client: p.use}, nil
}

// rawMain is the raw-client worker: conc goroutines send users emails
// through pkg/ses (the SDK, as the sender uses it), nothing else: one
// SendEmail each, or (--bulk n) SendBulkEmail calls of n recipients.
func rawMain(args []string) error {
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	url := fs.String("url", "", "fake SES URL")
	users := fs.Int("users", 10000, "emails to send")
	conc := fs.Int("concurrency", 256, "concurrent calls")
	bulk := fs.Int("bulk", 0, "recipients per SendBulkEmail call (0: SendEmail)")
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
	step := max(*bulk, 1)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				i := int(next.Add(int64(step)) - int64(step))
				if i >= *users {
					return
				}
				var err error
				if *bulk > 0 {
					err = sendBulk(ctx, cl, i, min(i+step, *users))
				} else {
					_, err = cl.Send(ctx, message(i))
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// sendBulk sends users [from, to) in one SendBulkEmail: the emails of
// message(i) as entries of one call, as the sender builds a batch.
func sendBulk(ctx context.Context, cl *ses.Client, from, to int) error {
	m := ses.BulkMessage{From: fromAddr, Template: templateName, Entries: make([]ses.BulkEntry, 0, to-from)}
	for i := from; i < to; i++ {
		one := message(i)
		m.Entries = append(m.Entries, ses.BulkEntry{To: one.To, TemplateData: one.TemplateData, Headers: one.Headers, Tags: one.Tags})
	}
	res, err := cl.SendBulk(ctx, m)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			return fmt.Errorf("bulk entry %d (user %d): %w", i, from+i, r.Err)
		}
	}
	return nil
}
