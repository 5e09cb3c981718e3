package reconcile

import (
	"context"
	"slices"
	"sync"
)

// userKey names one user of one campaign.
type userKey struct{ campaign, user string }

// userLocks serialize the batches of concurrent pollers per user: a batch
// holds its users from Settle until its ledger records are acknowledged,
// so that the entries of one user reach the ledger in the order the fence
// took the events, and a later, higher fact is never overwritten by an
// earlier entry. Locks are taken in sorted order: two batches never wait
// on each other.
type userLocks struct {
	mu   sync.Mutex
	held map[userKey]chan struct{}
}

// lock takes every key (sorted, without repeats), waiting for the batches
// that hold them. It returns the release function, or false when ctx ended
// first (then nothing is held).
func (l *userLocks) lock(ctx context.Context, keys []userKey) (release func(), ok bool) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b userKey) int {
		if a.campaign != b.campaign {
			if a.campaign < b.campaign {
				return -1
			}
			return 1
		}
		switch {
		case a.user < b.user:
			return -1
		case a.user > b.user:
			return 1
		}
		return 0
	})
	keys = slices.Compact(keys)
	var mine []chan struct{}
	releaseAll := func() {
		l.mu.Lock()
		for i, ch := range mine {
			delete(l.held, keys[i])
			close(ch)
		}
		l.mu.Unlock()
	}
	for _, k := range keys {
		for {
			l.mu.Lock()
			if l.held == nil {
				l.held = map[userKey]chan struct{}{}
			}
			other, busy := l.held[k]
			if !busy {
				ch := make(chan struct{})
				l.held[k] = ch
				mine = append(mine, ch)
				l.mu.Unlock()
				break
			}
			l.mu.Unlock()
			select {
			case <-other:
			case <-ctx.Done():
				releaseAll()
				return nil, false
			}
		}
	}
	return releaseAll, true
}
