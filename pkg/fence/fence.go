package fence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
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
	// Hold; this call marked it ambiguous. Skip the job and record it as
	// ambiguous.
	Held
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
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Claim is the answer of Fence.Claim.
type Claim struct {
	Outcome Outcome
	// Token is the owner token, set when Won: pass it to Arm, MarkSent,
	// Release and the other Mark methods.
	Token string
	// Reclaimed is set when Won over an abandoned sending key (policy
	// Resend): the email may already have been sent once.
	Reclaimed bool
	// Record is what the key held before this call (for Done, Busy, Held,
	// and Won over an expired lease).
	Record Record
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
}

// New returns a Fence on rdb. now is the clock of the tests: nil in
// production, where lease deadlines come from Redis's TIME (one clock for
// every sender; a stepped node clock cannot end another sender's lease) and
// the times of terminal records from time.Now. A non-nil now is used for
// both.
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

// Key returns the Redis key of (campaign, user): <prefix>:f:<campaign>:<user>.
func (f *Fence) Key(campaign, user string) string {
	return f.cfg.Prefix + ":f:" + campaign + ":" + user
}

func (f *Fence) key(campaign, user string) (string, error) {
	if campaign == "" || user == "" {
		return "", ErrKey
	}
	return f.Key(campaign, user), nil
}

// newToken returns 12 random bytes in base64url: 16 characters.
func newToken() (string, error) {
	var b [12]byte
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
//   - settled (sent, failed, ambiguous, dead_lettered, expired): Done.
//   - claimed or sending with a live lease: Busy.
//   - sending with an expired lease: policy Hold marks it ambiguous and
//     answers Held; policy Resend takes it over once: Won with Reclaimed.
//     If that resend is abandoned while sending too, it is Held whatever
//     the policy: --on-ambiguous resend resends a user at most once.
//   - released for its one resend (MarkResendable): Won with Reclaimed.
func (f *Fence) Claim(ctx context.Context, campaign, user string) (Claim, error) {
	key, err := f.key(campaign, user)
	if err != nil {
		return Claim{}, err
	}
	token, err := newToken()
	if err != nil {
		return Claim{}, err
	}
	return f.claimWith(ctx, key, token)
}

// claimWith is Claim with a given token: the same call resent after a lost
// reply must find the key its own.
func (f *Fence) claimWith(ctx context.Context, key, token string) (Claim, error) {
	var res []any
	var err error
	err = f.call(ctx, "claim", func(ctx context.Context) error {
		var err error
		res, err = claimScript.Run(ctx, f.rdb, []string{key},
			f.leaseNow(), token, ms(f.cfg.Lease), ms(f.claimTTL()), string(f.cfg.OnAbandoned), heldReason, ms(f.cfg.Retention)).Slice()
		return err
	})
	if err != nil {
		return Claim{}, err
	}
	if len(res) != 2 {
		return Claim{}, fmt.Errorf("fence: claim: unexpected script reply %v", res)
	}
	outcome, _ := res[0].(string)
	prev, _ := res[1].(string)
	var c Claim
	if prev != "" {
		if c.Record, err = decodeValue(prev); err != nil {
			return Claim{}, fmt.Errorf("fence: claim %s: %w", key, err)
		}
	}
	switch outcome {
	case "won":
		c.Outcome, c.Token = Won, token
	case "reclaimed":
		c.Outcome, c.Token, c.Reclaimed = Won, token, true
	case "busy":
		c.Outcome = Busy
	case "held":
		c.Outcome = Held
	case "done":
		c.Outcome = Done
	default:
		return Claim{}, fmt.Errorf("fence: claim: unexpected script outcome %q", outcome)
	}
	return c, nil
}

// claimTTL is the TTL of a claimed key. An expired claim is reclaimable
// anyway, so the key may vanish once the lease is over; the second lease is
// a margin for clock skew between replicas.
func (f *Fence) claimTTL() time.Duration { return 2 * f.cfg.Lease }

// heldReason is the reason of a key found abandoned while sending.
const heldReason = "lease expired while sending"

// The answers of ownerScript.
const (
	ownerRefused     = 0
	ownerDone        = 1
	ownerSentWins    = 2
	ownerResendSpent = 3
)

// owner runs ownerScript and maps "not owner" to ErrNotOwner.
func (f *Fence) owner(ctx context.Context, op, campaign, user, token, mode, value string, ttl time.Duration) (int64, error) {
	key, err := f.key(campaign, user)
	if err != nil {
		return 0, err
	}
	var res int64
	err = f.call(ctx, op, func(ctx context.Context) error {
		var err error
		res, err = ownerScript.Run(ctx, f.rdb, []string{key}, token, mode, value, ms(ttl), f.leaseNow()).Int64()
		return err
	})
	if err != nil {
		return 0, err
	}
	if res == ownerRefused {
		return res, fmt.Errorf("fence: %s %s: %w", op, key, ErrNotOwner)
	}
	return res, nil
}

// Arm moves the key from claimed to sending and renews the lease. Call it
// right before writing the SES request: from now on an abandoned key is
// ambiguous. Arming an already armed key renews its lease.
func (f *Fence) Arm(ctx context.Context, campaign, user, token string) error {
	// A sending key keeps the retention TTL: it must not vanish before a
	// later claim has seen that it was abandoned.
	_, err := f.owner(ctx, "arm", campaign, user, token, "arm", strconv.FormatInt(ms(f.cfg.Lease), 10), f.cfg.Retention)
	return err
}

// MarkSent records that SES accepted the email. Sent wins: if this token
// lost the key meanwhile (a Redis failover dropped it, or the lease was
// taken over by a claim that has not settled), the sent record is written
// anyway, because the email did leave; the answer is then ErrSentOverLostClaim
// so the caller can say so. Only a terminal record written by another owner
// refuses it (ErrNotOwner).
func (f *Fence) MarkSent(ctx context.Context, campaign, user, token, messageID string) error {
	res, err := f.owner(ctx, "mark sent", campaign, user, token, "sent", terminalValue(Sent, f.now(), packMessageID(messageID)), f.cfg.Retention)
	if err == nil && res == ownerSentWins {
		return ErrSentOverLostClaim
	}
	return err
}

// MarkResendable records an ambiguous outcome that --on-ambiguous resend
// may send once more: the key is released for exactly one resend, which the
// next Claim answers with Reclaimed. If this owner's attempt already was the
// resend, nothing changes and the answer is ErrResendSpent: hold it
// (MarkAmbiguous) instead.
func (f *Fence) MarkResendable(ctx context.Context, campaign, user, token, reason string) error {
	res, err := f.owner(ctx, "mark resendable", campaign, user, token, "resendable", resendableValue(f.now(), cutReason(reason)), f.cfg.Retention)
	if err == nil && res == ownerResendSpent {
		return ErrResendSpent
	}
	return err
}

// MarkFailed records a permanent failure.
func (f *Fence) MarkFailed(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, "mark failed", campaign, user, token, Failed, cutReason(reason))
}

// MarkDeadLettered records that the job went to the DLQ. Reopen undoes it
// for a redrive.
func (f *Fence) MarkDeadLettered(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, "mark dead-lettered", campaign, user, token, DeadLettered, cutReason(reason))
}

// MarkExpired records that the job expired before it was sent.
func (f *Fence) MarkExpired(ctx context.Context, campaign, user, token string) error {
	return f.mark(ctx, "mark expired", campaign, user, token, Expired, "")
}

// MarkCancelled records that the campaign was cancelled before this user
// was sent.
func (f *Fence) MarkCancelled(ctx context.Context, campaign, user, token string) error {
	return f.mark(ctx, "mark cancelled", campaign, user, token, Cancelled, "")
}

// MarkAmbiguous records that the request was written but its outcome is
// unknown (SES answered 5xx or timed out) and the policy is Hold.
func (f *Fence) MarkAmbiguous(ctx context.Context, campaign, user, token, reason string) error {
	return f.mark(ctx, "mark ambiguous", campaign, user, token, Ambiguous, cutReason(reason))
}

func (f *Fence) mark(ctx context.Context, op, campaign, user, token string, s State, detail string) error {
	_, err := f.owner(ctx, op, campaign, user, token, "set", terminalValue(s, f.now(), detail), f.cfg.Retention)
	return err
}

// Release deletes the key: the email was surely not sent and the job will
// come back (retry). Releasing a key that is already gone succeeds.
func (f *Fence) Release(ctx context.Context, campaign, user, token string) error {
	_, err := f.owner(ctx, "release", campaign, user, token, "del", "", 0)
	return err
}

// Get returns the record of (campaign, user) and whether there is one.
func (f *Fence) Get(ctx context.Context, campaign, user string) (Record, bool, error) {
	key, err := f.key(campaign, user)
	if err != nil {
		return Record{}, false, err
	}
	var v string
	err = f.call(ctx, "get", func(ctx context.Context) error {
		var err error
		v, err = f.rdb.Get(ctx, key).Result()
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
		return Record{}, false, fmt.Errorf("fence: get %s: %w", key, err)
	}
	return r, true, nil
}

// Reopen deletes the key if it is failed or dead-lettered, so that a
// redriven job can be claimed again. It never touches a sent, ambiguous,
// expired or in-flight key. It reports whether it reopened.
func (f *Fence) Reopen(ctx context.Context, campaign, user string) (bool, error) {
	key, err := f.key(campaign, user)
	if err != nil {
		return false, err
	}
	var n int64
	err = f.call(ctx, "reopen", func(ctx context.Context) error {
		var err error
		n, err = reopenScript.Run(ctx, f.rdb, []string{key}).Int64()
		return err
	})
	return n == 1, err
}

// Restore writes a terminal record from the ledger if the key is absent
// (fence-restore after Redis lost its data). It reports whether it wrote.
// The record gets the full retention from now; a zero At becomes now.
func (f *Fence) Restore(ctx context.Context, campaign, user string, rec Record) (bool, error) {
	key, err := f.key(campaign, user)
	if err != nil {
		return false, err
	}
	if rec.At.IsZero() {
		rec.At = f.now()
	}
	v, err := encodeRecord(rec)
	if err != nil {
		return false, err
	}
	var ok bool
	err = f.call(ctx, "restore", func(ctx context.Context) error {
		var err error
		ok, err = f.rdb.SetNX(ctx, key, v, f.cfg.Retention).Result()
		return err
	})
	return ok, err
}

// Ping checks that Redis answers.
func (f *Fence) Ping(ctx context.Context) error {
	return f.call(ctx, "ping", func(ctx context.Context) error { return f.rdb.Ping(ctx).Err() })
}
