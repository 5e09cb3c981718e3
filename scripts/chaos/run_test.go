package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesfault"
)

// run is one campaign under one mode: its private services, its processes
// and what happened to them.
type run struct {
	t    *testing.T
	m    mode
	root string
	bins binaries
	dir  string
	ps   *procs

	broker *broker
	redis  *redisServer
	ses    *emulator
	proxy  *sesfault.Proxy
	adm    *kadm.Client
	ev     *events // nil unless the mode has SES events

	keyFile   string // --user-hash-key-file of senders and reconciler
	configSet string // the campaign's SES configuration set

	logs     string // the folder of the processes' logs
	data     *dataset
	prefix   string
	campaign string
	template string
	csvPath  string

	start     time.Time
	mu        sync.Mutex
	senders   [numSenders]*proc
	retrier   *proc
	reconcile *proc          // nil unless the mode has SES events
	restarts  map[string]int // "sender SIGKILL" → count
	// planned and fired are the one-shot faults of the schedule and those
	// that were carried out.
	planned, fired []string
	// republished is how many new users the second file of the campaign
	// brought (see republish).
	republished int
	events      []string
	crashes     []string // processes that exited without being told to
	// startFails are services that exited while starting (and were
	// started again, as Kubernetes would).
	startFails []string
}

func newRun(t *testing.T, root string, bins binaries, m mode, users int) *run {
	dir, err := os.MkdirTemp("", "sendonce-chaos-"+m.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	r := &run{
		t: t, m: m, root: root, bins: bins, dir: dir, ps: &procs{},
		prefix:    "chaos-" + m.name + "-" + tag,
		campaign:  "chaos-" + m.name + "-" + tag,
		template:  "chaos-usage",
		configSet: "chaos-" + m.name + "-" + tag,
		restarts:  map[string]int{},
	}
	t.Cleanup(func() {
		r.ps.killAll()
		if t.Failed() || os.Getenv("SENDONCE_CHAOS_KEEP") != "" {
			t.Logf("run folder kept for inspection: %s (logs of every process, data of the private services)", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	r.data = newDataset(users, m.name+"-"+tag+".chaos.test", uint64(m.seed)*7919+uint64(users))
	return r
}

func (r *run) logf(format string, args ...any) {
	msg := fmt.Sprintf("%6.1fs  ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.events = append(r.events, msg)
	r.mu.Unlock()
	r.t.Log(msg)
}

func (r *run) sub(name string) string {
	d := filepath.Join(r.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// setup starts the private services and the proxy, and writes the data.
func (r *run) setup() {
	t := r.t
	r.start = time.Now()
	r.logs = r.sub("logs")
	r.ses = startEmulator(t, r.ps, r.root, r.sub("ses"))
	r.redis = startRedis(t, r.ps, r.sub("redis"), redisFsync)
	r.broker = startBroker(t, r.ps, r.root, r.sub("kafka"))
	r.logf("private services up: kafka %s, redis %s (appendfsync %s), ses %s", r.broker.addr(), r.redis.addr(), redisFsync, r.ses.url())

	r.keyFile = r.userKeyFile()
	cfg := r.m.faults(r.ses.url())
	if r.m.events {
		r.setupEvents()
		cfg.Events = r.ev.pub
	}
	proxy, err := sesfault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = proxy
	t.Cleanup(func() { _ = proxy.Close() })

	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r.adm = kadm.NewClient(cl)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mailer, err := ses.New(ctx, ses.Config{}, nil, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(r.ses.url()) })
	if err != nil {
		t.Fatal(err)
	}
	if err := mailer.CreateTemplate(ctx, r.template, "Your usage, {{name}}", "<p>{{name}}: {{kwh}} kWh</p>", "{{name}}: {{kwh}} kWh"); err != nil {
		t.Fatalf("creating the template on the emulator: %v", err)
	}

	r.csvPath = filepath.Join(r.dir, "users.csv")
	if err := os.WriteFile(r.csvPath, r.data.csv, 0o644); err != nil {
		t.Fatal(err)
	}
}

// env is the environment of every command of the run.
func (r *run) env(kv ...string) []string {
	return environ(append([]string{
		"KAFKA_BROKERS=" + r.broker.addr(),
		"REDIS_URL=" + r.redis.url(),
		"SENDONCE_TOPIC_PREFIX=" + r.prefix,
		"SENDONCE_LOG_FORMAT=json",
		"AWS_ENDPOINT_URL_SESV2=" + r.proxy.URL(),
	}, kv...)...)
}

// startSender starts sender slot i and waits until it is ready. It may
// run outside the test's goroutine.
func (r *run) startSender(i int) error {
	port, err := pickPort()
	if err != nil {
		return err
	}
	args := []string{"run",
		"--batch-size", strconv.Itoa(r.m.batch),
		"--user-hash-key-file", r.keyFile,
		"--max-send-rate", strconv.Itoa(sendRate),
		"--concurrency", strconv.Itoa(concurrency),
		"--fence-lease", fenceLease.String(),
		"--ses-timeout", sesTimeout.String(),
		"--retry-tiers", retryTiers,
		"--max-attempts", strconv.Itoa(maxAttempts),
		"--drain-timeout", drainTimeout.String(),
		"--partitions", strconv.Itoa(partitions),
		"--on-ambiguous", "hold",
	}
	if r.m.events {
		args = append(args, "--resolve-after", resolveAfter.String(), "--require-configuration-set")
	}
	p, err := r.ps.start(r.logs, "sender-"+strconv.Itoa(i), r.env("METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port)), nil, r.bins.sender, args...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.senders[i] = p
	r.mu.Unlock()
	return r.waitReady(p, port)
}

func (r *run) startRetrier() error {
	port, err := pickPort()
	if err != nil {
		return err
	}
	p, err := r.ps.start(r.logs, "retrier", r.env("METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port)), nil,
		r.bins.retrier, "run",
		"--retry-tiers", retryTiers,
		"--max-attempts", strconv.Itoa(maxAttempts),
		"--drain-timeout", drainTimeout.String(),
		"--partitions", strconv.Itoa(partitions),
	)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.retrier = p
	r.mu.Unlock()
	return r.waitReady(p, port)
}

// waitReady waits for the service's /readyz, as a Kubernetes readiness
// probe would, failing if the process exits first.
func (r *run) waitReady(p *proc, port int) error {
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/readyz"
	deadline := time.Now().Add(90 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if p.exited() {
			return fmt.Errorf("%s exited while starting (%s):\n%s", p.name, p.status(), tail(p.log, 30))
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s within 90s (last: %v):\n%s", p.name, url, err, tail(p.log, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart stops a service with the mode's signal and starts it again. It
// may run outside the test's goroutine: it reports with Errorf.
func (r *run) restart(kind string, p *proc, again func() error) error {
	if err := p.stop(r.m.sig, r.stopTimeout()); err != nil {
		r.t.Errorf("stopping %s with %s: %v", p.name, r.m.sig, err)
	}
	r.mu.Lock()
	r.restarts[kind+" "+sigName(r.m.sig)]++
	r.mu.Unlock()
	r.logf("%s %s (pid %d): %s", sigName(r.m.sig), p.name, p.cmd.Process.Pid, p.status())
	if err := r.keepStarting(p.name, again); err != nil {
		r.t.Errorf("restarting %s: %v", p.name, err)
		return err
	}
	return nil
}

// keepStarting calls start until it succeeds, at most 60 times a second
// apart, as Kubernetes restarts a container that exits while starting (with
// a shorter back-off). Each failure is recorded for the report.
func (r *run) keepStarting(name string, start func() error) error {
	var err error
	for range 60 {
		if err = start(); err == nil {
			return nil
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		r.mu.Lock()
		r.startFails = append(r.startFails, err.Error())
		r.mu.Unlock()
		r.logf("START FAILED %s: %s", name, first)
		time.Sleep(time.Second)
	}
	return err
}

// stopTimeout is how long a service may take to stop: SIGTERM drains for
// up to --drain-timeout, then closes its clients.
func (r *run) stopTimeout() time.Duration {
	if r.m.sig == syscall.SIGKILL {
		return 10 * time.Second
	}
	return drainTimeout + 20*time.Second
}

func sigName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// published is the number of records on the jobs topic.
func (r *run) published(ctx context.Context) int64 {
	ends, err := r.adm.ListEndOffsets(ctx, kafka.Topics{Prefix: r.prefix}.Jobs())
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// publish runs `producer publish` on the users of the run: first from a
// FIFO that the test fills slowly, stopped with the mode's signal once 40%
// of the users are on the jobs topic; then again from the whole file, to
// completion. It returns the second run, still going.
func (r *run) publish() (rerun *proc, out *bytes.Buffer) {
	t := r.t
	fifo := filepath.Join(r.dir, "users.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(src string, extra ...string) []string {
		return append([]string{"publish", "--campaign", r.campaign, "--source", "csv:" + src,
			"--template", r.template, "--from", "reports@" + r.data.domain, "--configuration-set", r.configSet,
			"--partitions", strconv.Itoa(partitions), "--retry-tiers", retryTiers}, extra...)
	}
	var first bytes.Buffer
	p, err := r.ps.start(r.logs, "producer", r.env(), &first, r.bins.producer, args(fifo)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	dripped := make(chan error, 1)
	go func() { dripped <- drip(fifo, r.data.csv, 8*time.Second, stop) }()

	want := int64(float64(len(r.data.valid)) * 0.4)
	deadline := time.Now().Add(60 * time.Second)
	for r.published(context.Background()) < want {
		if p.exited() {
			t.Fatalf("the producer exited before it was stopped (%s):\n%s\n%s", p.status(), first.String(), tail(p.log, 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the producer did not publish %d jobs within 60s of reading them:\n%s", want, tail(p.log, 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.stop(r.m.sig, 90*time.Second); err != nil {
		t.Fatalf("stopping the producer with %s: %v\n%s", r.m.sig, err, tail(p.log, 30))
	}
	close(stop)
	<-dripped
	r.mu.Lock()
	r.restarts["producer "+sigName(r.m.sig)]++
	r.mu.Unlock()
	r.logf("%s producer mid-publish at %d jobs on the topic: %s; summary: %s", sigName(r.m.sig), r.published(context.Background()), p.status(), oneLine(first.String()))
	if p.exitCode() == 0 {
		t.Errorf("the interrupted producer exited 0, but it had not published every valid row:\n%s", first.String())
	}

	out = &bytes.Buffer{}
	rerun, err = r.ps.start(r.logs, "producer", r.env(), out, r.bins.producer,
		args(r.csvPath, "--rejects-file", filepath.Join(r.dir, "rejects.jsonl"))...)
	if err != nil {
		t.Fatal(err)
	}
	r.logf("producer rerun started on the whole file")
	return rerun, out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// drip writes data into the FIFO at path over about d, as a slow source
// would deliver it, until done or stop. A reader that goes away ends it.
func drip(path string, data []byte, d time.Duration, stop <-chan struct{}) error {
	var f *os.File
	for f == nil {
		// Non-blocking open fails (ENXIO) until the producer opens its end.
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			select {
			case <-stop:
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	const steps = 400
	chunk := max(1, len(data)/steps)
	tick := time.NewTicker(d / steps)
	defer tick.Stop()
	for off := 0; off < len(data); off += chunk {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			return err
		}
	}
	return nil
}
