package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/retry"
)

const camp = "2026-11"

func TestSettleOutcomes(t *testing.T) {
	senderSent := Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", At: time.Unix(500, 0)}
	for _, tc := range []struct {
		name string
		// fence is the key before the events (nil: no key).
		fence  *Record
		events []evSpec
		// want are the ledger entries produced, in order (At ignored).
		want []ledger.Entry
		dlq  int
		// final is the fence key after the events.
		final    Record
		outcomes map[string]float64 // "event/outcome" → count
		facts    map[string]float64
		dups     float64
	}{
		{
			name:     "Send settles an ambiguous send",
			fence:    &Record{State: "ambiguous", Attempt: "a1", Reason: "lease expired while sending"},
			events:   []evSpec{{typ: "Send"}},
			want:     []ledger.Entry{{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1"}},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", ByEvent: true},
			outcomes: map[string]float64{"Send/settled": 1},
			facts:    map[string]float64{"sent": 1},
		},
		{
			name:     "an event before the sender's own mark (key still sending)",
			fence:    &Record{State: "sending", Attempt: "a1"},
			events:   []evSpec{{typ: "Send"}},
			want:     []ledger.Entry{{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1"}},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", ByEvent: true},
			outcomes: map[string]float64{"Send/settled": 1},
		},
		{
			name:   "Delivery before Send: settled with the fact, then Send changes nothing",
			fence:  &Record{State: "ambiguous", Attempt: "a1"},
			events: []evSpec{{typ: "Delivery"}, {typ: "Send"}},
			want: []ledger.Entry{
				{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactDelivered},
			},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", ByEvent: true, Fact: FactDelivered},
			outcomes: map[string]float64{"Delivery/settled": 1, "Send/already": 1},
			facts:    map[string]float64{"sent": 1, "delivered": 1},
		},
		{
			name:   "a duplicate Delivery rewrites the entry it made (repairs a write lost in a crash)",
			fence:  &Record{State: "ambiguous", Attempt: "a1"},
			events: []evSpec{{typ: "Delivery"}, {typ: "Delivery"}},
			want: []ledger.Entry{
				{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactDelivered},
				{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactDelivered},
			},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", ByEvent: true, Fact: FactDelivered},
			outcomes: map[string]float64{"Delivery/settled": 1, "Delivery/already": 1},
			facts:    map[string]float64{"delivered": 1},
		},
		{
			name:     "a duplicate Send of a send the sender marked: nothing",
			fence:    &senderSent,
			events:   []evSpec{{typ: "Send"}, {typ: "Send"}},
			final:    senderSent,
			outcomes: map[string]float64{"Send/already": 2},
			facts:    map[string]float64{"sent": 2},
		},
		{
			name:     "hard bounce on a sent user adds the fact",
			fence:    &senderSent,
			events:   []evSpec{{typ: "Bounce", extra: bounceHard}},
			want:     []ledger.Entry{{State: ledger.Sent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactBounced, BounceType: ledger.BounceHard}},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", Fact: FactBounced, At: time.Unix(500, 0)},
			outcomes: map[string]float64{"Bounce/fact_added": 1},
			facts:    map[string]float64{"bounced": 1},
		},
		{
			name:   "complaint after delivery, then a late Delivery: never downgraded",
			fence:  &senderSent,
			events: []evSpec{{typ: "Delivery"}, {typ: "Complaint"}, {typ: "Delivery"}},
			want: []ledger.Entry{
				{State: ledger.Sent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactDelivered},
				{State: ledger.Sent, MessageID: "ses-u-1-a1", AttemptID: "a1", Fact: ledger.FactComplained},
			},
			final:    Record{State: StateSent, Attempt: "a1", MessageID: "ses-u-1-a1", Fact: FactComplained, At: time.Unix(500, 0)},
			outcomes: map[string]float64{"Delivery/fact_added": 1, "Complaint/fact_added": 1, "Delivery/already": 1},
			facts:    map[string]float64{"delivered": 1, "complained": 1},
		},
		{
			name:     "Reject fails the attempt: ledger failed and a DLQ record",
			fence:    &Record{State: "sending", Attempt: "a1"},
			events:   []evSpec{{typ: "Reject", extra: rejectBad}},
			want:     []ledger.Entry{{State: ledger.Failed, Reason: "rejected by SES: Bad content", MessageID: "ses-u-1-a1", AttemptID: "a1"}},
			dlq:      1,
			final:    Record{State: StateFailed, Attempt: "a1", Reason: "rejected by SES: Bad content", ByEvent: true},
			outcomes: map[string]float64{"Reject/settled": 1},
		},
		{
			name:   "Rendering Failure after Send: failed; a late Send then changes nothing",
			fence:  &Record{State: "ambiguous", Attempt: "a1"},
			events: []evSpec{{typ: "Send"}, {typ: "Rendering Failure", extra: renderFail}, {typ: "Send"}},
			want: []ledger.Entry{
				{State: ledger.Sent, Reason: ledger.ReasonSettledByEvent, MessageID: "ses-u-1-a1", AttemptID: "a1"},
				{State: ledger.Failed, Reason: "rendering failure of template MyTemplate: Attribute 'name' is not present in the rendering data.", MessageID: "ses-u-1-a1", AttemptID: "a1"},
			},
			dlq:      1,
			final:    Record{State: StateFailed, Attempt: "a1", Reason: "rendering failure of template MyTemplate: Attribute 'name' is not present in the rendering data.", ByEvent: true},
			outcomes: map[string]float64{"Send/settled": 1, "RenderingFailure/settled": 1, "Send/already": 1},
			facts:    map[string]float64{"sent": 1},
		},
		{
			name:     "Send of another attempt while the user is sent: a real duplicate",
			fence:    &senderSent,
			events:   []evSpec{{typ: "Send", attempt: "a0"}},
			final:    senderSent,
			outcomes: map[string]float64{"Send/duplicate": 1},
			dups:     1,
		},
		{
			name:     "Reject of another attempt: counted, nothing written",
			fence:    &senderSent,
			events:   []evSpec{{typ: "Reject", attempt: "a0", extra: rejectBad}},
			final:    senderSent,
			outcomes: map[string]float64{"Reject/other_attempt": 1},
		},
		{
			name:     "no key (expired or erased): counted, nothing written",
			events:   []evSpec{{typ: "Delivery"}},
			outcomes: map[string]float64{"Delivery/unknown": 1},
		},
		{
			name:     "another sender's event: counted and dropped",
			fence:    &senderSent,
			events:   []evSpec{{typ: "Send", tags: map[string][]string{"ses:configuration-set": {"other"}}}},
			final:    senderSent,
			outcomes: map[string]float64{"Send/other_sender": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			ctx := context.Background()
			if tc.fence != nil {
				g.fence.put(camp, "u-1", *tc.fence)
			}
			for i, e := range tc.events {
				e.campaign, e.user = camp, "u-1"
				if e.attempt == "" {
					e.attempt = "a1"
				}
				body := sesJSON(t, e)
				if i%2 == 1 {
					body = snsWrap(t, body)
				}
				g.queue.Put(body)
				g.step(t, ctx) // one batch per event: their order is the queue's
			}
			require.Zero(t, g.queue.Len(), "every message is deleted")
			got := g.kafka.ledger(t)
			require.Len(t, got, len(tc.want))
			for i := range got {
				require.False(t, got[i].At.IsZero())
				got[i].At = time.Time{}
				tc.want[i].Campaign, tc.want[i].UserID = camp, "u-1"
			}
			require.Equal(t, tc.want, got)
			require.Len(t, g.kafka.dlq(), tc.dlq)
			final := g.fence.get(camp, "u-1")
			if tc.final.At.IsZero() {
				final.At = time.Time{}
			}
			require.Equal(t, tc.final, final)
			for k, v := range tc.outcomes {
				ev, out, _ := cut(k)
				require.Equal(t, v, testutil.ToFloat64(g.r.m.events.WithLabelValues(ev, out)), k)
			}
			require.Equal(t, float64(len(tc.events)), sumCounter(t, g, "sendonce_reconcile_events_total"), "every event counted once")
			for f, v := range tc.facts {
				require.Equal(t, v, testutil.ToFloat64(g.r.m.facts.WithLabelValues(camp, f)), f)
			}
			require.Equal(t, tc.dups, testutil.ToFloat64(g.r.m.duplicates))
		})
	}
}

func cut(s string) (a, b string, ok bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func sumCounter(t *testing.T, g *rig, name string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func TestDLQRecordOfAFailure(t *testing.T) {
	g := newRig(t)
	g.fence.put(camp, "u-1", Record{State: "sending", Attempt: "a1"})
	g.queue.Put(sesJSON(t, evSpec{typ: "Reject", campaign: camp, user: "u-1", attempt: "a1", extra: rejectBad}))
	g.step(t, context.Background())
	d := g.kafka.dlq()
	require.Len(t, d, 1)
	r := d[0]
	require.Equal(t, "u-1", string(r.Key), "keyed like a job: producer erase finds it")
	require.Equal(t, retry.ReasonPermanent, job.Header(r, job.HeaderDLQReason))
	require.Equal(t, camp, job.Header(r, job.HeaderCampaign))
	require.Equal(t, DLQSourceReconcile, job.Header(r, HeaderDLQSource))
	require.Equal(t, "rejected by SES: Bad content", job.Header(r, job.HeaderLastError))
	require.NotEmpty(t, job.Header(r, job.HeaderDeadLettered))
	// retrier redrive decodes the value as a job: it must fail, so that
	// the record is counted skipped_malformed, never re-sent half-empty.
	_, err := job.Decode(r.Value)
	require.Error(t, err)
	require.JSONEq(t, `{"campaign":"2026-11","user_id":"u-1","attempt_id":"a1","message_id":"ses-u-1-a1","event":"Reject","reason":"rejected by SES: Bad content","at":"1970-01-01T00:16:40Z"}`, string(r.Value))
}

func TestUnparsableStaysAndMovesToTheQueueDLQ(t *testing.T) {
	g := newRig(t)
	g.queue.MaxReceives = 3
	g.fence.put(camp, "u-1", Record{State: "ambiguous", Attempt: "a1"})
	g.queue.Put([]byte("not an event"))
	g.queue.Put(sesJSON(t, evSpec{typ: "Send", campaign: camp, user: "u-1", attempt: "a1"}))
	ctx := context.Background()
	g.step(t, ctx)
	require.Equal(t, 1, g.queue.Len(), "the poison message stays; the event beside it is settled and deleted")
	require.Equal(t, StateSent, g.fence.get(camp, "u-1").State)
	for range 3 {
		g.redeliver(t)
		g.step(t, ctx)
	}
	require.Zero(t, g.queue.Len())
	require.Len(t, g.queue.Dead(), 1, "the redrive policy moved it after maxReceiveCount")
	require.Equal(t, 3.0, testutil.ToFloat64(g.r.m.events.WithLabelValues(eventUnparsable, outUnparsable)))
}

func TestIgnoredMessagesAreDeleted(t *testing.T) {
	g := newRig(t)
	g.queue.Put([]byte(`{"Type":"SubscriptionConfirmation","Message":"confirm","SubscribeURL":"https://sns"}`))
	g.queue.Put(sesJSON(t, evSpec{typ: "Subscription", campaign: camp, user: "u-1", attempt: "a1"}))
	g.step(t, context.Background())
	require.Zero(t, g.queue.Len())
	require.Equal(t, 2.0, testutil.ToFloat64(g.r.m.events.WithLabelValues(eventOther, outIgnored)))
	require.Zero(t, g.fence.calls, "no fence call for what concerns no attempt")
}
