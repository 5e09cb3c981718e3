package demo

import (
	"slices"
	"sync"
	"time"

	"github.com/sendonce/sendonce/pkg/sesfake"
)

// ambiguity makes the local SES accept a few calls and then answer them
// with a 503, the case no sender can settle by itself: SES has the emails,
// the sender saw an error, and sending again would be a duplicate. Each of
// those users must end sent, settled from SES's own events by the
// reconciler, with exactly one email in the outbox.
//
// With batches the injected call is a SendBulkEmail (every entry is
// ambiguous: the blast radius of a bulk call); with batches of 1 it is a
// SendEmail. The first injected call is the first one after at emails
// were asked for; the others follow it.
type ambiguity struct {
	calls  int               // calls to inject
	at     int               // emails asked for before the first
	bulk   bool              // inject SendBulkEmail calls (else SendEmail)
	owners map[string]string // address → user id

	mu       sync.Mutex
	asked    int
	injected []InjectedCall
	spared   map[string]bool // recipients of injected calls
}

func newAmbiguity(calls, at int, bulk bool, owners map[string]string) *ambiguity {
	return &ambiguity{calls: calls, at: at, bulk: bulk, owners: owners, spared: map[string]bool{}}
}

// due counts n emails asked for (with batches, the entries of
// SendBulkEmail calls only) and says whether this call is injected; a.mu
// is held.
func (a *ambiguity) due(n int) bool {
	before := a.asked
	a.asked += n
	return len(a.injected) < a.calls && before >= a.at
}

func (a *ambiguity) inject(to []string) *sesfake.Fault {
	c := InjectedCall{At: time.Now()}
	for _, r := range to {
		a.spared[r] = true
		if u, ok := a.owners[r]; ok {
			c.Users = append(c.Users, u)
		}
	}
	slices.Sort(c.Users)
	a.injected = append(a.injected, c)
	return sesfake.UnavailableAfterAccept
}

// bulkFault is the sesfake.Config.BulkFault: a SendBulkEmail, when due, is
// accepted whole and answered with a 503.
func (a *ambiguity) bulkFault(entries []sesfake.SendRequest) *sesfake.Fault {
	if !a.bulk {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.due(len(entries)) {
		return nil
	}
	var to []string
	for _, e := range entries {
		to = append(to, e.To...)
	}
	return a.inject(to)
}

// fault is asked first about every SendEmail and bulk entry: with batches
// of 1, a SendEmail, when due, is accepted and answered with a 503. It
// also tells whether r is an entry of an injected call (spared: it must be
// accepted, so the throttler leaves it alone).
func (a *ambiguity) fault(r *sesfake.SendRequest) (f *sesfake.Fault, spared bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.bulk && a.due(1) {
		return a.inject(r.To), true
	}
	for _, to := range r.To {
		if a.spared[to] {
			return nil, true
		}
	}
	return nil, false
}

// Injected returns the calls injected so far.
func (a *ambiguity) Injected() []InjectedCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.injected)
}

// faults is the local SES's Config.Fault: the injected 503s first, then
// the throttler (which never throttles an email of an injected call).
func faults(a *ambiguity, t *throttler) func(*sesfake.SendRequest) *sesfake.Fault {
	return func(r *sesfake.SendRequest) *sesfake.Fault {
		if f, spared := a.fault(r); f != nil || spared {
			return f
		}
		return t.fault(r)
	}
}
