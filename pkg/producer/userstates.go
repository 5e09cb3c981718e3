package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
)

// userStates joins a campaign's membership records with its ledger entries,
// read in one streaming pass over both topics. Both are keyed
// "<campaign>:<user_id>"; a 128-bit hash of the key stands for the user (as
// in userSet) and two bytes say whether it is a member and its latest ledger
// state, about 40 bytes a user: a million users in some 40 MiB.
type userStates struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]userState
	names  []ledger.State // userState.state-1 indexes it
	index  map[ledger.State]uint8
	// reasons are the distinct reasons of the entries that are not sent
	// (userState.reason-1 indexes it), for status's top failure reasons.
	reasons     []string
	reasonIndex map[string]uint16
	// activity times the settling entries, for status's rate and ETA.
	activity activity
}

type userState struct {
	member bool
	state  uint8  // 0: no ledger entry
	reason uint16 // 0: none (or sent)
	// fact is the SES fact of a sent user's latest entry (factIndex);
	// byEvent is true when its sent state came from an entry `sender
	// reconcile` settled (reason settled_by_event), and stays true over the
	// later entries that only add a fact or repeat sent.
	fact    uint8
	byEvent bool
}

// factIndex numbers the facts of sent entries (ledger.Entry.Fact) for
// userState.fact; 0 is none (or one this version does not know).
var factIndex = map[string]uint8{ledger.FactDelivered: 1, ledger.FactBounced: 2, ledger.FactComplained: 3}

func newUserStates() *userStates {
	return &userStates{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: map[[2]uint64]userState{}, index: map[ledger.State]uint8{}, reasonIndex: map[string]uint16{}}
}

func (u *userStates) key(k []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(u.s1, k), maphash.Bytes(u.s2, k)}
}

func (u *userStates) put(k [2]uint64, s userState) {
	if !s.member && s.state == 0 {
		delete(u.m, k)
		return
	}
	u.m[k] = s
}

// setMember records a membership record (member) or its tombstone.
func (u *userStates) setMember(key []byte, member bool) {
	k := u.key(key)
	s := u.m[k]
	s.member = member
	u.put(k, s)
}

// setState records a user's latest ledger state; "" is a tombstone.
func (u *userStates) setState(key []byte, st ledger.State) error {
	_, err := u.setEntry(key, statusFields{State: st})
	return err
}

// maxReasonText is how much of a reason groups it: the start of an error
// names its kind, the rest (ids, times) would split one kind into many.
const maxReasonText = 120

// setEntry records a user's latest ledger entry: state, reason, fact. It
// returns the user's state before it ("" for none).
func (u *userStates) setEntry(key []byte, e statusFields) (prev ledger.State, err error) {
	st, reason := e.State, e.Reason
	k := u.key(key)
	s := u.m[k]
	if s.state != 0 {
		prev = u.names[s.state-1]
	}
	byEvent := st == ledger.Sent && (reason == ledger.ReasonSettledByEvent || prev == ledger.Sent && s.byEvent)
	s.state, s.reason, s.fact, s.byEvent = 0, 0, 0, byEvent
	if st == ledger.Sent {
		s.fact = factIndex[e.Fact]
	}
	if reason != "" && st != ledger.Sent {
		if len(reason) > maxReasonText {
			reason = reason[:maxReasonText]
		}
		i, ok := u.reasonIndex[reason]
		if !ok && len(u.reasons) < 1<<16-2 {
			u.reasons = append(u.reasons, reason)
			i = uint16(len(u.reasons))
			u.reasonIndex[reason] = i
		}
		s.reason = i // 0 once there are too many distinct reasons: uncounted
	}
	if st != "" {
		i, ok := u.index[st]
		if !ok {
			if len(u.names) == 255 {
				return prev, fmt.Errorf("more than 255 distinct ledger states (the last %q): is something else writing to the ledger?", st)
			}
			u.names = append(u.names, st)
			i = uint8(len(u.names))
			u.index[st] = i
		}
		s.state = i
	}
	u.put(k, s)
	return prev, nil
}

// count returns the number of members and, per latest ledger state, how
// many users have it: members only, or (membersOnly false) every user with
// a ledger entry.
func (u *userStates) count(membersOnly bool) (members int64, byState map[ledger.State]int64) {
	byState = map[ledger.State]int64{}
	for _, s := range u.m {
		if s.member {
			members++
		}
		if s.state != 0 && (s.member || !membersOnly) {
			byState[u.names[s.state-1]]++
		}
	}
	return members, byState
}

// sentFacts counts, among the users whose latest state is sent (members
// only, or every user), those settled by an SES event and those per fact.
func (u *userStates) sentFacts(membersOnly bool) (byEvent int64, facts map[string]int64) {
	facts = map[string]int64{}
	names := map[uint8]string{}
	for f, i := range factIndex {
		names[i] = f
	}
	for _, s := range u.m {
		if s.state == 0 || !(s.member || !membersOnly) || u.names[s.state-1] != ledger.Sent {
			continue
		}
		if s.byEvent {
			byEvent++
		}
		if s.fact != 0 {
			facts[names[s.fact]]++
		}
	}
	return byEvent, facts
}

// reasonCounts counts, per (latest state, reason), the users whose latest
// entry is not sent and has a reason: members only, or every user.
func (u *userStates) reasonCounts(membersOnly bool) map[stateReason]int64 {
	out := map[stateReason]int64{}
	for _, s := range u.m {
		if s.reason != 0 && s.state != 0 && (s.member || !membersOnly) {
			out[stateReason{u.names[s.state-1], u.reasons[s.reason-1]}]++
		}
	}
	return out
}

type stateReason struct {
	state  ledger.State
	reason string
}

// readUserStates reads the ledger topic, and the membership topic when
// withMembers, to their ends and keeps the records of campaign.
// now starts the window of the activity (status's rate); zero skips it.
func readUserStates(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string, withMembers bool, now time.Time) (*userStates, error) {
	var (
		prefix  = kafka.LedgerKey(campaign, "")
		members = MembersTopic(topics)
		read    = []string{topics.Ledger()}
		u       = newUserStates()
		decErr  error
	)
	u.activity.start(now)
	if withMembers {
		read = append(read, members)
	}
	err := kafka.ReadToEnd(ctx, cl, read, func(r *kgo.Record) error {
		if !bytes.HasPrefix(r.Key, prefix) {
			return nil
		}
		if r.Topic == members {
			u.setMember(r.Key, r.Value != nil)
			return nil
		}
		if r.Value == nil {
			return u.setState(r.Key, "")
		}
		e, err := decodeStatusFields(r.Value)
		if err != nil {
			if decErr == nil {
				decErr = fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			return nil
		}
		prev, err := u.setEntry(r.Key, e)
		// A fact SES reported for a user already sent settles nobody: it
		// does not count in the rate.
		if terminal(e.State) && !(e.State == ledger.Sent && prev == ledger.Sent) {
			u.activity.add(r.Timestamp)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the membership and the ledger: %w", err)
	}
	if decErr != nil {
		return nil, fmt.Errorf("reading the ledger: %w", decErr)
	}
	return u, nil
}

// alreadySent counts the users of campaign whose latest ledger state is
// sent, members or not: the end-of-run summary's "already sent". It skips
// the membership topic, which the run has just filled.
func alreadySent(ctx context.Context, cl *kgo.Client, topics kafka.Topics, campaign string) (int64, error) {
	u, err := readUserStates(ctx, cl, topics, campaign, false, time.Time{})
	if err != nil {
		return 0, err
	}
	_, byState := u.count(false)
	return byState[ledger.Sent], nil
}

// statusFields are the fields of a ledger entry status counts.
type statusFields struct {
	State  ledger.State `json:"state"`
	Reason string       `json:"reason"`
	Fact   string       `json:"fact"`
}

// decodeStatusFields reads only the state, reason and fact of a ledger
// record value, in one pass: status reads every entry of a campaign, and
// building whole entries (ledger.Decode) would spend most of its time.
func decodeStatusFields(b []byte) (statusFields, error) {
	var e statusFields
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decoding ledger entry: %w", err)
	}
	if e.State == "" {
		return e, fmt.Errorf("decoding ledger entry: state is required")
	}
	return e, nil
}
