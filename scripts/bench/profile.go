package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/ses"
)

type profileResult struct {
	Run     e2eResult
	Profile string
	Top     string // go tool pprof -top
	// Breakdown is the sender's profile split by what the time was spent
	// on (cumulative time of the named roots).
	Breakdown []share
	// Raw is the profiled raw-client run: the SDK's own cost.
	Raw        *rawResult
	RawProfile string
	RawTop     string
}

// share is a part of a profile.
type share struct {
	Name string
	Cum  time.Duration
	Pct  float64
}

// profile runs one end-to-end pass of the batched path (--batch-size 50)
// with a single sender built from the same packages as bin/sender but with
// a CPU profile, and keeps the profile's top functions; then the bare
// SendBulkEmail client, profiled the same way.
func (b *bench) profile(ctx context.Context) error {
	users := b.o.profileUsers
	csv, err := usersCSV(b.o.out, users)
	if err != nil {
		return err
	}
	prof, err := filepath.Abs(filepath.Join(b.o.out, "sender.cpu.pprof"))
	if err != nil {
		return err
	}
	r, err := b.pipeline(ctx, pipelineRun{
		phase: "profile", prefixChar: 'p', users: users, csv: csv, senders: 1, profile: prof,
		senderArgs: append(senderRunArgs(b.o.batchConc, ses.MaxBulkEntries, b.o.maxRate, b.o.partitions), strings.Fields(b.o.senderFlags)...),
	})
	if err != nil {
		return err
	}
	r.Concurrency, r.Batch = b.o.batchConc, ses.MaxBulkEntries
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount", "35", b.self, prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, out)
	}
	cum, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount", "45", b.self, prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof -cum: %v: %s", err, cum)
	}
	top := string(out) + "\n---- by cumulative time ----\n" + string(cum)
	_ = os.WriteFile(filepath.Join(b.o.out, "sender.cpu.top.txt"), []byte(top), 0o644)
	pr := &profileResult{Run: *r, Profile: prof, Top: top}
	pr.Breakdown, err = breakdown(ctx, b.self, prof)
	if err != nil {
		return err
	}
	b.res.Profile = pr
	logf("profile: %s (top in %s)", prof, filepath.Join(b.o.out, "sender.cpu.top.txt"))

	rawProf, err := filepath.Abs(filepath.Join(b.o.out, "raw.cpu.pprof"))
	if err != nil {
		return err
	}
	pr.Raw, err = b.rawRun(ctx, b.o.batchConc, ses.MaxBulkEntries, users, rawProf)
	if err != nil {
		return fmt.Errorf("profiled raw client: %w", err)
	}
	rawTop, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount", "25", b.self, rawProf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, rawTop)
	}
	pr.RawProfile, pr.RawTop = rawProf, string(rawTop)
	_ = os.WriteFile(filepath.Join(b.o.out, "raw.cpu.top.txt"), rawTop, 0o644)
	return nil
}

// profileRoots name the parts of a sender's CPU: the samples whose stack
// has a frame matching the regexp (pprof -focus). Those marked
// (overlapping) overlap the others.
var profileRoots = []struct{ name, focus string }{
	{"SES call (SendBulkEmail, or SendEmail): AWS SDK in the batch's goroutine", `sendonce/pkg/ses\.\(\*Client\)\.(Send|SendBulk)$`},
	{"SES request building (entries, tags, user hash and reference)", `sendonce/pkg/sender\.\(\*Sender\)\.message$`},
	{"SES call: net/http connection goroutines", `net/http\.\(\*persistConn\)\.(readLoop|writeLoop)$`},
	{"fence ClaimBatchWith + ArmBatch + MarkBatch (3 EVALSHA a batch)", `sendonce/pkg/fence\.\(\*Fence\)\.call$`},
	{"rate limiter WaitN (1 EVALSHA a batch)", `sendonce/pkg/ratelimit\.\(\*Limiter\)\.WaitN?$`},
	{"ledger records (one ProduceSync a batch)", `sendonce/pkg/sender\.\(\*Sender\)\.emit`},
	{"job decode", `sendonce/pkg/job\.Decode$`},
	{"Kafka client goroutines (fetch, produce, connections)", `franz-go/pkg/kgo\.\(\*(brokerCxn|source|sink|recBuf|producer|consumer)\)`},
	{"(overlapping) the batch pipeline, every step (claim → produce)", `sendonce/pkg/sender\.\(\*Sender\)\.pipeline$`},
	{"Go scheduler (idle/runnable search)", `^runtime\.(schedule|findRunnable)$`},
	{"Go GC background marking", `^runtime\.gcBgMarkWorker$`},
	{"(overlapping) write(2) syscalls", `^syscall\.write$`},
	{"(overlapping) read(2) syscalls", `^syscall\.read$`},
}

var showingRE = regexp.MustCompile(`Showing nodes accounting for ([0-9.]+[a-zµ]*s|0), [0-9.]+% of ([0-9.]+[a-zµ]*s) total`)

// breakdown measures each profile root with pprof -focus.
func breakdown(ctx context.Context, bin, prof string) ([]share, error) {
	var shares []share
	var total time.Duration
	for _, r := range profileRoots {
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodefraction=0", "-edgefraction=0", "-nodecount=1000000", "-focus="+r.focus, bin, prof).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go tool pprof -focus=%s: %v: %s", r.focus, err, out)
		}
		m := showingRE.FindStringSubmatch(string(out))
		var sum time.Duration
		if m != nil {
			sum, _ = time.ParseDuration(m[1])
			total, _ = time.ParseDuration(m[2])
		}
		shares = append(shares, share{Name: r.name, Cum: sum})
	}
	for i := range shares {
		if total > 0 {
			shares[i].Pct = 100 * float64(shares[i].Cum) / float64(total)
		}
	}
	return append(shares, share{Name: "all samples", Cum: total, Pct: 100}), nil
}

// topLines returns the first n lines of a pprof -top listing after its
// header.
func topLines(top string, n int) string {
	lines := strings.Split(top, "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			end := min(len(lines), i+1+n)
			return strings.Join(lines[i:end], "\n")
		}
	}
	return top
}
