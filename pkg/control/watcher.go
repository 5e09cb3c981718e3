package control

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// Watcher follows the control topic. Build its client with ClientOpts (no
// consumer group: every sender reads the whole topic), then Run it.
type Watcher struct {
	topics kafka.Topics
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	states map[string]State
	// fresh is when the watcher last knew it had read the topic to its end.
	fresh time.Time
}

// FreshFor is how recent a complete read must be for the watcher's view to
// count as current (see State).
const FreshFor = 5 * time.Second

// NewWatcher returns a watcher of topics' control topic.
func NewWatcher(topics kafka.Topics, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{topics: topics, log: log, now: time.Now, states: map[string]State{}}
}

// ClientOpts are the options of the watcher's own client.
func (w *Watcher) ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumeTopics(w.topics.Control()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
}

// State is the campaign's state; current says whether the view is current
// (the topic was read to its end within FreshFor), loaded whether it ever
// was. Before the first complete read the state means nothing: a caller
// should wait rather than send a job of a campaign that may be paused. A
// caller that would act on a stale view (park a job of a campaign that may
// have been resumed since) should wait too.
func (w *Watcher) State(campaign string) (st State, current, loaded bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.states[campaign]
	if !ok {
		st = Active
	}
	return st, w.now().Sub(w.fresh) < FreshFor, !w.fresh.IsZero()
}

// Run follows the topic until ctx ends; it closes nothing (the caller owns
// cl). The view is fresh when the records read reach the topic's end
// offset, asked of the broker at least every second.
func (w *Watcher) Run(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	topic := w.topics.Control()
	next := int64(0) // the offset after the last record read (one partition)
	var lastErr error
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		w.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				before := w.states[string(r.Key)]
				apply(w.states, r)
				if after := w.states[string(r.Key)]; after != before {
					w.log.Info("campaign control", "campaign", string(r.Key), "state", orActive(after))
				}
				next = r.Offset + 1
			}
		})
		w.mu.Unlock()

		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := adm.ListEndOffsets(ectx, topic)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			if ctx.Err() == nil && (lastErr == nil || lastErr.Error() != err.Error()) {
				w.log.Warn("cannot read the campaign control topic's end; pauses and cancels wait until it works", "topic", topic, "err", err)
			}
			lastErr = err
			continue
		}
		lastErr = nil
		end, ok := ends.Lookup(topic, 0)
		if ok && end.Err == nil && next >= end.Offset {
			w.mu.Lock()
			w.fresh = w.now()
			w.mu.Unlock()
		}
	}
}

func orActive(s State) State {
	if s == "" {
		return Active
	}
	return s
}
