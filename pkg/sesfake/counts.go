package sesfake

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const shards = 64

// counts counts accepted emails per recipient, sharded so that concurrent
// sends rarely share a lock.
type counts struct {
	seed     maphash.Seed
	shard    [shards]shard
	accepted atomic.Int64
	// recipients counts every recipient of every accepted email: what SES
	// counts against the daily quota (SentLast24Hours).
	recipients atomic.Int64
	ok         atomic.Int64 // calls answered with a message id

	cmu   sync.Mutex // guards calls: the outcomes other than ok
	calls map[string]int
}

type shard struct {
	mu sync.Mutex
	m  map[string]int
	_  [40]byte // keep shards on separate cache lines
}

func (c *counts) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.shard {
		c.shard[i].m = map[string]int{}
	}
	c.calls = map[string]int{}
}

// add counts one accepted email and each of its recipients.
func (c *counts) add(lists ...[]string) {
	c.accepted.Add(1)
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	c.recipients.Add(int64(n))
	for _, l := range lists {
		for _, r := range l {
			sh := &c.shard[maphash.String(c.seed, r)%shards]
			sh.mu.Lock()
			sh.m[r]++
			sh.mu.Unlock()
		}
	}
}

func (c *counts) call(outcome string) {
	if outcome == OutcomeAccepted {
		c.ok.Add(1)
		return
	}
	c.cmu.Lock()
	c.calls[outcome]++
	c.cmu.Unlock()
}

// Outcomes of SendEmail calls, as counted by Calls (SendBulkEmail: see
// OutcomeBulkAccepted). A Fault is counted
// under its Name.
const (
	OutcomeAccepted   = "accepted"
	OutcomeBadRequest = "bad_request"
	OutcomeNotFound   = "not_found"
)

// Accepted is how many accepted emails were addressed to recipient (To, Cc
// or Bcc). More than one is a duplicate.
func (s *Server) Accepted(recipient string) int {
	sh := &s.counts.shard[maphash.String(s.counts.seed, recipient)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[recipient]
}

// Count is the number of accepted emails (SendEmail calls and bulk
// entries), including those answered with an error after acceptance.
func (s *Server) Count() int { return int(s.counts.accepted.Load()) }

// Recipients returns a copy of the accepted count per recipient.
func (s *Server) Recipients() map[string]int {
	out := map[string]int{}
	for i := range s.counts.shard {
		sh := &s.counts.shard[i]
		sh.mu.Lock()
		for k, v := range sh.m {
			out[k] = v
		}
		sh.mu.Unlock()
	}
	return out
}

// Calls returns the number of SendEmail calls per outcome: OutcomeAccepted,
// OutcomeBadRequest, OutcomeNotFound, or a Fault's Name.
func (s *Server) Calls() map[string]int {
	s.counts.cmu.Lock()
	defer s.counts.cmu.Unlock()
	out := make(map[string]int, len(s.counts.calls)+1)
	for k, v := range s.counts.calls {
		out[k] = v
	}
	if n := s.counts.ok.Load(); n > 0 {
		out[OutcomeAccepted] = int(n)
	}
	return out
}

// Messages returns the accepted emails, in acceptance order, when
// Config.Keep is set.
func (s *Server) Messages() []Email {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	return append([]Email(nil), s.messages...)
}
