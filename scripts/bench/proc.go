package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is what one finished child process cost.
type usage struct {
	CPU    time.Duration // user + system
	User   time.Duration
	Sys    time.Duration
	MaxRSS int64 // bytes (getrusage ru_maxrss, the peak resident set)
	Wall   time.Duration
}

// proc is one child process of the bench (a sendonce binary, or the bench
// itself in a worker role).
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	log     string
	done    chan struct{}
	err     error
	use     usage
	metrics string // host:port of its /metrics, if any
}

// startProc starts bin with args and env (added to the bench's own
// environment); its stdout and stderr go to logPath.
func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.use = rusageOf(cmd.ProcessState, time.Since(p.started))
		_ = lf.Close()
		close(p.done)
	}()
	return p, nil
}

func rusageOf(ps *os.ProcessState, wall time.Duration) usage {
	u := usage{Wall: wall}
	if ps == nil {
		return u
	}
	u.User, u.Sys = ps.UserTime(), ps.SystemTime()
	u.CPU = u.User + u.Sys
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	return u
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return p.result()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s after SIGTERM (killed); see %s", p.name, timeout, p.log)
	}
	return p.result()
}

// wait waits for the process to exit by itself.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.result()
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: %w (killed); see %s", p.name, ctx.Err(), p.log)
	}
}

func (p *proc) result() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w; last lines of %s:\n%s", p.name, p.err, p.log, tail(p.log, 15))
	}
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitUp polls the process's /healthz until it answers 200 (its metrics
// server is up: it created its topics and started).
func waitUp(ctx context.Context, p *proc) error { return waitPath(ctx, p, "/healthz") }

// waitPath polls http://<metrics addr><path> until it answers 200.
func waitPath(ctx context.Context, p *proc, path string) error {
	cl := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.result())
		}
		resp, err := cl.Get("http://" + p.metrics + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no answer on %s: %w; see %s", p.name, path, ctx.Err(), p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// scrape reads the sample values of one metric family from /metrics, by
// their label text ("outcome=\"sent\"" ...).
func scrape(addr, family string) (map[string]float64, error) {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, family) {
			continue
		}
		rest := line[len(family):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another family with this prefix
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		out[labels] += v
	}
	return out, sc.Err()
}

// procCPU is the CPU time (user+system) a running process has used so far,
// from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may contain spaces
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// fields after ')': state(0) ... utime(11) stime(12)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat times")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// machineBusy returns the busy and total CPU time of the whole machine so
// far, from /proc/stat, to show how much else was running.
func machineBusy() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var sum, idle int64
	for i, x := range f[1:] {
		v, _ := strconv.ParseInt(x, 10, 64)
		if i >= 8 { // guest times are already in user
			break
		}
		sum += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick
}

// selfCPU is the bench process's own CPU so far (the fake SES and the
// in-process clients run here).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// servicePID finds the pid of Kafka or Redis: the pid file scripts/services.sh
// writes, checked against the command line, else a scan of /proc.
func servicePID(root, pidFile, match string) int {
	if b, err := os.ReadFile(filepath.Join(root, pidFile)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && cmdlineHas(pid, match) {
			return pid
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && cmdlineHas(pid, match) {
			return pid
		}
	}
	return 0
}

func cmdlineHas(pid int, match string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), match)
}
