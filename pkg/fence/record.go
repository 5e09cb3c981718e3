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

// Record is what the fence holds for one user.
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
	// Attempt is the owner token of the claim this record belongs to, in
	// every state after a claim (the abandoned owner's, for a held record);
	// it is the attempt id an SES event names. Empty for a restored record
	// without one.
	Attempt string
	// Fact is the strongest delivery fact an SES event reported (Settle).
	Fact Fact
	// ByEvent is set when an SES event settled the record (sent or failed)
	// rather than the sender's own mark: the ledger's settled_by_event.
	ByEvent bool
}

// MaxReason is the longest reason a fence record keeps, in bytes: with the
// rest of a value (about 30 bytes) it stays within hash-max-listpack-value
// (64), so one long reason does not turn its whole bucket into a hash
// table.
const MaxReason = 32

// errBadValue is returned when a key holds something this package did not
// write.
var errBadValue = errors.New("fence: unrecognised value")

// The flags after the tag of a value: byEventFlag, then the fact digit.
const byEventFlag = '*'

// Facts as stored: one digit, ordered.
var factDigits = map[Fact]byte{FactDelivered: '1', FactBounced: '2', FactComplained: '3'}

// value encodes a record: <tag><flags>|<ms>|<attempt>|<detail>. For the
// in-flight tags ms is the lease deadline and detail is empty; otherwise ms
// is when the state was recorded and detail is the packed message id
// (sent) or the reason.
func value(tag byte, flags string, ms int64, attempt, detail string) string {
	return string(tag) + flags + "|" + strconv.FormatInt(ms, 10) + "|" + attempt + "|" + detail
}

// inflightValue encodes a claimed or sending record.
func inflightValue(s State, deadline time.Time, token string) string {
	return value(stateTags[s], "", deadline.UnixMilli(), token, "")
}

// terminalValue encodes a terminal (or resendable) record of attempt.
func terminalValue(s State, at time.Time, attempt, detail string) string {
	return value(stateTags[s], "", at.UnixMilli(), attempt, detail)
}

// encodeRecord encodes a whole terminal Record (Restore).
func encodeRecord(r Record) (string, error) {
	if !r.State.Terminal() {
		return "", fmt.Errorf("fence: cannot store a %q record: only terminal states can be restored", r.State)
	}
	if strings.Contains(r.Attempt, "|") {
		return "", fmt.Errorf("fence: attempt %q contains '|'", r.Attempt)
	}
	detail := cutReason(r.Reason)
	if r.State == Sent {
		detail = packMessageID(r.MessageID)
	}
	flags := ""
	if r.ByEvent {
		flags += string(byEventFlag)
	}
	if d, ok := factDigits[r.Fact]; ok {
		flags += string(d)
	}
	return value(stateTags[r.State], flags, r.At.UnixMilli(), r.Attempt, detail), nil
}

// decodeValue parses a stored value.
func decodeValue(v string) (Record, error) {
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 || len(parts[0]) < 1 || len(parts[0]) > 3 {
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
	r := Record{State: s, Attempt: parts[2]}
	for _, c := range []byte(parts[0][1:]) {
		switch {
		case c == byEventFlag:
			r.ByEvent = true
		case c >= '1' && c <= '3':
			r.Fact = factOrder[c-'0']
		default:
			return Record{}, fmt.Errorf("%w %q: unknown flag", errBadValue, v)
		}
	}
	switch s {
	case Claimed, Sending:
		r.Deadline, r.Owner = t, parts[2]
		r.Resend = parts[0][0] == resendClaimedTag || parts[0][0] == resendSendingTag
	case Sent:
		r.At, r.MessageID = t, unpackMessageID(parts[3])
	default:
		r.At, r.Reason = t, parts[3]
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
