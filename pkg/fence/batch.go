package fence

import (
	"context"
	"fmt"
	"strconv"
)

// Item names one user of a batch.
type Item struct{ Campaign, User string }

// Op is the outcome a Mark records.
type Op int

// The ops of MarkBatch, one per single-user method.
const (
	OpSent         Op = iota // MarkSent
	OpFailed                 // MarkFailed
	OpAmbiguous              // MarkAmbiguous
	OpResendable             // MarkResendable
	OpDeadLettered           // MarkDeadLettered
	OpExpired                // MarkExpired
	OpCancelled              // MarkCancelled
	OpRelease                // Release
)

func (o Op) String() string {
	switch o {
	case OpSent:
		return "mark sent"
	case OpFailed:
		return "mark failed"
	case OpAmbiguous:
		return "mark ambiguous"
	case OpResendable:
		return "mark resendable"
	case OpDeadLettered:
		return "mark dead-lettered"
	case OpExpired:
		return "mark expired"
	case OpCancelled:
		return "mark cancelled"
	case OpRelease:
		return "release"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Mark is one outcome of a batch.
type Mark struct {
	Item
	Token     string
	Op        Op
	MessageID string // OpSent
	Reason    string // the others
}

// slotGroup is the items of a batch that share a hash tag: one Lua call.
type slotGroup struct {
	keys   []string       // the distinct buckets
	keyIdx map[string]int // bucket -> 1-based index in keys (the scripts' KEYS)
	items  []int          // positions in the batch
	bucket []int          // the bucket index of each of items
}

// group splits n items (item(i) names each) by hash tag, in the order of
// first appearance. bad(i) is called for an item with an empty campaign or
// user, which joins no group.
func (f *Fence) group(l Layout, n int, item func(int) Item, bad func(int)) []*slotGroup {
	var groups []*slotGroup
	byTag := map[string]*slotGroup{}
	for i := range n {
		it := item(i)
		if it.Campaign == "" || it.User == "" {
			bad(i)
			continue
		}
		key, tag := l.key(f.cfg.Prefix, it.Campaign, it.User)
		g := byTag[tag]
		if g == nil {
			g = &slotGroup{keyIdx: map[string]int{}}
			byTag[tag] = g
			groups = append(groups, g)
		}
		k, ok := g.keyIdx[key]
		if !ok {
			g.keys = append(g.keys, key)
			k = len(g.keys)
			g.keyIdx[key] = k
		}
		g.items = append(g.items, i)
		g.bucket = append(g.bucket, k)
	}
	return groups
}

// ClaimBatch claims every item in one round trip per slot group (one, when
// the items share campaign and shard). Per-item answers, same semantics as
// Claim; an item with an empty campaign or user has Claim.Err = ErrKey. An
// error means nothing is known. ClaimBatch makes new tokens: called again,
// a claim the lost call won stays Busy until its lease ends. To retry
// without that, make the tokens first (NewAttempt) and call
// ClaimBatchWith with the same tokens each time.
func (f *Fence) ClaimBatch(ctx context.Context, items []Item) ([]Claim, error) {
	tokens := make([]string, len(items))
	for i := range tokens {
		t, err := NewAttempt()
		if err != nil {
			return nil, err
		}
		tokens[i] = t
	}
	return f.claimBatchWith(ctx, items, tokens)
}

// ClaimBatchWith is ClaimBatch with the caller's tokens (one per item,
// from NewAttempt): the same call made again after a lost reply finds the
// keys it won its own (Won again, same token) and answers the others as
// before.
func (f *Fence) ClaimBatchWith(ctx context.Context, items []Item, tokens []string) ([]Claim, error) {
	if len(tokens) != len(items) {
		return nil, fmt.Errorf("fence: claim: %d tokens for %d items", len(tokens), len(items))
	}
	for _, t := range tokens {
		if !validToken(t) {
			return nil, fmt.Errorf("fence: claim: token %q is not an attempt id (NewAttempt)", t)
		}
	}
	return f.claimBatchWith(ctx, items, tokens)
}

// validToken: a token is written into the record between '|'s and into SES
// tags: base64url characters only.
func validToken(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// claimBatchWith claims with the given tokens.
func (f *Fence) claimBatchWith(ctx context.Context, items []Item, tokens []string) ([]Claim, error) {
	claims := make([]Claim, len(items))
	l, _, err := f.loadLayout(ctx, true)
	if err != nil {
		return nil, err
	}
	groups := f.group(l, len(items), func(i int) Item { return items[i] }, func(i int) { claims[i].Err = ErrKey })
	for _, g := range groups {
		args := make([]any, 0, 6+3*len(g.items))
		args = append(args, f.leaseNow(), ms(f.cfg.Lease), string(f.cfg.OnAbandoned), heldReason, ms(f.cfg.Retention), ms(f.cfg.ResolveAfter))
		for j, i := range g.items {
			args = append(args, g.bucket[j], items[i].User, tokens[i])
		}
		var res []any
		err := f.call(ctx, "claim", func(ctx context.Context) error {
			var err error
			res, err = claimScript.Run(ctx, f.rdb, g.keys, args...).Slice()
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(res) != 2*len(g.items) {
			return nil, fmt.Errorf("fence: claim: unexpected script reply of %d values for %d items", len(res), len(g.items))
		}
		for j, i := range g.items {
			outcome, _ := res[2*j].(string)
			prev, _ := res[2*j+1].(string)
			claims[i], err = claimAnswer(outcome, prev, tokens[i])
			if err != nil {
				claims[i] = Claim{Err: fmt.Errorf("fence: claim %s %s: %w", g.keys[g.bucket[j]-1], items[i].User, err)}
			}
		}
	}
	return claims, nil
}

// claimAnswer makes the Claim of one script answer.
func claimAnswer(outcome, prev, token string) (Claim, error) {
	var c Claim
	if outcome == "bad" {
		return c, fmt.Errorf("%w %q", errBadValue, prev)
	}
	if prev != "" {
		var err error
		if c.Record, err = decodeValue(prev); err != nil {
			return c, err
		}
	}
	switch outcome {
	case "won":
		c.Outcome, c.Token = Won, token
	case "reclaimed":
		c.Outcome, c.Token, c.Reclaimed = Won, token, true
	case "resolved":
		c.Outcome, c.Token, c.Resolved = Won, token, true
	case "busy":
		c.Outcome = Busy
	case "held":
		c.Outcome = Held
	case "unsettled":
		c.Outcome = Unsettled
	case "done":
		c.Outcome = Done
	default:
		return c, fmt.Errorf("unexpected script outcome %q", outcome)
	}
	return c, nil
}

// ArmBatch arms every (item, token); errs[i] is nil or ErrNotOwner (do not
// send i), or ErrKey. err is a call error: nothing is known, and the same
// call may be made again.
func (f *Fence) ArmBatch(ctx context.Context, items []Item, tokens []string) (errs []error, err error) {
	if len(tokens) != len(items) {
		return nil, fmt.Errorf("fence: arm: %d tokens for %d items", len(tokens), len(items))
	}
	ops := make([]markOp, len(items))
	for i := range items {
		ops[i] = markOp{Item: items[i], token: tokens[i], op: "arm", mode: modeArm}
	}
	return f.markOps(ctx, ops)
}

// MarkBatch records every mark in one round trip per slot group. errs[i]
// is nil, ErrNotOwner, ErrSentOverLostClaim or ErrResendSpent exactly as
// the single methods (or ErrKey). err is a call error: nothing is known,
// and the same call may be made again (a mark the record already holds
// succeeds).
func (f *Fence) MarkBatch(ctx context.Context, marks []Mark) (errs []error, err error) {
	ops := make([]markOp, len(marks))
	for i, m := range marks {
		o := markOp{Item: m.Item, token: m.Token, op: m.Op.String(), detail: cutReason(m.Reason)}
		switch m.Op {
		case OpSent:
			o.mode, o.detail = modeSent, packMessageID(m.MessageID)
		case OpResendable:
			o.mode = modeResendable
		case OpRelease:
			o.mode, o.detail = modeDel, ""
		case OpFailed:
			o.mode, o.tag = modeTerminal, stateTags[Failed]
		case OpAmbiguous:
			o.mode, o.tag = modeTerminal, stateTags[Ambiguous]
		case OpDeadLettered:
			o.mode, o.tag = modeTerminal, stateTags[DeadLettered]
		case OpExpired:
			o.mode, o.tag, o.detail = modeTerminal, stateTags[Expired], ""
		case OpCancelled:
			o.mode, o.tag, o.detail = modeTerminal, stateTags[Cancelled], ""
		default:
			return nil, fmt.Errorf("fence: mark: unknown op %d", m.Op)
		}
		ops[i] = o
	}
	return f.markOps(ctx, ops)
}

// markOp is one item of markScript.
type markOp struct {
	Item
	token, op, mode, detail string
	tag                     byte // modeTerminal
}

// The answers of markScript.
const (
	markBad         = -1
	markRefused     = 0
	markDone        = 1
	markSentWins    = 2
	markResendSpent = 3
)

func (f *Fence) markOps(ctx context.Context, ops []markOp) ([]error, error) {
	errs := make([]error, len(ops))
	l, _, err := f.loadLayout(ctx, true)
	if err != nil {
		return nil, err
	}
	groups := f.group(l, len(ops), func(i int) Item { return ops[i].Item }, func(i int) { errs[i] = ErrKey })
	for _, g := range groups {
		args := make([]any, 0, 3+6*len(g.items))
		args = append(args, f.leaseNow(), ms(f.cfg.Lease), ms(f.cfg.Retention))
		for j, i := range g.items {
			o := ops[i]
			tag := ""
			if o.tag != 0 {
				tag = string(o.tag)
			}
			args = append(args, g.bucket[j], o.User, o.token, o.mode, tag, o.detail)
		}
		var res []int64
		err := f.call(ctx, "mark", func(ctx context.Context) error {
			var err error
			res, err = markScript.Run(ctx, f.rdb, g.keys, args...).Int64Slice()
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(res) != len(g.items) {
			return nil, fmt.Errorf("fence: mark: unexpected script reply of %d values for %d items", len(res), len(g.items))
		}
		for j, i := range g.items {
			o := ops[i]
			switch res[j] {
			case markDone:
			case markRefused:
				errs[i] = fmt.Errorf("fence: %s %s %s: %w", o.op, g.keys[g.bucket[j]-1], o.User, ErrNotOwner)
			case markSentWins:
				errs[i] = ErrSentOverLostClaim
			case markResendSpent:
				errs[i] = ErrResendSpent
			case markBad:
				errs[i] = fmt.Errorf("fence: %s %s %s: %w", o.op, g.keys[g.bucket[j]-1], o.User, errBadValue)
			default:
				errs[i] = fmt.Errorf("fence: %s: unexpected script answer %d", o.op, res[j])
			}
		}
	}
	return errs, nil
}
