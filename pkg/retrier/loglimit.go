package retrier

import (
	"sync"
	"time"
)

// logLimiter lets one line per key through per interval, so that a Kafka
// outage that fails every commit and every produce gives one line per step
// every 10 s with a count, not a flood (as the sender's).
// allow reports how many lines of the key were held back since the last
// one let through.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]*logState
}

type logState struct {
	at         time.Time
	suppressed int
}

const logEvery = 10 * time.Second

func (l *logLimiter) allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]*logState{}
	}
	st := l.last[key]
	if st == nil {
		l.last[key] = &logState{at: now}
		return true, 0
	}
	if now.Sub(st.at) < logEvery {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.at, st.suppressed = now, 0
	return true, n
}
