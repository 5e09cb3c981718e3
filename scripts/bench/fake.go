package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sendonce/sendonce/pkg/sesfake"
)

// Template every bench email uses; the CSV's name and kwh columns fill it.
const (
	templateName = "bench-usage"
	fromAddr     = "news@bench.example.com"
)

// fake is the in-process fake SES of one phase, with a record of when every
// SendEmail reached it.
type fake struct {
	srv *sesfake.Server
	rec *recorder
	// window, when set, answers TooManyRequestsException to a send that
	// would put more than limit accepted sends into the trailing second,
	// as SES does over its maximum send rate.
	window *slidingWindow
}

// newFake starts a fake SES with the given answer latency. limit > 0
// enforces a send rate (see fake.window). expect sizes the record.
func newFake(latency time.Duration, expect int, limit int) (*fake, error) {
	f := &fake{rec: newRecorder(expect)}
	if limit > 0 {
		f.window = &slidingWindow{limit: limit}
	}
	f.srv = sesfake.New(sesfake.Config{
		Latency:     latency,
		MaxSendRate: 1e6,
		Fault: func(*sesfake.SendRequest) *sesfake.Fault {
			now := f.rec.mark()
			if f.window != nil && !f.window.admit(now) {
				return sesfake.Throttle
			}
			return nil
		},
	})
	if err := f.srv.Start(); err != nil {
		return nil, err
	}
	if err := f.srv.CreateTemplate(templateName, "Your usage, {{name}}", "<p>Hello {{name}}, you used <b>{{kwh}} kWh</b> this month.</p>", "Hello {{name}}, you used {{kwh}} kWh this month."); err != nil {
		_ = f.srv.Close()
		return nil, fmt.Errorf("creating the template on the fake SES: %w", err)
	}
	return f, nil
}

func (f *fake) close() { _ = f.srv.Close() }

// accepted is the number of emails the fake accepted.
func (f *fake) accepted() int { return f.srv.Count() }

// throttles is the number of sends the fake answered with a throttle.
func (f *fake) throttles() int { return f.srv.Calls()["throttle"] }

// duplicates counts recipients accepted more than once.
func (f *fake) duplicates() int {
	n := 0
	for _, c := range f.srv.Recipients() {
		if c > 1 {
			n += c - 1
		}
	}
	return n
}

// recorder keeps the arrival time of every SendEmail (offsets from its
// start, lock-free).
type recorder struct {
	start  time.Time
	n      atomic.Int64
	stamps []atomic.Int64
}

func newRecorder(expect int) *recorder {
	return &recorder{start: time.Now(), stamps: make([]atomic.Int64, expect+expect/4+1024)}
}

func (r *recorder) mark() time.Duration {
	d := time.Since(r.start)
	if i := r.n.Add(1) - 1; int(i) < len(r.stamps) {
		r.stamps[i].Store(int64(d))
	}
	return d
}

// times returns the recorded arrivals, sorted.
func (r *recorder) times() []time.Duration {
	n := min(int(r.n.Load()), len(r.stamps))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(r.stamps[i].Load())
	}
	slices.Sort(out)
	return out
}

// slidingWindow admits at most limit events in any trailing second.
type slidingWindow struct {
	mu    sync.Mutex
	limit int
	q     []time.Duration
}

func (w *slidingWindow) admit(now time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := 0
	for i < len(w.q) && now-w.q[i] >= time.Second {
		i++
	}
	w.q = w.q[i:]
	if len(w.q) >= w.limit {
		return false
	}
	w.q = append(w.q, now)
	return true
}

// rateStats describes a series of arrival times.
type rateStats struct {
	N          int
	Span       time.Duration // first to last
	Avg        float64       // (N-1)/Span
	MaxWindow  int           // most arrivals in any 1 s window
	MaxAt      time.Duration // where that window starts, from the first arrival
	MinSteady  int           // fewest arrivals in a whole 1 s bucket, first and last buckets excluded
	FirstAfter time.Duration // first arrival, from the recorder's start
}

func statsOf(ts []time.Duration) rateStats {
	s := rateStats{N: len(ts)}
	if len(ts) < 2 {
		return s
	}
	s.FirstAfter = ts[0]
	s.Span = ts[len(ts)-1] - ts[0]
	if s.Span > 0 {
		s.Avg = float64(len(ts)-1) / s.Span.Seconds()
	}
	for i, j := 0, 0; i < len(ts); i++ {
		for j < len(ts) && ts[j]-ts[i] < time.Second {
			j++
		}
		if j-i > s.MaxWindow {
			s.MaxWindow, s.MaxAt = j-i, ts[i]-ts[0]
		}
	}
	buckets := map[int64]int{}
	for _, t := range ts {
		buckets[int64((t-ts[0])/time.Second)]++
	}
	last := int64(s.Span / time.Second)
	s.MinSteady = -1
	for b := int64(1); b < last; b++ {
		if s.MinSteady < 0 || buckets[b] < s.MinSteady {
			s.MinSteady = buckets[b]
		}
	}
	return s
}

// writeTimeline writes arrivals per 100 ms (from the first) as CSV.
func writeTimeline(path string, ts []time.Duration) error {
	if len(ts) == 0 {
		return nil
	}
	const step = 100 * time.Millisecond
	n := int((ts[len(ts)-1]-ts[0])/step) + 1
	counts := make([]int, n)
	for _, t := range ts {
		counts[int((t-ts[0])/step)]++
	}
	var b strings.Builder
	b.WriteString("ms,calls\n")
	for i, c := range counts {
		fmt.Fprintf(&b, "%d,%d\n", i*int(step/time.Millisecond), c)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
