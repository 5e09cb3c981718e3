package reconcile

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/sesevents"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// SES's events as moto's SNS delivers them to SQS (its own envelope, or
// raw message delivery): pkg/sesevents' publisher → SNS topic → SQS
// subscription → the SQS source → settled, every message deleted.
func TestSNSFanOutToSQS(t *testing.T) {
	sq := sqsClient(t)
	if os.Getenv("AWS_ENDPOINT_URL_SNS") == "" {
		t.Fatal("AWS_ENDPOINT_URL_SNS is not set: this test needs the SNS API of moto (scripts/services.sh exports it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	sn := sns.NewFromConfig(cfg)
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprint("raw=", raw), func(t *testing.T) {
			topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.Name(t, "topic"))})
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = sn.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
			queue := newQueue(t, sq, "q")
			attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
			require.NoError(t, err)
			_, err = sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
				Endpoint: aws.String(attrs.Attributes[string(types.QueueAttributeNameQueueArn)]), Attributes: map[string]string{"RawMessageDelivery": fmt.Sprint(raw)}})
			require.NoError(t, err)

			g := newRig(t)
			pub, err := sesevents.NewWithAPI(sn, sesevents.Config{TopicARN: aws.ToString(topic.TopicArn), MaxDelay: 10 * time.Millisecond, DuplicateRatio: 0.5, Seed: 3})
			require.NoError(t, err)
			users := []string{"ann", "bounce+bob", "reject+cy"}
			for i, local := range users {
				user, attempt := fmt.Sprintf("u-%d", i), fmt.Sprintf("a%d", i)
				g.fence.put(camp, user, Record{State: "ambiguous", Attempt: attempt})
				ref, err := pseudonym.SealUserRef(testKey, user)
				require.NoError(t, err)
				pub.Accepted(sesevents.Accepted{MessageID: "ses-" + user, From: "news@example.com", To: []string{local + "@example.org"},
					ConfigurationSet: "sendonce", Tags: map[string]string{TagCampaign: camp, TagAttempt: attempt, TagUserRef: ref}})
			}
			require.NoError(t, pub.Close(ctx))
			require.Zero(t, pub.Stats().Failed)

			src, err := NewSQSFromClient(sq, SQSConfig{QueueURL: queue, WaitTime: time.Second})
			require.NoError(t, err)
			g.r.src = src
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- g.r.Run(rctx) }()
			published := 0
			for _, n := range pub.Stats().Published {
				published += n
			}
			waitFor(t, "every event handled", func() bool { return int(sumCounter(t, g, "sendonce_reconcile_events_total")) >= published })
			stop()
			require.NoError(t, <-done)
			require.Zero(t, sumCounterLabel(t, g, "outcome", outUnparsable), "moto's deliveries all parse")
			visible, inFlight := queueDepth(t, sq, queue)
			require.Zero(t, visible+inFlight)
			require.Equal(t, Record{State: StateSent, Attempt: "a0", MessageID: "ses-u-0", Fact: FactDelivered, ByEvent: true}, withoutAt(g.fence.get(camp, "u-0")))
			require.Equal(t, FactBounced, g.fence.get(camp, "u-1").Fact)
			require.Equal(t, StateFailed, g.fence.get(camp, "u-2").State)
		})
	}
}

func withoutAt(r Record) Record { r.At = time.Time{}; return r }

func sumCounterLabel(t *testing.T, g *rig, label, value string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value && m.GetCounter() != nil {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
