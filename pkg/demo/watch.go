package demo

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/ledger"
)

// watcher tails the ledger topic and keeps the latest state of each user of
// the campaign: the progress line and the end of the run come from what the
// pipeline itself recorded, not from the demo's own bookkeeping.
type watcher struct {
	campaign string
	cl       *kgo.Client

	mu      sync.Mutex
	state   map[string]ledger.State
	byState map[ledger.State]int
	done    chan struct{}
}

func (w *world) watchLedger(campaign string) (*watcher, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.brokers...),
		kgo.ConsumeTopics(w.topics.Ledger()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return nil, err
	}
	return &watcher{campaign: campaign, cl: cl, state: map[string]ledger.State{}, byState: map[ledger.State]int{}, done: make(chan struct{})}, nil
}

// run consumes until ctx ends or the client is closed.
func (wt *watcher) run(ctx context.Context) {
	defer close(wt.done)
	for {
		fs := wt.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		wt.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			e, err := ledger.Decode(r.Value)
			if err != nil || e.Campaign != wt.campaign {
				return
			}
			if old, ok := wt.state[e.UserID]; ok {
				wt.byState[old]--
			}
			wt.state[e.UserID] = e.State
			wt.byState[e.State]++
		})
		wt.mu.Unlock()
	}
}

func (wt *watcher) close() {
	wt.cl.Close()
	<-wt.done
}

// ledgerCounts is the number of users in each latest state.
type ledgerCounts map[ledger.State]int

// Terminal is the number of users whose latest state ends their job.
func (c ledgerCounts) Terminal() int {
	n := 0
	for s, k := range c {
		if s.Terminal() {
			n += k
		}
	}
	return n
}

func (wt *watcher) counts() ledgerCounts {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	out := make(ledgerCounts, len(wt.byState))
	for s, n := range wt.byState {
		out[s] = n
	}
	return out
}
