package fence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outcome is the answer of Claim.
type Outcome int

// The outcomes.
const (
	// Won: the caller holds the key and may send (after Arm).
	Won Outcome = iota
	// Done: the key is settled (Record says how); skip the job, a
	// duplicate was prevented.
	Done
	// Busy: another owner holds a live lease; try again later.
	Busy
	// Held: an owner abandoned the key while sending and the policy is
	// Hold; this call marked it ambiguous (keeping the abandoned attempt,
	// so that its SES events can settle it). Skip the job and record it as
	// ambiguous.
	Held
	// Unsettled: the key is ambiguous (marked so, or Held) and
	// Config.ResolveAfter has not passed since: an SES event may still
	// settle it (Settle). Skip the job for now and try again later. Once
	// the window has passed, Claim answers Won with Resolved: declared not
	// sent, the caller sends it again. With ResolveAfter 0, ambiguous is
	// final (Done).
	Unsettled
)

func (o Outcome) String() string {
	switch o {
	case Won:
		return "won"
	case Done:
		return "done"
	case Busy:
		return "busy"
	case Held:
		return "held"
	case Unsettled:
		return "unsettled"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Claim is the answer of Fence.Claim.
type Claim struct {
	Outcome Outcome
	// Token is the owner token, set when Won: pass it to Arm, MarkSent,
	// Release and the other Mark methods. It is also the attempt id (8
	// random bytes, base64url: 11 characters of A-Za-z0-9-_, a valid SES
	// tag value) that the record keeps and SES events name.
	Token string
	// Reclaimed is set when Won over an abandoned sending key (policy
	// Resend): the email may already have been sent once.
	Reclaimed bool
	// Resolved is set when Won over an ambiguous record whose
	// Config.ResolveAfter window passed without an SES event: declared not
	// sent.
	Resolved bool
	// Record is what the key held before this call (for Done, Busy, Held,
	// Unsettled, and Won over an expired lease or a resolved record).
	Record Record
	// Err is set, in a ClaimBatch answer, for an item that could not be
	// claimed on its own (ErrKey, or a value this package did not write);
	// the other fields are then zero.
	Err error
}

// Fence is the idempotency fence. It is safe for concurrent use.
type Fence struct {
	rdb redis.UniversalClient
	cfg Config
	now func() time.Time
	// redisClock is set when no clock was injected: lease deadlines are
	// then computed and compared on Redis's clock (TIME), the one clock
	// every sender shares.
	redisClock bool
	// layout is the established layout, loaded once (layoutMu serialises
	// the loading).
	layout   atomic.Pointer[Layout]
	layoutMu sync.Mutex
}

// New returns a Fence on rdb. now is the clock of the tests: nil in
// production, where lease deadlines and recorded times come from Redis's
// TIME (one clock for every sender; a stepped node clock cannot end
// another sender's lease). A non-nil now is used for both.
func New(rdb redis.UniversalClient, cfg Config, now func() time.Time) (*Fence, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: no redis client", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Fence{rdb: rdb, cfg: cfg, now: now}
	if now == nil {
		f.now, f.redisClock = time.Now, true
	}
	return f, nil
}

// leaseNow is the "now" argument of the scripts: -1 asks them to read
// Redis's TIME.
func (f *Fence) leaseNow() int64 {
	if f.redisClock {
		return -1
	}
	return f.now().UnixMilli()
}

// Config returns the validated configuration.
func (f *Fence) Config() Config { return f.cfg }

// Key returns the Redis key of the hash (bucket) that holds the record of
// (campaign, user), whose field is user:
// <prefix>:f:{<campaign>:<shard>}:<bucket>. It uses the established layout,
// or Config's when none was loaded yet (call Establish first to be sure).
func (f *Fence) Key(campaign, user string) string {
	k, _ := f.currentLayout().key(f.cfg.Prefix, campaign, user)
	return k
}

// NewAttempt returns a new owner token (attempt id): 8 random bytes in
// base64url, 11 characters of A-Za-z0-9-_ (a valid SES tag value).
func NewAttempt() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("fence: making an owner token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// call runs fn with the per-call timeout and classifies its error.
func (f *Fence) call(ctx context.Context, op string, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if err := fn(cctx); err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// Claim tries to take the key of (campaign, user).
//
//   - absent, or claimed with an expired lease: Won, with a new token and a
//     lease of Config.Lease.
//   - settled (sent, failed, dead_lettered, expired, cancelled): Done.
//   - ambiguous: Done when Config.ResolveAfter is 0; else Unsettled within
//     the window and Won with Resolved after it.
//   - claimed or sending with a live lease: Busy.
//   - sending with an expired lease: policy Hold marks it ambiguous and
//     answers Held; policy Resend takes it over once: Won with Reclaimed.
//     If that resend is abandoned while sending too, it is Held whatever
//     the policy: --on-ambiguous resend resends a user at most once.
//   - released for its one resend (MarkResendable): Won with Reclaimed.
func (f *Fence) Claim(ctx context.Context, campaign, user string) (Claim, error) {
	cs, err := f.ClaimBatch(ctx, []Item{{Campaign: campaign, User: user}})
	if err != nil {
		return Claim{}, err
	}
	if cs[0].Err != nil {
		return Claim{}, cs[0].Err
	}
	return cs[0], nil
}

// heldReason is the reason of a key found abandoned while sending.
const heldReason = "lease expired while sending"

// mark runs one mark through MarkBatch.
func (f *Fence) mark(ctx context.Context, m Mark) error {
	errs, err := f.MarkBatch(ctx, []Mark{m})
	if err != nil {
		return err
	}
	return errs[0]
}

// Arm moves the key from claimed to sending and renews the lease. Call it
// right before writing the SES request: from now on an abandoned key is
// ambiguous. Arming an already armed key renews its lease.
func (f *Fence) Arm(ctx context.Context, campaign, user, token string) error {
	errs, err := f.ArmBatch(ctx, []Item{{Campaign: campaign, User: user}}, []string{token})
	if err != nil {
		return err
	}
	return errs[0]
}

func item(campaign, user string) Item { return Item{Campaign: campaign, User: user} }

// MarkSent records that SES accepted the email. Sent wins: if this token
// lost the key meanwhile (a Redis failover dropped it, or the lease was
// taken over by a claim that has not settled), the sent record is written
// anyway, because the email did leave; the answer is then ErrSentOverLostClaim
// so the caller can say so. Only a terminal record written by another owner
// (or a failed verdict of an SES event) refuses it (ErrNotOwner); a record
// an SES event already made sent for this attempt accepts it.
func (f *Fence) MarkSent(ctx context.Context, campaign, user, token, messageID string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpSent, MessageID: messageID})
}

// MarkResendable records an ambiguous outcome that --on-ambiguous resend
// may send once more: the key is released for exactly one resend, which the
// next Claim answers with Reclaimed. If this owner's attempt already was the
// resend, nothing changes and the answer is ErrResendSpent: hold it
// (MarkAmbiguous) instead.
func (f *Fence) MarkResendable(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpResendable, Reason: reason})
}

// MarkFailed records a permanent failure.
func (f *Fence) MarkFailed(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpFailed, Reason: reason})
}

// MarkDeadLettered records that the job went to the DLQ. Reopen undoes it
// for a redrive.
func (f *Fence) MarkDeadLettered(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpDeadLettered, Reason: reason})
}

// MarkExpired records that the job expired before it was sent.
func (f *Fence) MarkExpired(ctx context.Context, campaign, user, token string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpExpired})
}

// MarkCancelled records that the campaign was cancelled before this user
// was sent.
func (f *Fence) MarkCancelled(ctx context.Context, campaign, user, token string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpCancelled})
}

// MarkAmbiguous records that the request was written but its outcome is
// unknown (SES answered 5xx or timed out) and the policy is Hold. With
// Config.ResolveAfter, an SES event may settle it (Settle), or a Claim
// declares it not sent once the window has passed.
func (f *Fence) MarkAmbiguous(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpAmbiguous, Reason: reason})
}

// Release deletes the key: the email was surely not sent and the job will
// come back (retry). Releasing a key that is already gone succeeds.
func (f *Fence) Release(ctx context.Context, campaign, user, token string) error {
	return f.mark(ctx, Mark{Item: item(campaign, user), Token: token, Op: OpRelease})
}

// locate is the bucket of (campaign, user) under the stored layout; ok is
// false when no layout is stored (nothing was ever fenced).
func (f *Fence) locate(ctx context.Context, campaign, user string) (key string, ok bool, err error) {
	if campaign == "" || user == "" {
		return "", false, ErrKey
	}
	l, ok, err := f.loadLayout(ctx, false)
	if err != nil || !ok {
		return "", false, err
	}
	key, _ = l.key(f.cfg.Prefix, campaign, user)
	return key, true, nil
}

// Get returns the record of (campaign, user) and whether there is one.
func (f *Fence) Get(ctx context.Context, campaign, user string) (Record, bool, error) {
	key, ok, err := f.locate(ctx, campaign, user)
	if err != nil || !ok {
		return Record{}, false, err
	}
	var v string
	err = f.call(ctx, "get", func(ctx context.Context) error {
		var err error
		v, err = f.rdb.HGet(ctx, key, user).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	r, err := decodeValue(v)
	if err != nil {
		return Record{}, false, fmt.Errorf("fence: get %s %s: %w", key, user, err)
	}
	return r, true, nil
}

// Reopen deletes the record if it is failed or dead-lettered, so that a
// redriven job can be claimed again. It never touches a sent, ambiguous,
// expired or in-flight record. It reports whether it reopened.
func (f *Fence) Reopen(ctx context.Context, campaign, user string) (bool, error) {
	key, ok, err := f.locate(ctx, campaign, user)
	if err != nil || !ok {
		return false, err
	}
	var n int64
	err = f.call(ctx, "reopen", func(ctx context.Context) error {
		var err error
		n, err = reopenScript.Run(ctx, f.rdb, []string{key}, user).Int64()
		return err
	})
	return n == 1, err
}

// Restore writes a terminal record from the ledger if the user has none
// (fence-restore after Redis lost its data). It reports whether it wrote.
// The bucket gets the full retention from now; a zero At becomes now.
func (f *Fence) Restore(ctx context.Context, campaign, user string, rec Record) (bool, error) {
	if campaign == "" || user == "" {
		return false, ErrKey
	}
	if rec.At.IsZero() {
		rec.At = f.now()
	}
	v, err := encodeRecord(rec)
	if err != nil {
		return false, err
	}
	l, _, err := f.loadLayout(ctx, true)
	if err != nil {
		return false, err
	}
	key, _ := l.key(f.cfg.Prefix, campaign, user)
	var n int64
	err = f.call(ctx, "restore", func(ctx context.Context) error {
		var err error
		n, err = restoreScript.Run(ctx, f.rdb, []string{key}, user, v, ms(f.cfg.Retention)).Int64()
		return err
	})
	return n == 1, err
}

// Ping checks that Redis answers.
func (f *Fence) Ping(ctx context.Context) error {
	return f.call(ctx, "ping", func(ctx context.Context) error { return f.rdb.Ping(ctx).Err() })
}
