package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The schedule of process faults. One-shot faults fire when the campaign
// has reached a share of its sends (measured at the proxy) or, if it is
// slower than that, when the same share of the chaos window has passed, so
// that each one lands while work is in flight at any campaign size.
type oneShot struct {
	name string
	at   float64
	do   func()
}

// The mode's plannedRate is the send rate the fault schedule is planned
// for: under the proxy's steady 10% of random throttles the senders' shared
// AIMD limiter settles near 60 emails/s whatever --max-send-rate says (see
// docs/RELIABILITY.md), and under the event modes' rate cap near 15. A
// faster campaign reaches the progress triggers sooner, so the schedule
// still lands inside it.

// chaosWindow is how long senders keep being restarted: most of the
// campaign at the planned rate, at least 20s.
func (r *run) chaosWindow() time.Duration {
	expected := time.Duration(float64(len(r.data.valid)) / float64(r.m.plannedRate) * float64(time.Second))
	return max(20*time.Second, expected*4/5)
}

// senderEvery is the interval of sender restarts: every 3s, or twenty
// restarts over a longer window.
func (r *run) senderEvery() time.Duration {
	return max(3*time.Second, r.chaosWindow()/20)
}

// progress is the share of the expected sends that reached the proxy and
// were forwarded to the emulator.
func (r *run) progress() float64 {
	want := len(r.data.valid) - len(r.data.rejected)
	return float64(r.proxy.Stats().Forwarded) / float64(want)
}

// chaos restarts processes and services until the window is over and the
// one-shot faults have all fired. Sender restarts run on their own clock,
// beside the one-shot faults. It returns when the faults stop.
func (r *run) chaos() {
	shots := []*oneShot{
		{name: "retrier", at: 0.25, do: r.restartRetrier},
		{name: "redis", at: 0.40, do: r.restartRedis},
		{name: "redis-stall", at: 0.48, do: r.stallRedis},
		{name: "broker", at: 0.55, do: r.restartBroker},
		{name: "retrier", at: 0.70, do: r.restartRetrier},
	}
	if r.m.events {
		// The reconciler is stopped like the retrier: once before the
		// Redis faults, once after the broker's, each time with events
		// in flight (received, settled, not yet deleted).
		shots = append(shots,
			&oneShot{name: "reconcile", at: 0.32, do: r.restartReconcile},
			&oneShot{name: "reconcile", at: 0.62, do: r.restartReconcile})
		sort.SliceStable(shots, func(i, j int) bool { return shots[i].at < shots[j].at })
	}
	r.planned = nil
	var ats []string
	for _, s := range shots {
		r.planned = append(r.planned, s.name)
		ats = append(ats, fmt.Sprintf("%s %.0f%%", s.name, 100*s.at))
	}
	window := r.chaosWindow()
	begin := time.Now()
	r.logf("chaos: window %s, a sender every %s, one-shot faults at a share of the sends (or of the window): %s",
		window.Round(time.Second), r.senderEvery().Round(100*time.Millisecond), strings.Join(ats, ", "))

	stop := make(chan struct{})
	senders := make(chan struct{})
	go func() {
		defer close(senders)
		r.restartSenders(begin, window, stop)
	}()
	for _, s := range shots {
		for {
			r.watchSingles()
			if r.progress() >= s.at || time.Since(begin).Seconds() >= s.at*window.Seconds() {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.do()
		r.mu.Lock()
		r.fired = append(r.fired, s.name)
		r.mu.Unlock()
	}
	for time.Since(begin) < window && r.progress() < 0.9 {
		r.watchSingles()
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-senders
	r.logf("chaos over: %.0f%% of the sends forwarded", 100*r.progress())
}

// restartSenders restarts a sender every senderEvery until the
// window is over, the campaign is 90% through or stop is closed; it also
// restarts senders that exited on their own.
func (r *run) restartSenders(begin time.Time, window time.Duration, stop <-chan struct{}) {
	// Every sender in turn, in a shuffled order each round, so that the
	// ones holding partitions are hit, not only a fresh one.
	rng := rand.New(rand.NewPCG(uint64(r.m.seed), 42))
	var order []int
	every := r.senderEvery()
	next := time.Now().Add(every)
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if r.watchSenders() != nil {
			return
		}
		if time.Since(begin) >= window || r.progress() >= 0.9 {
			return
		}
		if time.Now().After(next) {
			if len(order) == 0 {
				order = rng.Perm(numSenders)
			}
			i := order[0]
			order = order[1:]
			if r.restart("sender", r.senders[i], func() error { return r.startSender(i) }) != nil {
				return
			}
			next = time.Now().Add(every)
		}
	}
}

func (r *run) restartRetrier() {
	if r.restart("retrier", r.retrier, r.startRetrier) != nil {
		r.t.FailNow()
	}
}

// restartRedis stops the private Redis, leaves it down for two seconds
// (senders must hold still: nothing is sent or committed without the
// fence) and starts it again from its AOF.
func (r *run) restartRedis() {
	before, _ := r.redis.keys(bg())
	if err := r.redis.stop(r.m.sig); err != nil {
		r.t.Fatalf("stopping the private Redis: %v", err)
	}
	r.logf("%s redis (%d keys): %s", sigName(r.m.sig), before, r.redis.p.status())
	time.Sleep(2 * time.Second) // an outage has a length
	if err := r.redis.start(); err != nil {
		r.t.Fatal(err)
	}
	after, _ := r.redis.keys(bg())
	r.mu.Lock()
	r.restarts["redis "+sigName(r.m.sig)]++
	r.mu.Unlock()
	r.logf("redis back from its AOF with %d keys", after)
}

// stallFor is how long the private Redis is frozen: longer than the
// senders' --redis-timeout (2s), so that every call in flight times out.
const stallFor = 6 * time.Second

// stallRedis freezes the private Redis with SIGSTOP (an fsync stall, a
// failover in progress), then thaws it. The senders are not restarted:
// they must wait it out, lose no job and send nobody twice.
func (r *run) stallRedis() {
	if err := r.redis.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("SIGSTOP redis: %v", err)
	}
	r.logf("SIGSTOP redis for %s (the senders' --redis-timeout is 2s); senders keep running", stallFor)
	time.Sleep(stallFor)
	if err := r.redis.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("SIGCONT redis: %v", err)
	}
	r.mu.Lock()
	r.restarts["redis SIGSTOP"]++
	r.mu.Unlock()
	r.logf("SIGCONT redis")
}

// restartBroker stops the private broker and starts it again on the same
// data.
func (r *run) restartBroker() {
	if err := r.broker.stop(r.m.sig); err != nil {
		r.t.Fatalf("stopping the private broker: %v", err)
	}
	r.logf("%s kafka: %s", sigName(r.m.sig), r.broker.p.status())
	if err := r.broker.start(); err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.restarts["broker "+sigName(r.m.sig)]++
	r.mu.Unlock()
	r.logf("kafka back")
}

// watch restarts a sender, the retrier or the reconciler that exited on
// its own, as Kubernetes would, and records it as a failure. watch and
// watchSingles run on the test's goroutine; watchSenders also on the sender
// restarter's.
func (r *run) watch() {
	if err := r.watchSenders(); err != nil {
		r.t.Fatal(err)
	}
	r.watchSingles()
}

func (r *run) watchSenders() error {
	for i, p := range r.senders {
		if p.exited() {
			r.crashed(p)
			if err := r.keepStarting(p.name, func() error { return r.startSender(i) }); err != nil {
				r.t.Errorf("restarting %s after it exited: %v", p.name, err)
				return err
			}
		}
	}
	return nil
}

// watchSingles watches the services that run one replica: the retrier
// and, with events, the reconciler.
func (r *run) watchSingles() {
	if r.retrier.exited() {
		r.crashed(r.retrier)
		if err := r.keepStarting(r.retrier.name, r.startRetrier); err != nil {
			r.t.Fatal(err)
		}
	}
	if r.reconcile != nil && r.reconcile.exited() {
		r.crashed(r.reconcile)
		if err := r.keepStarting(r.reconcile.name, r.startReconcile); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *run) crashed(p *proc) {
	msg := p.name + " exited on its own (" + p.status() + "):\n" + tail(p.log, 30)
	r.mu.Lock()
	r.crashes = append(r.crashes, msg)
	r.mu.Unlock()
	r.logf("CRASH %s: %s", p.name, p.status())
}
