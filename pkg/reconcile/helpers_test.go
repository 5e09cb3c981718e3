package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
)

var testKey = []byte(strings.Repeat("k", 32))

// fakeFence models the fence's Settle (pkg/fence's documented rules) on a
// map, with injectable Redis failures.
type fakeFence struct {
	mu    sync.Mutex
	recs  map[[2]string]Record
	fail  int // the next fail calls answer an error
	calls int
	// invalid users get ErrInvalid (a key the fence cannot read).
	invalid map[string]bool
}

func newFakeFence() *fakeFence { return &fakeFence{recs: map[[2]string]Record{}} }

func (f *fakeFence) put(campaign, user string, r Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[[2]string{campaign, user}] = r
}

func (f *fakeFence) get(campaign, user string) Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recs[[2]string{campaign, user}]
}

var factRank = map[Fact]int{FactNone: 0, FactDelivered: 1, FactBounced: 2, FactComplained: 3}

func (f *fakeFence) Settle(_ context.Context, e SettleEvent) (Settlement, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail > 0 {
		f.fail--
		return Settlement{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	if f.invalid[e.User] {
		return Settlement{}, fmt.Errorf("%w: fence: unrecognised value", ErrInvalid)
	}
	k := [2]string{e.Campaign, e.User}
	prev, ok := f.recs[k]
	if !ok {
		return Settlement{Outcome: Unknown}, nil
	}
	s := Settlement{Prev: prev, Now: prev}
	switch {
	case prev.Attempt != e.Attempt:
		s.Outcome = OtherAttempt
		return s, nil
	case e.Verdict == VerdictFailed && prev.State == StateFailed:
		s.Outcome = Already
	case e.Verdict == VerdictFailed:
		s.Outcome = Settled
		s.Now = Record{State: StateFailed, Attempt: e.Attempt, Reason: e.Reason, ByEvent: true, At: time.Unix(1000, 0)}
	case prev.State == StateFailed:
		s.Outcome = Already
	case prev.State == StateSent && factRank[e.Fact] > factRank[prev.Fact]:
		s.Outcome = FactAdded
		s.Now.Fact = e.Fact
	case prev.State == StateSent:
		s.Outcome = Already
	default:
		s.Outcome = Settled
		s.Now = Record{State: StateSent, Attempt: e.Attempt, MessageID: e.MessageID, Fact: e.Fact, ByEvent: true, At: time.Unix(1000, 0)}
	}
	f.recs[k] = s.Now
	return s, nil
}

// fakeKafka keeps the produced records; failing makes every produce fail.
type fakeKafka struct {
	mu      sync.Mutex
	recs    []*kgo.Record
	failing bool
	// failNext fails the next produces.
	failNext int
	calls    int
	// hold, when set, makes the next produce wait until it is closed.
	hold chan struct{}
}

func (k *fakeKafka) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	k.mu.Lock()
	if h := k.hold; h != nil {
		k.hold = nil
		k.calls++
		k.mu.Unlock()
		<-h
		k.mu.Lock()
		k.calls--
	}
	defer k.mu.Unlock()
	k.calls++
	fail := k.failing || k.failNext > 0
	if k.failNext > 0 {
		k.failNext--
	}
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		out[i].Record = r
		if fail {
			out[i].Err = kgo.ErrRecordTimeout
			continue
		}
		k.recs = append(k.recs, r)
	}
	return out
}

func (k *fakeKafka) setFailing(v bool) {
	k.mu.Lock()
	k.failing = v
	k.mu.Unlock()
}

func (k *fakeKafka) ledger(t *testing.T) []ledger.Entry {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []ledger.Entry
	for _, r := range k.recs {
		if r.Topic == testTopics.Ledger() {
			e, err := ledger.Decode(r.Value)
			require.NoError(t, err)
			out = append(out, e)
		}
	}
	return out
}

func (k *fakeKafka) dlq() []*kgo.Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*kgo.Record
	for _, r := range k.recs {
		if r.Topic == testTopics.DLQ() {
			out = append(out, r)
		}
	}
	return out
}

var testTopics = kafka.Topics{Prefix: "t"}

type rig struct {
	r     *Reconciler
	fence *fakeFence
	kafka *fakeKafka
	queue *Memory
	reg   *prometheus.Registry
}

func newRig(t *testing.T) *rig {
	t.Helper()
	g := &rig{fence: newFakeFence(), kafka: &fakeKafka{}, queue: &Memory{Visibility: time.Hour, Wait: 10 * time.Millisecond}, reg: prometheus.NewRegistry()}
	r, err := New(Config{Topics: testTopics, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		Deps{Settler: g.fence, Producer: g.kafka, Source: g.queue, UserKey: testKey, Registerer: g.reg})
	require.NoError(t, err)
	g.r = r
	return g
}

// step receives what the queue holds and runs one batch on it.
func (g *rig) step(t *testing.T, ctx context.Context) {
	t.Helper()
	msgs, err := g.queue.Receive(ctx)
	require.NoError(t, err)
	g.r.batch(ctx, msgs)
}

// redeliver makes every message in the queue visible again.
func (g *rig) redeliver(t *testing.T) {
	t.Helper()
	g.queue.mu.Lock()
	for _, m := range g.queue.msgs {
		m.visible = time.Time{}
	}
	g.queue.mu.Unlock()
}

// sesJSON is an SES event record for (campaign, user, attempt).
type evSpec struct {
	typ, campaign, user, attempt, msgID string
	extra                               map[string]any
	tags                                map[string][]string // overrides the tags
}

func sesJSON(t testing.TB, s evSpec) []byte {
	t.Helper()
	tags := s.tags
	if tags == nil {
		ref, err := pseudonym.SealUserRef(testKey, s.user)
		require.NoError(t, err)
		tags = map[string][]string{
			"ses:configuration-set": {"sendonce"}, TagCampaign: {s.campaign}, TagAttempt: {s.attempt},
			TagUserRef: {ref}, "user_hash": {pseudonym.UserHash(testKey, s.user)},
		}
	}
	if s.msgID == "" {
		s.msgID = "ses-" + s.user + "-" + s.attempt
	}
	ev := map[string]any{
		"eventType": s.typ,
		"mail": map[string]any{
			"timestamp": "2026-11-30T07:00:00.000Z", "source": "news@example.com", "messageId": s.msgID,
			"destination": []string{"user@example.com"}, "tags": tags,
		},
	}
	for k, v := range s.extra {
		ev[k] = v
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

// snsWrap puts an event in an SNS notification envelope.
func snsWrap(t testing.TB, event []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "a1b2", "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
		"Message": string(event), "Timestamp": "2026-11-30T07:00:01.000Z", "SignatureVersion": "1",
	})
	require.NoError(t, err)
	return b
}

var (
	bounceHard = map[string]any{"bounce": map[string]any{"bounceType": "Permanent", "bounceSubType": "General"}}
	bounceSoft = map[string]any{"bounce": map[string]any{"bounceType": "Transient", "bounceSubType": "MailboxFull"}}
	rejectBad  = map[string]any{"reject": map[string]any{"reason": "Bad content"}}
	renderFail = map[string]any{"failure": map[string]any{"templateName": "MyTemplate", "errorMessage": "Attribute 'name' is not present in the rendering data."}}
)
