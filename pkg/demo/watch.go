package demo

import (
	"context"
	"sync"
	"time"

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
	// ambiguous holds the users the ledger ever called ambiguous (the
	// time of the first such entry); byEvent those with a sent entry
	// that the reconciler settled from an SES event (settled_by_event).
	ambiguous map[string]time.Time
	byEvent   map[string]time.Time
	done      chan struct{}
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
	return &watcher{campaign: campaign, cl: cl, state: map[string]ledger.State{}, byState: map[ledger.State]int{},
		ambiguous: map[string]time.Time{}, byEvent: map[string]time.Time{}, done: make(chan struct{})}, nil
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
			first(wt.ambiguous, e.UserID, e.At, e.State == ledger.Ambiguous)
			first(wt.byEvent, e.UserID, e.At, e.State == ledger.Sent && e.Reason == ledger.ReasonSettledByEvent)
		})
		wt.mu.Unlock()
	}
}

// first records at for user in m when cond holds and user is not there yet.
func first(m map[string]time.Time, user string, at time.Time, cond bool) {
	if _, ok := m[user]; cond && !ok {
		m[user] = at
	}
}

// settlement is what the ledger says of the ambiguous sends.
type settlement struct {
	// everAmbiguous is the users the ledger ever called ambiguous.
	everAmbiguous int
	// byEvent maps each of the users asked about that has a sent entry
	// settled_by_event to that entry's time.
	byEvent map[string]time.Time
	// byEventAll is every user settled_by_event.
	byEventAll int
}

func (wt *watcher) settlement(users []string) settlement {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	s := settlement{everAmbiguous: len(wt.ambiguous), byEvent: map[string]time.Time{}, byEventAll: len(wt.byEvent)}
	for _, u := range users {
		if at, ok := wt.byEvent[u]; ok {
			s.byEvent[u] = at
		}
	}
	return s
}

// latest is the user's latest ledger state ("" when it has none).
func (wt *watcher) latest(user string) ledger.State {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.state[user]
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
