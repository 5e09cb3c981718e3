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

// keyTTL is how long the shared state outlives the last call: longer than a
// full recovery (19 periods) plus MaxAhead, so an idle spell forgets nothing
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

// Wait reserves one send slot and blocks until it comes, returning how long
// it waited. With an unlimited ceiling it returns at once without calling
// Redis. If ctx ends while waiting for a reserved slot, it returns ctx's
// error and the slot is lost (the replicas send slightly under the rate).
func (l *Limiter) Wait(ctx context.Context) (time.Duration, error) {
	if l.Ceiling() <= 0 {
		return 0, nil
	}
	start := l.now()
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
		res, err := l.reserve(ctx, ceiling, throttled)
		if err != nil {
			if throttled {
				l.mu.Lock()
				l.throttled = true // keep it for the next call
				l.mu.Unlock()
			}
			return l.now().Sub(start), err
		}
		// The wait counts from the time passed to Redis, not from the
		// reply: the round trip is already part of it.
		if d := res.at.Add(res.wait).Sub(l.now()); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				return l.now().Sub(start), err
			}
		}
		if res.reserved {
			return l.now().Sub(start), nil
		}
	}
}

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
	// wait is how long after at the slot comes (reserved), or asking
	// again makes sense (not reserved).
	wait time.Duration
	at   time.Time
}

// reserve runs the script once and records the shared rate it saw.
func (l *Limiter) reserve(ctx context.Context, ceiling float64, throttled bool) (reservation, error) {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	now := l.now()
	flag := "0"
	if throttled {
		flag = "1"
	}
	res, err := reserveScript.Run(cctx, l.rdb, []string{l.cfg.Key},
		now.UnixMicro(), ceiling, l.cfg.Burst, l.cfg.MaxAhead.Microseconds(), flag,
		(keyTTL + l.cfg.MaxAhead).Milliseconds(),
		decreaseFactor, decreaseEvery.Microseconds(), floorFraction, minRate,
		recoveryStep, recoveryPeriod.Microseconds(),
	).Slice()
	if err != nil {
		return reservation{}, fmt.Errorf("ratelimit: reserving a send slot: %w", err)
	}
	r, err := parseReply(res)
	if err != nil {
		return reservation{}, err
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
}

var errReply = errors.New("ratelimit: unexpected script reply")

func parseReply(res []any) (reply, error) {
	if len(res) != 5 {
		return reply{}, fmt.Errorf("%w %v", errReply, res)
	}
	reserved, ok1 := res[0].(int64)
	wait, ok2 := res[1].(int64)
	rate, err1 := parseNum(res[2])
	base, err2 := parseNum(res[3])
	at, err3 := parseNum(res[4])
	if !ok1 || !ok2 || errors.Join(err1, err2, err3) != nil {
		return reply{}, fmt.Errorf("%w %v", errReply, res)
	}
	r := reply{
		reservation: reservation{reserved: reserved == 1, wait: time.Duration(wait) * time.Microsecond},
		rate:        rate,
		state:       aimdState{base: base},
	}
	if at != 0 {
		r.state.at = time.UnixMicro(int64(at))
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
