package sender

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
)

// A batch is the jobs of one partition that are ready at the same moment
// and share what one SES call shares: campaign, template, From and
// configuration set. It forms by itself: the first job opens it, and it
// goes when it holds BatchSize jobs or BatchLinger after it opened,
// whichever comes first. It never waits to fill: at a low rate a job goes
// alone after the linger. A batch is one fence round trip, one rate-limiter
// reservation, one SES call and one produce, instead of one per user.
//
// One batch comes from one partition, so its users share a fence shard:
// one Redis Cluster slot.

// entry is one job on its way through a batch: what process hands to the
// batcher, and what the batch's steps decide for it.
type entry struct {
	p      *partition
	r      *kgo.Record
	j      *job.Job
	gaveUp *errStopped // set: dead-letter it unsent (its scope kept refusing)
	done   chan struct{}

	tok   string
	claim fence.Claim
	// step is where the pipeline left it; see the step constants.
	step step
	// mark is the fence write its outcome needs (step markPending); onMark
	// gets its answer (nil, or a decision such as fence.ErrNotOwner) and
	// says what follows: usually records to produce.
	mark   fence.Mark
	onMark func(error)
	recs   []*kgo.Record // produced with the rest of the batch, in one produce
	// finished: its outcome is durable and its offset may be committed.
	// again: sending was paused and nothing was sent; wait at the gate and
	// try once more.
	finished, again bool
}

// step is an entry's place in the pipeline.
type step int

const (
	// live: it goes on to the next step.
	live step = iota
	// markPending: its outcome is decided and needs a fence mark first.
	markPending
	// produce: its records are ready (possibly none); it is finished
	// once they are acknowledged.
	produce
	// dropped: it did not finish (the partition went away, or its
	// bookkeeping could not land): its offset stays uncommitted.
	dropped
	// retryAtGate: nothing was sent; process waits at the gate and tries
	// again.
	retryAtGate
)

// groupKey is what the jobs of one batch share.
type groupKey struct {
	p                                   *partition
	campaign, template, from, configSet string
}

type batcher struct {
	s    *Sender
	mu   sync.Mutex
	open map[groupKey]*openBatch
}

type openBatch struct {
	key     groupKey
	entries []*entry
	timer   *time.Timer
}

func newBatcher(s *Sender) *batcher {
	return &batcher{s: s, open: map[groupKey]*openBatch{}}
}

// do puts e in its group's open batch and waits until the batch settled it.
func (b *batcher) do(e *entry) {
	e.done = make(chan struct{})
	size := b.s.batchSize()
	if size <= 1 {
		b.s.runBatch(e.p, []*entry{e})
		return
	}
	k := groupKey{p: e.p, campaign: e.j.Campaign, template: e.j.Template, from: e.j.From, configSet: e.j.ConfigurationSet}
	b.mu.Lock()
	ob := b.open[k]
	if ob == nil {
		ob = &openBatch{key: k, entries: make([]*entry, 0, size)}
		b.open[k] = ob
		ob.timer = time.AfterFunc(b.s.cfg.BatchLinger, func() { b.flush(ob) })
	}
	ob.entries = append(ob.entries, e)
	full := len(ob.entries) >= size
	if full {
		delete(b.open, k)
	}
	b.mu.Unlock()
	if full {
		ob.timer.Stop()
		// The goroutine of the job that filled the batch runs it.
		b.s.runBatch(e.p, ob.entries)
	}
	<-e.done
}

// batchSize is the most jobs of one batch: --batch-size, but never more
// than a twentieth of the shared rate. A batch's recipients are sent at
// once, so a larger one could put more than 5% of a second's rate into one
// instant, and a sliding second could exceed the rate by more than 5%.
func (s *Sender) batchSize() int {
	size := s.cfg.BatchSize
	if s.lim != nil {
		if c := s.lim.Ceiling(); c > 0 {
			size = min(size, max(1, int(c/20)))
		}
	}
	return size
}

// flush runs a batch whose linger is over, unless it filled meanwhile.
func (b *batcher) flush(ob *openBatch) {
	b.mu.Lock()
	if b.open[ob.key] != ob {
		b.mu.Unlock()
		return
	}
	delete(b.open, ob.key)
	b.mu.Unlock()
	b.s.runBatch(ob.key.p, ob.entries)
}

// runBatch takes the batch through the pipeline and settles every entry.
// At most Concurrency batches are in flight per instance.
func (s *Sender) runBatch(p *partition, es []*entry) {
	defer func() {
		for _, e := range es {
			if e.done != nil {
				close(e.done)
			}
		}
	}()
	select {
	case s.calls <- struct{}{}:
		defer func() { <-s.calls }()
	case <-p.ctx.Done():
		return // nothing finished: consumed again by the partition's next owner
	}
	s.m.batchSize.Observe(float64(len(es)))
	s.pipeline(p, es)
}
