// Command bench measures sendonce on this machine against the real Kafka
// and Redis of scripts/services.sh and an in-process fake SES (pkg/sesfake):
// publish throughput, end-to-end throughput and cost per email, the
// sequential and raw-client baselines, rate-limit precision, and the Go
// micro-benchmarks of the hot path. It prints one summary table and writes
// it, with the machine's description, into docs/BENCHMARKS.md (between the
// generated-results markers).
//
//	make bench                          # everything, ~6-8 minutes
//	make bench BENCH_FLAGS="--quick"    # a smaller run in ~2 minutes
//
// Every phase uses a fresh topic prefix and deletes its topics and Redis
// keys afterwards. See docs/BENCHMARKS.md for what each number means.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick        bool
	usersPublish int
	usersE2E     int
	senders      string
	batchSizes   string
	concurrency  int
	batchConc    int
	rawBulkConc  int
	senderFlags  string
	maxRate      float64
	latency      time.Duration
	partitions   int
	seqUsers     int
	rawUsers     int
	rateCap      float64
	rateJobs     int
	rateSenders  int
	rateTol      float64
	profileUsers int
	memoryUsers  int
	microCount   int
	microTime    string

	athenaRows       int
	athenaAPIRows    int
	athenaAPILatency time.Duration
	athenaParallel   int
	athenaMemLimit   string
	skipAthena       bool

	skipPublish, skipE2E, skipBaselines, skipRate, skipMicro, skipProfile, skipMemory bool

	gogc       string
	gomemlimit string
	// sharedRedis: the phases use REDIS_URL itself instead of a private
	// redis-server of the bench's own.
	sharedRedis bool

	bin string
	// servicesRoot is the checkout whose scripts/services.sh runs the
	// shared services (its .cache holds their pid files and Kafka's jars).
	servicesRoot string
	commit       string
	out          string
	doc          string
	keep         bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "a small run (~2 min): fewer users, one sender count, short micro-benchmarks, no profile, no doc update")
	fs.IntVar(&o.usersPublish, "users-publish", 1_000_000, "users in the publish benchmark")
	fs.IntVar(&o.usersE2E, "users-e2e", 200_000, "users in each end-to-end run")
	fs.StringVar(&o.senders, "senders", "2", "comma-separated sender process counts, one end-to-end run each (per batch size)")
	fs.StringVar(&o.batchSizes, "batch-sizes", "50,1", "comma-separated --batch-size values, one end-to-end run each (per sender count): 50 is the batched path, 1 the per-user SendEmail path")
	fs.IntVar(&o.concurrency, "concurrency", 256, "--concurrency (SES calls in flight) of each sender on the batch-size-1 path; the bare SendEmail client runs at senders × this")
	fs.IntVar(&o.batchConc, "batch-concurrency", 64, "--concurrency of each sender on a batched path (each call carries up to --batch-size recipients; 64 is the sender's default)")
	fs.StringVar(&o.senderFlags, "sender-flags", "", "more flags of every end-to-end and profiled sender, space-separated, e.g. \"--fence-buckets 512\"")
	fs.IntVar(&o.rawBulkConc, "raw-bulk-concurrency", 0, "calls in flight of the bare SendBulkEmail client (0: the largest sender count × --batch-concurrency)")
	fs.Float64Var(&o.maxRate, "max-send-rate", 100_000, "--max-send-rate of the end-to-end runs (high: the limiter is not the cap)")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "latency of the fake SES's SendEmail answer")
	fs.IntVar(&o.partitions, "partitions", 12, "partitions of the jobs topic")
	fs.IntVar(&o.seqUsers, "seq-users", 1000, "users of the sequential-loop baseline (its rate is extrapolated)")
	fs.IntVar(&o.rawUsers, "raw-users", 100_000, "sends of each raw-client baseline")
	fs.Float64Var(&o.rateCap, "rate-cap", 500, "--max-send-rate shared by the senders of the rate-precision run")
	fs.IntVar(&o.rateJobs, "rate-jobs", 20_000, "jobs of the rate-precision run")
	fs.IntVar(&o.rateSenders, "rate-senders", 4, "sender processes of the rate-precision run")
	fs.Float64Var(&o.rateTol, "rate-tolerance", 0.05, "the fake SES throttles a send that would put more than cap×(1+this) into the trailing second")
	fs.IntVar(&o.profileUsers, "profile-users", 100_000, "users of the profiled single-sender run")
	fs.IntVar(&o.memoryUsers, "memory-users", 200_000, "sent users written to a private Redis to measure the fence's memory per user")
	fs.IntVar(&o.microCount, "micro-count", 5, "-count of the Go micro-benchmarks")
	fs.StringVar(&o.microTime, "micro-benchtime", "1s", "-benchtime of the Go micro-benchmarks")
	fs.IntVar(&o.athenaRows, "athena-rows", 10_000_000, "rows of the Athena result published from S3 (gofakes3)")
	fs.IntVar(&o.athenaAPIRows, "athena-api-rows", 100_000, "rows published through GetQueryResults for comparison (extrapolated to --athena-rows); 0: skip")
	fs.DurationVar(&o.athenaAPILatency, "athena-api-latency", 100*time.Millisecond, "latency the fake Athena adds to each GetQueryResults call (real ones take 100-300 ms)")
	fs.IntVar(&o.athenaParallel, "athena-s3-parallel", 1, "--athena-s3-parallel of the S3 run")
	fs.StringVar(&o.athenaMemLimit, "athena-gomemlimit", "230MiB", "GOMEMLIMIT of the producer in the Athena runs, as deploy sets it for a 256 MiB container (empty: none)")
	fs.BoolVar(&o.skipAthena, "skip-athena", false, "skip the Athena-from-S3 publish")
	fs.BoolVar(&o.skipPublish, "skip-publish", false, "skip the 1M publish")
	fs.BoolVar(&o.skipE2E, "skip-e2e", false, "skip the end-to-end runs")
	fs.BoolVar(&o.skipBaselines, "skip-baselines", false, "skip the sequential and raw-client baselines")
	fs.BoolVar(&o.skipRate, "skip-rate", false, "skip the rate-precision run")
	fs.BoolVar(&o.skipMicro, "skip-micro", false, "skip the Go micro-benchmarks")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the fence memory measurement on a private Redis")
	fs.BoolVar(&o.skipProfile, "skip-profile", false, "skip the profiled sender run")
	fs.StringVar(&o.gogc, "gogc", "", "GOGC of every sendonce process and raw client (empty: Go's default, 100)")
	fs.StringVar(&o.gomemlimit, "gomemlimit", "", "GOMEMLIMIT of every sendonce process and raw client, e.g. 200MiB (empty: none)")
	fs.BoolVar(&o.sharedRedis, "shared-redis", false, "run the phases on REDIS_URL itself (shared with tests: its CPU then includes theirs) instead of a private redis-server started like scripts/services.sh's (AOF on, no RDB)")
	fs.StringVar(&o.bin, "bin", "bin", "directory of the producer, sender and retrier binaries (make build)")
	fs.StringVar(&o.servicesRoot, "services-root", "", "checkout whose scripts/services.sh runs the services, for their pid files and versions (empty: this directory; set it when benchmarking a clean export or worktree)")
	fs.StringVar(&o.commit, "commit", "", "what the binaries were built from, for the report (empty: git HEAD of this directory, marked when it has uncommitted Go changes)")
	fs.StringVar(&o.out, "out", ".cache/bench", "directory of the CSVs, logs, profiles and results")
	fs.StringVar(&o.doc, "doc", "docs/BENCHMARKS.md", "document whose generated-results section is rewritten (empty: none; --quick: none unless given)")
	fs.BoolVar(&o.keep, "keep", false, "keep each phase's topics and Redis keys")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("users-publish", func() { o.usersPublish = 200_000 })
		def("users-e2e", func() { o.usersE2E = 40_000 })
		def("senders", func() { o.senders = "1" })
		def("seq-users", func() { o.seqUsers = 200 })
		def("raw-users", func() { o.rawUsers = 40_000 })
		def("rate-jobs", func() { o.rateJobs = 5_000 })
		def("memory-users", func() { o.memoryUsers = 20_000 })
		def("micro-count", func() { o.microCount = 1 })
		def("athena-rows", func() { o.athenaRows = 1_000_000 })
		def("athena-api-rows", func() { o.athenaAPIRows = 20_000 })
		def("micro-benchtime", func() { o.microTime = "200ms" })
		def("skip-profile", func() { o.skipProfile = true })
		def("doc", func() { o.doc = "" })
	}
	if _, err := o.senderCounts(); err != nil {
		return o, err
	}
	if _, err := o.batchList(); err != nil {
		return o, err
	}
	return o, nil
}

// batchList is --batch-sizes.
func (o options) batchList() ([]int, error) {
	var out []int
	for _, s := range strings.Split(o.batchSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 50 {
			return nil, fmt.Errorf("--batch-sizes: want sizes within 1..50 like 50,1 (got %q)", o.batchSizes)
		}
		out = append(out, n)
	}
	return out, nil
}

// concurrencyFor is the senders' --concurrency on the path of batch size n.
func (o options) concurrencyFor(batch int) int {
	if batch > 1 {
		return o.batchConc
	}
	return o.concurrency
}

func (o options) senderCounts() ([]int, error) {
	var out []int
	for _, s := range strings.Split(o.senders, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--senders: want counts like 1,2 (got %q)", o.senders)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "raw": // a worker role: the raw-client baseline in its own process
			if err := rawMain(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "bench raw:", err)
				os.Exit(1)
			}
			return
		case "profiled-sender": // a worker role: bin/sender's wiring with a CPU profile
			if err := profiledSenderMain(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "bench profiled-sender:", err)
				os.Exit(1)
			}
			return
		}
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	for _, b := range []string{"producer", "sender", "retrier"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return fmt.Errorf("%s/%s is missing: run make build (or make bench)", o.bin, b)
		}
	}
	brokers, redisURL := os.Getenv("KAFKA_BROKERS"), os.Getenv("REDIS_URL")
	if brokers == "" || redisURL == "" {
		return errors.New(`KAFKA_BROKERS and REDIS_URL must be set: eval "$(scripts/services.sh env)" (make bench does it)`)
	}
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	if err := os.MkdirAll(filepath.Join(o.out, "logs"), 0o755); err != nil {
		return err
	}
	redisNote := "shared (REDIS_URL)"
	if !o.sharedRedis {
		pr, err := startPrivateRedis(ctx, filepath.Join(o.out, "redis"), filepath.Join(o.out, "logs", "redis.log"))
		if err != nil {
			return err
		}
		defer pr.stop()
		redisURL, redisNote = pr.url, "private redis-server "+pr.addr+" (AOF everysec, like scripts/services.sh)"
	}
	svcRoot := root
	if o.servicesRoot != "" {
		svcRoot = o.servicesRoot
	}
	in, err := newInfra(svcRoot, brokers, redisURL)
	if err != nil {
		return err
	}
	defer in.close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{o: o, in: in, root: root, self: self, runID: time.Now().Format("0102-150405"), tag: randomTag(), started: time.Now()}
	b.res.Machine = describeMachine(ctx, in, root, svcRoot)
	b.res.Machine.RedisUse = redisNote
	if o.commit != "" {
		b.res.Machine.Commit = o.commit
	}
	logf("run %s: %s; logs in %s/logs", b.runID, b.res.Machine.oneLine(), o.out)
	return b.all(ctx)
}

func randomTag() string {
	var p [2]byte
	_, _ = rand.Read(p[:])
	return hex.EncodeToString(p[:])
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
