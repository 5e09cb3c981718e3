package chaos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one OS process started by the test: a service of the system under
// test or one of the private services. Its stdout and stderr go to a log
// file of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's error, valid after done
}

// procs keeps every process started by a run so that the run's cleanup can
// kill what is still alive, by its own pid.
type procs struct {
	mu     sync.Mutex
	all    []*proc
	n      map[string]int
	closed bool // killAll has begun: start no more
}

// start runs bin with args and env in dir. The log file is
// <logDir>/<name>.<n>.log, n counting the incarnations of name.
func (ps *procs) start(logDir, name string, env []string, stdout *bytes.Buffer, bin string, args ...string) (*proc, error) {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil, fmt.Errorf("not starting %s: the run is over", name)
	}
	if ps.n == nil {
		ps.n = map[string]int{}
	}
	n := ps.n[name]
	ps.n[name]++
	ps.mu.Unlock()
	logPath := filepath.Join(logDir, fmt.Sprintf("%s.%d.log", name, n))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = f
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = f
	}
	// Its own process group: a ^C on the terminal goes to the test, whose
	// cleanup stops everything, not straight to the services.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, nil
}

// killAll kills every process that is still running and waits for it.
func (ps *procs) killAll() {
	ps.mu.Lock()
	ps.closed = true
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	for _, p := range all {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range all {
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to timeout for the process to exit. A
// process that outstays it gets SIGQUIT (a Go program prints every
// goroutine's stack to its log and exits), then SIGKILL.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had already exited: %s", p.name, p.status())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	err := p.wait(timeout)
	if err == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	if p.wait(5*time.Second) != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return fmt.Errorf("%w after %s; SIGQUIT sent, stacks in %s", err, sig, p.log)
}

// wait waits up to timeout for the process to exit.
func (p *proc) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s (pid %d) did not exit within %s", p.name, p.cmd.Process.Pid, timeout)
	}
}

// status describes how the process ended ("exit 0", "signal: killed").
func (p *proc) status() string {
	if !p.exited() {
		return "running"
	}
	if p.err == nil {
		return "exit 0"
	}
	return p.err.Error()
}

// exitCode is the exit status, or -1 if it died of a signal.
func (p *proc) exitCode() int {
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := pickPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// pickPort is freePort for goroutines other than the test's.
func pickPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// binaries are the three commands, built from the current code.
type binaries struct{ producer, sender, retrier string }

// build compiles producer, sender and retrier into a temporary folder of
// the test, so that the test always runs the code of the tree.
func build(t testing.TB, root string) binaries {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./producer", "./sender", "./retrier")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./producer ./sender ./retrier: %v\n%s", err, out)
	}
	return binaries{
		producer: filepath.Join(dir, "producer"),
		sender:   filepath.Join(dir, "sender"),
		retrier:  filepath.Join(dir, "retrier"),
	}
}

// requireFlags fails the test unless `bin cmd --help` lists every flag: a
// service started with a flag it does not know exits with a usage error
// that only its log shows, run after run.
func requireFlags(t testing.TB, bin, cmd string, flags ...string) {
	t.Helper()
	out, _ := exec.Command(bin, cmd, "--help").CombinedOutput()
	var missing []string
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^\s*--?` + regexp.QuoteMeta(f) + `(\s|$)`).Match(out) {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s %s has no %s, which the fault test runs it with (is the tree up to date?):\n%s",
			filepath.Base(bin), cmd, strings.Join(missing, ", "), out)
	}
}

// environ is the test's environment without any SENDONCE_* or service
// variable, plus kv: each process gets exactly the configuration the test
// means it to have.
func environ(kv ...string) []string {
	drop := map[string]bool{"KAFKA_BROKERS": true, "REDIS_URL": true, "METRICS_ADDR": true, "AWS_ENDPOINT_URL_SESV2": true, "AWS_ENDPOINT_URL": true,
		"AWS_ENDPOINT_URL_SQS": true, "AWS_ENDPOINT_URL_SNS": true}
	var out []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if drop[k] || strings.HasPrefix(k, "SENDONCE_") {
			continue
		}
		out = append(out, e)
	}
	return append(out, kv...)
}
