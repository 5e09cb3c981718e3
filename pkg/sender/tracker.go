package sender

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partition tracks the records of one assigned partition between dispatch
// and commit. Records are dispatched in offset order; the committable offset
// is one past the last record of the unbroken finished prefix.
type partition struct {
	topic string
	part  int32
	// ctx is cancelled when the partition is revoked or lost: work on it
	// that has not reached SES stops and leaves its offset uncommitted.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending []*slot // in offset order
	head    int     // pending[head:] are live
	commit  kgo.EpochOffset
	dirty   bool // commit advanced since last taken
	// keys holds, per user key in flight, the records waiting behind it:
	// one job per user at a time.
	keys map[string][]*kgo.Record
	// running counts the goroutines working on this partition's records.
	running sync.WaitGroup
}

type slot struct {
	rec   *kgo.Record
	since time.Time // when it was dispatched
	done  bool
}

func newPartition(parent context.Context, topic string, part int32) *partition {
	ctx, cancel := context.WithCancel(parent)
	return &partition{topic: topic, part: part, ctx: ctx, cancel: cancel, keys: map[string][]*kgo.Record{}, commit: kgo.EpochOffset{Epoch: -1, Offset: -1}}
}

// add registers a dispatched record. It returns false when the record must
// wait behind another record of the same key (it is started by finish).
func (p *partition) add(r *kgo.Record, now time.Time) (start bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, &slot{rec: r, since: now})
	k := string(r.Key)
	if q, busy := p.keys[k]; busy {
		p.keys[k] = append(q, r)
		return false
	}
	p.keys[k] = nil
	return true
}

// finish marks r finished (its outcome is durable) and returns the next
// record of the same key to start, if any.
func (p *partition) finish(r *kgo.Record) (next *kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := p.head; i < len(p.pending); i++ {
		if p.pending[i].rec == r {
			p.pending[i].done = true
			break
		}
	}
	for p.head < len(p.pending) && p.pending[p.head].done {
		last := p.pending[p.head].rec
		p.commit = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
		p.dirty = true
		p.pending[p.head] = nil
		p.head++
	}
	if p.head == len(p.pending) {
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head*2 > len(p.pending) {
		p.pending = append(p.pending[:0:0], p.pending[p.head:]...)
		p.head = 0
	}
	return p.popKey(r)
}

// abandon gives up on r without finishing it: its offset stays uncommitted
// and it is consumed again after a restart or rebalance. Records waiting
// behind it are abandoned too, and returned so the caller can release
// their slots.
func (p *partition) abandon(r *kgo.Record) []*kgo.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := string(r.Key)
	waiting := p.keys[k]
	delete(p.keys, k)
	return waiting
}

func (p *partition) popKey(r *kgo.Record) *kgo.Record {
	k := string(r.Key)
	q := p.keys[k]
	if len(q) == 0 {
		delete(p.keys, k)
		return nil
	}
	next := q[0]
	if len(q) == 1 {
		p.keys[k] = nil
	} else {
		p.keys[k] = q[1:]
	}
	return next
}

// oldest returns when the oldest unfinished record was dispatched.
func (p *partition) oldest() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head < len(p.pending) {
		return p.pending[p.head].since, true
	}
	return time.Time{}, false
}

// take returns the committable offset if it advanced since the last take.
func (p *partition) take() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty {
		return kgo.EpochOffset{}, false
	}
	p.dirty = false
	return p.commit, true
}

// untake marks the offset dirty again after a failed commit.
func (p *partition) untake() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
}
