package retrier

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
)

// item is one fetched tier record with what the retrier needs to know about
// it, decided once when it is fetched.
type item struct {
	rec       *kgo.Record
	notBefore time.Time // zero: due at once
	bad       error     // not a job: dead-letter it
	size      int
}

func newItem(r *kgo.Record) item {
	it := item{rec: r, size: len(r.Key) + len(r.Value)}
	for _, h := range r.Headers {
		it.size += len(h.Key) + len(h.Value)
	}
	if _, err := job.Decode(r.Value); err != nil {
		it.bad = err
		return it
	}
	if nb, ok := job.NotBefore(r); ok {
		it.notBefore = nb
	}
	return it
}

// due reports whether the item can be moved at now. A record that is not a
// job is due at once: waiting cannot make it valid.
func (it item) due(now time.Time) bool {
	return it.bad != nil || it.notBefore.IsZero() || !it.notBefore.After(now)
}

// partition is one assigned tier partition: the records fetched and not yet
// moved, in fetch (offset) order, and the goroutine that moves them when due.
//
// The poll loop only appends to buf; the worker only removes from its head,
// after the produce of those records was acknowledged. So buf[0] is always
// the first record not yet done, and done is the offset to commit.
type partition struct {
	r     *Retrier
	topic string
	part  int32
	tier  string

	ctx    context.Context // cancelled: abandon work at once (drain over, partition lost)
	cancel context.CancelFunc
	stop   chan struct{} // closed: finish the batch in flight, then exit
	wake   chan struct{} // new records, or a timer fired
	exited chan struct{}

	mu        sync.Mutex
	buf       []item
	bytes     int
	next      int64 // offset after the last record appended; -1 before the first
	paused    bool
	timer     Timer           // nil: none armed, or it fired
	timerAt   time.Time       // the head due time the timer was armed for
	timerGen  uint64          // which armed timer is current
	done      kgo.EpochOffset // next offset to commit; Offset -1: nothing done yet
	committed int64           // last committed offset (-1: none)
	stopOnce  sync.Once
}

func newPartition(r *Retrier, topic string, part int32) *partition {
	ctx, cancel := context.WithCancel(r.workCtx)
	return &partition{
		r: r, topic: topic, part: part, tier: r.tierLabel(topic),
		ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), wake: make(chan struct{}, 1), exited: make(chan struct{}),
		next: -1, done: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1,
	}
}

func (p *partition) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// add appends fetched records; it runs in the poll loop. When the head is
// not due, or the buffer holds a fetch's worth, the partition is paused
// here, before the next poll, so that no more of it is fetched.
//
// franz-go (v1.22) hands out each offset once: the records it buffered for
// a partition that is then paused are not returned, and its fetch position
// stays just after the last record returned, so after the resume fetching
// continues exactly behind the buffer. Only a reset of the position (log
// truncation, offset out of range) goes back; such records are kept, not
// dropped: moving a job twice is absorbed by the fence, skipping one is not.
func (p *partition) add(recs []*kgo.Record) int {
	now := p.r.clk.Now()
	n := 0
	p.mu.Lock()
	for _, rec := range recs {
		if rec.Offset < p.next && n == 0 {
			p.r.log.Warn("tier partition went back; moving its records again", "topic", p.topic, "partition", p.part, "from", rec.Offset, "had", p.next)
		}
		p.next = rec.Offset + 1
		it := newItem(rec)
		p.buf = append(p.buf, it)
		p.bytes += it.size
		n++
	}
	if len(p.buf) > 0 && (p.bytes >= int(p.r.cfg.FetchMaxPartitionBytes) || !p.buf[0].due(now)) {
		p.pauseLocked()
	}
	p.mu.Unlock()
	if n > 0 {
		p.r.m.scheduled.WithLabelValues(p.tier).Add(float64(n))
		p.signal()
	}
	return n
}

func (p *partition) pauseLocked() {
	if p.paused {
		return
	}
	p.paused = true
	p.r.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.part}})
	p.r.m.paused.Inc()
}

func (p *partition) resumeLocked() {
	if !p.paused {
		return
	}
	p.paused = false
	p.r.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.part}})
	p.r.m.paused.Dec()
}

func (p *partition) stopTimerLocked() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
		p.timerAt = time.Time{}
	}
}

// nextBatch returns the due records at the head of the buffer (at most
// MaxBatch), or nil. With nothing due it pauses the partition and makes sure
// a timer is armed for the head's not-before (armLocked); with nothing
// buffered it resumes
// fetching: the client then fetches from just after the last record handed
// to add, so nothing is skipped and nothing is fetched twice.
func (p *partition) nextBatch() []item {
	now := p.r.clk.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) == 0 {
		p.stopTimerLocked()
		p.resumeLocked()
		return nil
	}
	n := 0
	for n < len(p.buf) && n < p.r.cfg.MaxBatch && p.buf[n].due(now) {
		n++
	}
	if n > 0 {
		return append([]item(nil), p.buf[:n]...)
	}
	head := p.buf[0].notBefore
	p.pauseLocked()
	if p.timer == nil || !p.timerAt.Equal(head) {
		p.armLocked(head, now)
	}
	return nil
}

// armLocked arms the wake-up for a head due at head (wall clock), on the
// monotonic timer of the clock. The two disagree after a clock step: back,
// and the timer fires before the head is due; forward, and the head is due
// long before the timer fires. So a fired timer is forgotten (the next
// nextBatch arms a new one for what is left), and no timer waits longer
// than Config.PausedWake: a paused partition looks at its head at least
// that often, whatever the clock did.
func (p *partition) armLocked(head, now time.Time) {
	p.stopTimerLocked()
	d := head.Sub(now)
	if d > p.r.cfg.PausedWake {
		d = p.r.cfg.PausedWake
	}
	p.timerGen++
	gen := p.timerGen
	p.timerAt = head
	p.timer = p.r.clk.AfterFunc(d, func() { p.fired(gen) })
}

// fired is the timer's call: it forgets the timer, unless a newer one
// replaced it, and wakes the worker.
func (p *partition) fired(gen uint64) {
	p.mu.Lock()
	if p.timerGen == gen {
		p.timer = nil
		p.timerAt = time.Time{}
	}
	p.mu.Unlock()
	p.signal()
}

// finish removes an acknowledged batch from the head of the buffer and
// records its end as the offset to commit.
func (p *partition) finish(batch []item) {
	last := batch[len(batch)-1].rec
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range batch {
		p.bytes -= p.buf[i].size
		p.buf[i] = item{}
	}
	p.buf = p.buf[len(batch):]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	p.done = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
}

// take returns the offset to commit, if it moved since the last commit.
func (p *partition) take() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done.Offset < 0 || p.done.Offset <= p.committed {
		return kgo.EpochOffset{}, false
	}
	return p.done, true
}

func (p *partition) markCommitted(off int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off > p.committed {
		p.committed = off
	}
}

// run moves due records until stopped.
func (p *partition) run() {
	defer close(p.exited)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		batch := p.nextBatch()
		if len(batch) == 0 {
			select {
			case <-p.wake:
			case <-p.stop:
				return
			case <-p.ctx.Done():
				return
			}
			continue
		}
		if err := p.r.forward(p.ctx, p, batch); err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.r.m.produceErrors.Inc()
			if ok, held := p.r.logs.Allow("produce", p.r.clk.Now()); ok {
				p.r.log.Warn("producing due jobs failed; will try again", "topic", p.topic, "partition", p.part, "records", len(batch), "err", err, "similar_lines_suppressed", held)
			}
			retry := make(chan struct{})
			t := p.r.clk.AfterFunc(p.r.cfg.ProduceBackoff, func() { close(retry) })
			select {
			case <-retry:
			case <-p.stop:
				t.Stop()
				return
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		p.finish(batch)
	}
}

// halt asks the worker to stop after its batch in flight, and forgets the
// buffer and the timer. The caller waits on exited.
func (p *partition) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopTimerLocked()
}

// release drops the buffer and un-pauses the partition in the client, so
// that a later assignment of it starts fetching; call it once the worker
// exited.
func (p *partition) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf, p.bytes = nil, 0
	p.resumeLocked()
}
