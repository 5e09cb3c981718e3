package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyTTL is how long the shared state outlives its last reserved slot:
// longer than a full recovery (19 periods), so an idle spell forgets nothing
// that still matters.
const keyTTL = time.Minute

// Limiter paces sends across every replica sharing Config.Key. It is safe
// for concurrent use.
type Limiter struct {
	rdb redis.UniversalClient
	cfg Config
	now func() time.Time
	// after is the timer; tests replace it.
	after func(d time.Duration) (<-chan time.Time, func() bool)

	mu        sync.Mutex
	ceiling   float64
	state     aimdState // as last seen in Redis, or as Throttled guessed
	throttled bool      // a throttle the next Wait carries to Redis
}

// New returns a Limiter on rdb. now is the clock (nil: time.Now).
func New(rdb redis.UniversalClient, cfg Config, now func() time.Time) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rdb == nil && cfg.Rate > 0 {
		return nil, fmt.Errorf("%w: no redis client", ErrConfig)
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rdb: rdb, cfg: cfg, now: now, after: realAfter, ceiling: cfg.Rate}, nil
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Wait reserves one send slot and blocks until it comes: WaitN(ctx, 1).
func (l *Limiter) Wait(ctx context.Context) (time.Duration, error) {
	return l.WaitN(ctx, 1)
}

// WaitN reserves n consecutive send slots (n recipients of one SES call)
// in one Redis round trip and blocks until the last of them is due,
// returning how long it waited. A batch bigger than MaxAhead's worth of the
// rate is reserved once its first slot is within MaxAhead, and waits longer.
// Slots it wakes up for more than Config.MaxLate after they were due are
// given up and reserved again (twice at most).
// With an unlimited ceiling, or n == 0, it returns at once without calling
// Redis. If ctx ends while waiting for reserved slots, it returns ctx's
// error and the slots are lost (the replicas send slightly under the rate).
func (l *Limiter) WaitN(ctx context.Context, n int) (time.Duration, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w (got %d)", ErrNegative, n)
	}
	if n == 0 || l.Ceiling() <= 0 {
		return 0, nil
	}
	start := l.now()
	retakes := 0
	for {
		if err := ctx.Err(); err != nil {
			return l.now().Sub(start), err
		}
		l.mu.Lock()
		ceiling, throttled := l.ceiling, l.throttled
		l.throttled = false
		l.mu.Unlock()
		if ceiling <= 0 {
			return l.now().Sub(start), nil
		}
		res, err := l.reserve(ctx, n, ceiling, throttled)
		if err != nil {
			if throttled {
				l.mu.Lock()
				l.throttled = true // keep it for the next call
				l.mu.Unlock()
			}
			return l.now().Sub(start), err
		}
		// The wait counts from the reply: Redis measured it when the
		// script ran, which is before the reply came back, so the
		// slots are never taken early (at most the reply's way back
		// late).
		due := res.at.Add(res.wait)
		if d := due.Sub(l.now()); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				return l.now().Sub(start), err
			}
		}
		if !res.reserved {
			continue
		}
		// Slots taken late go out together with the next, on-time ones
		// (after a pause of the process, every goroutine wakes at once):
		// give them up and reserve again, a few times at most.
		if late := l.now().Sub(due); late > l.cfg.MaxLate && retakes < maxRetakes {
			retakes++
			continue
		}
		return l.now().Sub(start), nil
	}
}

// maxRetakes bounds how many times one WaitN gives up late slots: a process
// that is always late sends late rather than not at all.
const maxRetakes = 2

// ErrNegative is returned by WaitN for a negative number of slots.
var ErrNegative = errors.New("ratelimit: a negative number of send slots")

func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	c, stop := l.after(d)
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c:
		return nil
	}
}

type reservation struct {
	reserved bool
	// wait is how long after at the slots are due (reserved), or asking
	// again makes sense (not reserved).
	wait time.Duration
	// at is when the reply came (this process's clock).
	at time.Time
}

// reserve runs the script once for n slots and records the shared rate it
// saw.
func (l *Limiter) reserve(ctx context.Context, n int, ceiling float64, throttled bool) (reservation, error) {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	flag := "0"
	if throttled {
		flag = "1"
	}
	res, err := reserveScript.Run(cctx, l.rdb, []string{l.cfg.Key},
		n, ceiling, l.cfg.Burst, l.cfg.MaxAhead.Microseconds(), flag,
		keyTTL.Milliseconds(),
		decreaseFactor, decreaseEvery.Microseconds(), floorFraction, minRate,
		recoveryStep, recoveryPeriod.Microseconds(), l.cfg.Pace,
	).Slice()
	if err != nil {
		return reservation{}, fmt.Errorf("ratelimit: reserving %d send slots: %w", n, err)
	}
	now := l.now()
	r, err := parseReply(res)
	if err != nil {
		return reservation{}, err
	}
	// The decrease happened r.age before the script ran, which is
	// (roughly) now on this process's clock.
	if r.age >= 0 {
		r.state.at = now.Add(-r.age)
	}
	l.mu.Lock()
	l.state = r.state
	l.mu.Unlock()
	r.at = now
	return r.reservation, nil
}

type reply struct {
	reservation
	rate  float64
	state aimdState
	// age is how long before the script ran the last decrease was
	// (negative: never).
	age time.Duration
}

var errReply = errors.New("ratelimit: unexpected script reply")

func parseReply(res []any) (reply, error) {
	if len(res) != 6 {
		return reply{}, fmt.Errorf("%w %v", errReply, res)
	}
	reserved, ok1 := res[0].(int64)
	wait, ok2 := res[1].(int64)
	rate, err1 := parseNum(res[2])
	base, err2 := parseNum(res[3])
	at, err3 := parseNum(res[4])
	now, err4 := parseNum(res[5])
	if !ok1 || !ok2 || errors.Join(err1, err2, err3, err4) != nil {
		return reply{}, fmt.Errorf("%w %v", errReply, res)
	}
	r := reply{
		reservation: reservation{reserved: reserved == 1, wait: time.Duration(wait) * time.Microsecond},
		rate:        rate,
		state:       aimdState{base: base},
		age:         -1,
	}
	if at != 0 {
		r.age = time.Duration(now-at) * time.Microsecond
	}
	return r, nil
}

func parseNum(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, errReply
	}
	return strconv.ParseFloat(s, 64)
}

// SetCeiling sets the highest rate (emails/s; <= 0: unlimited). The current
// rate becomes min(current, ceiling), and recovery climbs towards it.
func (l *Limiter) SetCeiling(rate float64) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) {
		return
	}
	l.mu.Lock()
	l.ceiling = rate
	l.mu.Unlock()
}

// MaxLate is how late after their due time reserved slots may still be
// used (Config.MaxLate): a caller whose own steps after WaitN took longer
// should reserve again rather than send a burst.
func (l *Limiter) MaxLate() time.Duration { return l.cfg.MaxLate }

// Ceiling returns the current ceiling (<= 0: unlimited).
func (l *Limiter) Ceiling() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ceiling
}

// Throttled reports that SES throttled a send. The rate drops ×0.7 for every
// replica (at most once per second, never below max(1/s, 5% of the
// ceiling)); the decrease reaches Redis with this process's next Wait.
func (l *Limiter) Throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ceiling <= 0 {
		return
	}
	l.throttled = true
	// Guess the result locally so that Rate shows it before the next Wait.
	l.state, _ = l.state.throttle(l.ceiling, l.now())
}

// Rate returns the current effective rate in emails/s as this process last
// saw it, with recovery computed up to now; 0 means unlimited.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ceiling <= 0 {
		return 0
	}
	return l.state.effective(l.ceiling, l.now())
}
