package fence

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// State is the phase of a fence key.
type State string

// The states. Claimed and Sending are in flight; the others are terminal.
const (
	Claimed      State = "claimed"
	Sending      State = "sending"
	Sent         State = "sent"
	Failed       State = "failed"
	Ambiguous    State = "ambiguous"
	DeadLettered State = "dead_lettered"
	Expired      State = "expired"
	// Resendable is an ambiguous outcome released for the one resend that
	// --on-ambiguous resend allows. It is neither in flight nor terminal:
	// the next Claim takes it (Reclaimed).
	Resendable State = "resendable"
	// Cancelled: the campaign was cancelled before this user was sent.
	Cancelled State = "cancelled"
)

// Terminal reports whether s settles the key: Claim answers Done.
func (s State) Terminal() bool {
	switch s {
	case Sent, Failed, Ambiguous, DeadLettered, Expired, Cancelled:
		return true
	}
	return false
}

// The one-letter tags of the stored values. The Lua scripts know them too.
var stateTags = map[State]byte{
	Claimed: 'c', Sending: 'n', Sent: 's', Failed: 'f', Ambiguous: 'a', DeadLettered: 'd', Expired: 'e', Resendable: 'r', Cancelled: 'x',
}

// The in-flight tags of the one resend (--on-ambiguous resend).
const (
	resendClaimedTag = 'C'
	resendSendingTag = 'N'
)

func stateOf(tag byte) (State, bool) {
	switch tag {
	case resendClaimedTag:
		return Claimed, true
	case resendSendingTag:
		return Sending, true
	}
	for s, t := range stateTags {
		if t == tag {
			return s, true
		}
	}
	return "", false
}

// Record is what a fence key holds.
type Record struct {
	State State
	// Owner is the token of the holder (in-flight states only).
	Owner string
	// Deadline is when the lease ends (in-flight states only).
	Deadline time.Time
	// MessageID is the SES message id (Sent only).
	MessageID string
	// At is when the terminal state was recorded.
	At time.Time
	// Reason says why (failed, ambiguous, dead_lettered, resendable), cut
	// to MaxReason bytes: the ledger keeps the full text.
	Reason string
	// Resend is set on an in-flight record of the one resend that
	// --on-ambiguous resend allows: if it is abandoned too, it is held.
	Resend bool
}

// MaxReason is the longest reason a fence record keeps, in bytes.
const MaxReason = 64

// errBadValue is returned when a key holds something this package did not
// write.
var errBadValue = errors.New("fence: unrecognised value")

// inflightValue encodes a claimed or sending key: c|<deadline ms>|<token>.
func inflightValue(s State, deadline time.Time, token string) string {
	return string(stateTags[s]) + "|" + strconv.FormatInt(deadline.UnixMilli(), 10) + "|" + token
}

// terminalValue encodes a terminal record: s|<at ms>|<message id>,
// f|<at ms>|<reason>, ...
func terminalValue(s State, at time.Time, detail string) string {
	return string(stateTags[s]) + "|" + strconv.FormatInt(at.UnixMilli(), 10) + "|" + detail
}

// resendableValue encodes a key released for its one resend:
// r|<at ms>|<reason>.
func resendableValue(at time.Time, reason string) string {
	return string(stateTags[Resendable]) + "|" + strconv.FormatInt(at.UnixMilli(), 10) + "|" + reason
}

// encodeRecord is terminalValue for a whole Record (Restore).
func encodeRecord(r Record) (string, error) {
	if !r.State.Terminal() {
		return "", fmt.Errorf("fence: cannot store a %q record: only terminal states can be restored", r.State)
	}
	detail := cutReason(r.Reason)
	if r.State == Sent {
		detail = packMessageID(r.MessageID)
	}
	return terminalValue(r.State, r.At, detail), nil
}

// decodeValue parses a stored value.
func decodeValue(v string) (Record, error) {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 || len(parts[0]) != 1 {
		return Record{}, fmt.Errorf("%w %q", errBadValue, v)
	}
	s, ok := stateOf(parts[0][0])
	if !ok {
		return Record{}, fmt.Errorf("%w %q: unknown state tag", errBadValue, v)
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w %q: bad time", errBadValue, v)
	}
	t := time.UnixMilli(ms)
	r := Record{State: s}
	switch s {
	case Claimed, Sending:
		r.Deadline, r.Owner = t, parts[2]
		r.Resend = parts[0][0] == resendClaimedTag || parts[0][0] == resendSendingTag
	case Sent:
		r.At, r.MessageID = t, unpackMessageID(parts[2])
	default:
		r.At, r.Reason = t, parts[2]
	}
	return r, nil
}

// cutReason keeps at most MaxReason bytes of r, on a rune boundary.
func cutReason(r string) string {
	if len(r) <= MaxReason {
		return r
	}
	r = r[:MaxReason]
	for len(r) > 0 && !utf8.ValidString(r) {
		r = r[:len(r)-1]
	}
	return r
}

// SES message ids look like
// 0100018c7e3a2b1f-9f6a2c1e-3b7d-4e2a-8f1c-2d9e6b5a4c3f-000000: hex groups
// of 16-8-4-4-4-12-6. Stored as hex they are 60 bytes and push a sent record
// over Redis's 44-byte embedded-string limit, so an id of exactly that shape
// is stored as packedTag followed by its 27 bytes. Anything else is stored
// verbatim.
const packedTag = "\x01"

var sesGroups = [...]int{16, 8, 4, 4, 4, 12, 6}

func packMessageID(id string) string {
	groups := strings.Split(id, "-")
	if len(groups) != len(sesGroups) {
		return id
	}
	for i, g := range groups {
		if len(g) != sesGroups[i] || strings.Trim(g, "0123456789abcdef") != "" {
			return id
		}
	}
	b, err := hex.DecodeString(strings.Join(groups, ""))
	if err != nil {
		return id
	}
	return packedTag + string(b)
}

func unpackMessageID(v string) string {
	if len(v) != 28 || v[:1] != packedTag {
		return v
	}
	h := hex.EncodeToString([]byte(v[1:]))
	var sb strings.Builder
	sb.Grow(60)
	for i, n := range sesGroups {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(h[:n])
		h = h[n:]
	}
	return sb.String()
}
