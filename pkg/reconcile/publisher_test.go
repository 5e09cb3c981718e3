package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/sesevents"
)

// The events of pkg/sesevents' publisher (SES's documented JSON, random
// delays so out of order, some twice), through the in-process topic, raw
// and enveloped: every user ends where SES's events say, whatever their
// order.
func TestEventsFromTheSESEventsPublisher(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprint("raw=", raw), func(t *testing.T) {
			g := newRig(t)
			topic := &MemoryTopic{Queue: g.queue, Raw: raw}
			pub, err := sesevents.NewWithAPI(topic, sesevents.Config{TopicARN: "arn:aws:sns:us-east-1:000000000000:events",
				MaxDelay: 20 * time.Millisecond, DuplicateRatio: 0.5, Seed: 7})
			require.NoError(t, err)
			want := map[string]Record{}
			for i, local := range []string{"ann", "bounce+bob", "complaint+cy", "reject+dan", "renderfail+eve", "delay+fay", "gus", "bounce+hal"} {
				user := fmt.Sprintf("u-%d", i)
				attempt := fmt.Sprintf("att-%d", i)
				g.fence.put(camp, user, Record{State: "ambiguous", Attempt: attempt}) // the 503-after-accept case
				ref, err := pseudonym.SealUserRef(testKey, user)
				require.NoError(t, err)
				msgID := "ses-" + user
				pub.Accepted(sesevents.Accepted{MessageID: msgID, From: "news@example.com", To: []string{local + "@example.org"}, ConfigurationSet: "sendonce",
					Template: "usage", Tags: map[string]string{TagCampaign: camp, TagAttempt: attempt, TagUserRef: ref, "user_hash": pseudonym.UserHash(testKey, user)}})
				w := Record{State: StateSent, Attempt: attempt, MessageID: msgID, ByEvent: true}
				switch local[:3] {
				case "bou":
					w.Fact = FactBounced
				case "com":
					w.Fact = FactComplained
				case "rej":
					w = Record{State: StateFailed, Attempt: attempt, Reason: "rejected by SES: Bad content", ByEvent: true}
				case "ren":
					w = Record{State: StateFailed, Attempt: attempt, Reason: "rendering failure of template usage: Attribute 'name' is not present in the rendering data.", ByEvent: true}
				default:
					w.Fact = FactDelivered
				}
				want[user] = w
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.r.Run(ctx) }()
			require.NoError(t, pub.Close(context.Background()))
			waitFor(t, "the queue drained", func() bool { return g.queue.Len() == 0 })
			cancel()
			require.NoError(t, <-done)
			for user, w := range want {
				got := g.fence.get(camp, user)
				got.At = time.Time{}
				if w.State == StateFailed {
					got.MessageID = "" // the model fence keeps the failed record without it
				}
				require.Equal(t, w, got, user)
			}
			require.Greater(t, pub.Stats().Duplicates, 0, "the test saw duplicates")
			require.Len(t, g.kafka.dlq(), 2+countDuplicateFailures(g), "one DLQ record per failure (a duplicate failure event rewrites it)")
			latest := map[string]ledger.Entry{}
			for _, e := range g.kafka.ledger(t) {
				latest[e.UserID] = e
			}
			require.Equal(t, ledger.FactBounced, latest["u-1"].Fact)
			require.Equal(t, ledger.BounceHard, latest["u-1"].BounceType)
			require.Equal(t, ledger.Failed, latest["u-3"].State)
			require.Equal(t, ledger.ReasonSettledByEvent, latest["u-0"].Reason)
			require.Equal(t, ledger.FactDelivered, latest["u-0"].Fact)
		})
	}
}

// countDuplicateFailures is how many failure events came twice (each
// rewrites its DLQ record).
func countDuplicateFailures(g *rig) int {
	n := 0
	for _, o := range []string{"Reject", "RenderingFailure"} {
		n += int(testutil.ToFloat64(g.r.m.events.WithLabelValues(o, outAlready)))
	}
	return n
}

// The AWS examples of event data (pkg/sesevents/testdata) parse, with the
// verdict and facts SES's documentation gives them. They carry no tags of
// ours: another sender's events.
func TestParseAWSExamples(t *testing.T) {
	for file, want := range map[string]struct {
		label   string
		verdict Verdict
		fact    Fact
		bounce  string
	}{
		"send.json":              {"Send", VerdictSent, FactNone, ""},
		"delivery.json":          {"Delivery", VerdictSent, FactDelivered, ""},
		"bounce.json":            {"Bounce", VerdictSent, FactBounced, ledger.BounceHard},
		"complaint.json":         {"Complaint", VerdictSent, FactComplained, ""},
		"reject.json":            {"Reject", VerdictFailed, FactNone, ""},
		"rendering_failure.json": {"RenderingFailure", VerdictFailed, FactNone, ""},
		"delivery_delay.json":    {"DeliveryDelay", VerdictSent, FactNone, ""},
	} {
		b, err := os.ReadFile(filepath.Join("..", "sesevents", "testdata", file))
		require.NoError(t, err)
		ev, err := parse(b, testKey)
		require.NoError(t, err, file)
		require.True(t, ev.known, file)
		require.False(t, ev.ours, file)
		require.Equal(t, want.label, ev.label, file)
		require.Equal(t, want.verdict, ev.settle.Verdict, file)
		require.Equal(t, want.fact, ev.settle.Fact, file)
		require.Equal(t, want.bounce, ev.bounceType, file)
		require.NotEmpty(t, ev.settle.MessageID, file)
		if want.verdict == VerdictFailed {
			require.NotEqual(t, "rendering failure: (no reason given)", ev.settle.Reason, file)
		}
	}
}
