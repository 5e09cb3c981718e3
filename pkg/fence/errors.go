package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	// ErrNotOwner is returned by Arm, MarkSent, Release and the other Mark
	// methods when the token no longer owns the key: its lease was taken
	// over by another claim, or the key was settled by someone else. The
	// caller must not send (Arm) and must not assume its outcome was
	// recorded in the fence (Mark*); the ledger still gets the truth.
	ErrNotOwner = errors.New("fence: token does not own the key (lease taken over or key settled by another owner)")

	// ErrUnavailable wraps every error that means Redis could not be
	// reached or cannot serve right now (connection refused or reset,
	// timeout, loading, read-only replica, cluster down). The sender stops
	// taking work and retries later; it is not a verdict on the job. Is
	// REDIS_URL right and Redis up?
	ErrUnavailable = errors.New("fence: redis unavailable")

	// ErrSentOverLostClaim is returned by MarkSent when the sent record was
	// written although this token no longer owned the key (Redis lost it in
	// a failover, or another claim took the lease and had not settled).
	// The email is recorded as sent: the caller carries on as after a
	// normal MarkSent, and may count or log it.
	ErrSentOverLostClaim = errors.New("fence: sent recorded over a lost claim")

	// ErrResendSpent is returned by MarkResendable when the attempt was
	// already the one resend --on-ambiguous resend allows: hold it instead.
	ErrResendSpent = errors.New("fence: the one resend of this user was already used")

	// ErrKey is returned when a campaign or user id is empty.
	ErrKey = errors.New("fence: campaign and user must not be empty")
)

// Server replies that mean "not now" rather than "wrong".
var unavailablePrefixes = []string{
	"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY", "ERR max number of clients",
}

// unavailable reports whether err is about reaching or using Redis rather
// than about what was asked.
func unavailable(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range unavailablePrefixes {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	// Not a reply from the server: network, timeout, pool or closed client.
	return true
}

// wrap names the operation and classifies err. ctx is the caller's context:
// when it is done, the error is the caller's, not Redis's.
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("fence: %s: %w (%w)", op, cerr, err)
	}
	if ctx.Err() == nil && !errors.Is(err, context.Canceled) && unavailable(err) {
		return fmt.Errorf("fence: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("fence: %s: %w", op, err)
}
