// Package loglimit keeps repeated failures from flooding a log: one line
// per key per interval, with the count of the lines held back since.
package loglimit

import (
	"sync"
	"time"
)

// Every is the interval of Limiter.
const Every = 10 * time.Second

// Limiter lets one line per key through per Every. The zero value is ready
// to use and safe for concurrent use.
type Limiter struct {
	mu   sync.Mutex
	last map[string]*state
}

type state struct {
	at         time.Time
	suppressed int
}

// Allow reports whether a line of key may be logged now, and how many lines
// of the key were held back since the last one let through.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]*state{}
	}
	st := l.last[key]
	if st == nil {
		l.last[key] = &state{at: now}
		return true, 0
	}
	if now.Sub(st.at) < Every {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.at, st.suppressed = now, 0
	return true, n
}
