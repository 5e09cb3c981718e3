package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The private services of one run: the test stops and restarts them, which
// it must never do to the shared ones of scripts/services.sh. They run from
// what services.sh provisions (the broker jars in .cache/kafka/libs,
// redis-server, the emulator in scripts/ses/node_modules).

// broker is a private single-node KRaft Kafka broker, configured like the
// one scripts/services.sh starts, on free ports with its own data folder.
type broker struct {
	ps         *procs
	root, dir  string
	port, ctrl int
	props      string
	p          *proc
}

func (b *broker) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

func (b *broker) java() []string {
	return []string{
		"-Dlog4j2.configurationFile=" + filepath.Join(b.root, "scripts/kafka/log4j2.properties"),
		"-Dkafka.logs.dir=" + filepath.Join(b.dir, "logs"),
		"-Djava.awt.headless=true",
	}
}

func (b *broker) classpath() string { return filepath.Join(b.root, ".cache/kafka/libs/*") }

// startBroker writes server.properties, formats the storage and starts the
// broker, waiting until it answers metadata requests.
func startBroker(t testing.TB, ps *procs, root, dir string) *broker {
	t.Helper()
	libs, _ := filepath.Glob(filepath.Join(root, ".cache/kafka/libs/kafka_2.13-*.jar"))
	if len(libs) == 0 {
		t.Fatalf("the Kafka broker jars are missing from .cache/kafka/libs: run scripts/services.sh up (it downloads them)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("java is not installed: run scripts/services.sh up (it installs openjdk-17-jre-headless): %v", err)
	}
	b := &broker{ps: ps, root: root, dir: dir, port: freePort(t), ctrl: freePort(t)}
	for _, d := range []string{filepath.Join(dir, "data"), filepath.Join(dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.props = filepath.Join(dir, "server.properties")
	tmpl, err := os.ReadFile(filepath.Join(root, "scripts/kafka/server.properties.in"))
	if err != nil {
		t.Fatal(err)
	}
	props := strings.NewReplacer("@BROKER_PORT@", strconv.Itoa(b.port), "@CONTROLLER_PORT@", strconv.Itoa(b.ctrl),
		"@LOG_DIRS@", filepath.Join(dir, "data")).Replace(string(tmpl))
	if err := os.WriteFile(b.props, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	// --cluster-id=ID in one argument: an id may start with '-' (base64url),
	// which the tool would take for an option (about one run in 64).
	args := append(b.java(), "-cp", b.classpath(), "kafka.tools.StorageTool", "format", "--standalone",
		"--cluster-id="+base64.RawURLEncoding.EncodeToString(id), "-c", b.props)
	if out, err := exec.Command("java", args...).CombinedOutput(); err != nil {
		t.Fatalf("formatting the private broker's storage: %v\n%s", err, out)
	}
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	return b
}

// start starts the broker on its data folder and waits for metadata.
func (b *broker) start() error {
	args := append(b.java(), "-Xmx512m", "-Xms512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:+ExitOnOutOfMemoryError", "-cp", b.classpath(), "kafka.Kafka", b.props)
	javaBin, err := exec.LookPath("java")
	if err != nil {
		return err
	}
	p, err := b.ps.start(b.dir, "kafka", os.Environ(), nil, javaBin, args...)
	if err != nil {
		return err
	}
	b.p = p
	deadline := time.Now().Add(120 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("the private broker exited (%s):\n%s\n%s", p.status(), tail(p.log, 20), tail(filepath.Join(b.dir, "logs/server.log"), 20))
		}
		if last = probeBroker(b.addr(), 3*time.Second); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the private broker on %s gave no metadata within 120s: %v", b.addr(), last)
}

// stop signals the broker and waits for it to exit.
func (b *broker) stop(sig syscall.Signal) error {
	return b.p.stop(sig, 90*time.Second)
}

// probeBroker is the check of scripts/waitkafka: a fresh client, one
// metadata request, at least one broker listed.
func probeBroker(addr string, try time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(try), kgo.RequestRetries(0), kgo.RetryTimeout(try))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), try)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("no broker listed")
	}
	return nil
}

// redisServer is a private redis-server with AOF that the test can stop
// with either signal. (testenv.PrivateRedis only knows SIGKILL and the
// default fsync policy; this one takes both as parameters.)
type redisServer struct {
	ps     *procs
	dir    string
	port   int
	fsync  string
	p      *proc
	client *redis.Client
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

func startRedis(t testing.TB, ps *procs, dir, fsync string) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: run scripts/services.sh up (it installs Debian's redis-server): %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{ps: ps, dir: dir, port: freePort(t), fsync: fsync}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { r.client.Close() })
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// start starts redis-server on its port and folder (loading the AOF) and
// waits for PONG.
func (r *redisServer) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return err
	}
	p, err := r.ps.start(r.dir, "redis", os.Environ(), nil, bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--appendonly", "yes",
		"--appendfsync", r.fsync, "--dir", r.dir, "--save", "", "--logfile", filepath.Join(r.dir, "redis.log"))
	if err != nil {
		return err
	}
	r.p = p
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("the private redis-server exited (%s):\n%s", p.status(), tail(filepath.Join(r.dir, "redis.log"), 20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = r.client.Ping(ctx).Err()
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the private redis-server on %s gave no PONG within 60s: %v", r.addr(), last)
}

func (r *redisServer) stop(sig syscall.Signal) error { return r.p.stop(sig, 60*time.Second) }

// keys counts the keys of the private Redis (fence records, limiter state).
func (r *redisServer) keys(ctx context.Context) (int64, error) { return r.client.DBSize(ctx).Result() }

// emulator is a private aws-ses-v2-local: its in-memory store holds only
// this run's emails, and no other test can clear it under the run.
type emulator struct {
	port int
	p    *proc
}

func (e *emulator) url() string { return "http://127.0.0.1:" + strconv.Itoa(e.port) }

// sesAccount is what GetAccount answers (services.sh sets the same).
const sesAccount = `{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"sendonce-chaos","Status":"GRANTED"},"UseCaseDescription":"sendonce chaos test","WebsiteURL":"https://example.com"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":100000000,"MaxSendRate":2000,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":[]}}`

func startEmulator(t testing.TB, ps *procs, root, dir string) *emulator {
	t.Helper()
	cli := filepath.Join(root, "scripts/ses/node_modules/aws-ses-v2-local/dist/cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("the SES emulator is not installed (%v): run scripts/services.sh up (it runs npm ci in scripts/ses)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (Node.js >= 20 is needed for the SES emulator): %v", err)
	}
	e := &emulator{port: freePort(t)}
	env := append(os.Environ(), "AWS_SES_ACCOUNT="+sesAccount, "SMTP_TRANSPORT=")
	p, err := ps.start(dir, "ses", env, nil, node, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(e.port))
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("the private SES emulator exited (%s):\n%s", p.status(), tail(p.log, 20))
		}
		resp, err := http.Get(e.url() + "/health-check")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private SES emulator gave no health-check within 60s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// motoServer is a private moto_server (SNS and SQS) for the SES events of
// one run. The shared moto of scripts/services.sh is one Python process
// for every test of the machine: under the runs' events it fell behind for
// tens of seconds at a time (publishes and deletes timing out at 10 s), so
// each run with events gets its own, from the same virtualenv.
type motoServer struct {
	port int
	p    *proc
}

func (m *motoServer) url() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

func startMoto(t testing.TB, ps *procs, root, dir string) *motoServer {
	t.Helper()
	bin := filepath.Join(root, ".cache/moto/venv/bin/moto_server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("moto is not installed (%v): run scripts/services.sh up (it installs moto[server] in .cache/moto/venv)", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &motoServer{port: freePort(t)}
	p, err := ps.start(dir, "moto", os.Environ(), nil, bin, "-H", "127.0.0.1", "-p", strconv.Itoa(m.port))
	if err != nil {
		t.Fatal(err)
	}
	m.p = p
	// Readiness as scripts/services.sh checks it: /moto-api/config is
	// static (data.json dumps every model).
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if p.exited() {
			t.Fatalf("the private moto_server exited (%s):\n%s", p.status(), tail(p.log, 20))
		}
		resp, err := hc.Get(m.url() + "/moto-api/config")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 { // moto 5 answers 201
				return m
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private moto_server gave no /moto-api/config within 60s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
