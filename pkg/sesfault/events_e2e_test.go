package sesfault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesevents"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// needEnv is testenv's rule for a service this package's tests need: skip
// under -short, fail (never skip) when the variable is missing.
func needEnv(t *testing.T, name, what string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test skipped under -short (needs %s)", what)
	}
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: this integration test needs %s (moto). Run it through `make test`, or `eval \"$(scripts/services.sh env)\"` first, or use -short to skip integration tests", name, what)
	}
	return v
}

// eventQueues makes an SNS topic and two SQS queues subscribed to it, one
// with raw message delivery and one with SNS's envelope.
func eventQueues(ctx context.Context, t *testing.T, name string) (topic string, queues map[string]string, sq *sqs.Client) {
	t.Helper()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	sn := sns.NewFromConfig(awsCfg)
	sq = sqs.NewFromConfig(awsCfg)
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	require.NoError(t, err, "creating an SNS topic on AWS_ENDPOINT_URL_SNS (moto)")
	queues = map[string]string{}
	for _, kind := range []string{"raw", "envelope"} {
		q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-" + kind)})
		require.NoError(t, err, "creating an SQS queue on AWS_ENDPOINT_URL_SQS (moto)")
		attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		require.NoError(t, err)
		sub := &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}
		if kind == "raw" {
			sub.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		_, err = sn.Subscribe(ctx, sub)
		require.NoError(t, err)
		queues[kind] = aws.ToString(q.QueueUrl)
	}
	return aws.ToString(top.TopicArn), queues, sq
}

// TestEventsInFrontOfEmulator runs the proxy in front of the real emulator
// with events on: every email the emulator accepted, also those answered
// 503, must reach both queues as a Send event carrying its tags.
func TestEventsInFrontOfEmulator(t *testing.T) {
	testenv.SESEndpoint(t)
	needEnv(t, "AWS_ENDPOINT_URL_SNS", "an SNS endpoint")
	needEnv(t, "AWS_ENDPOINT_URL_SQS", "an SQS endpoint")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := testenv.Name(t, "events")
	topic, queues, sq := eventQueues(ctx, t, name)

	pub, err := sesevents.New(ctx, sesevents.Config{TopicARN: topic, MaxDelay: 300 * time.Millisecond, DuplicateRatio: 0.3, Seed: 5})
	require.NoError(t, err)
	p := newProxy(t, Config{Target: os.Getenv("AWS_ENDPOINT_URL_SESV2"), Events: pub, Err503AfterRatio: 0.4, Seed: 2})
	c := sesClient(p.URL())
	require.NoError(t, c.CreateTemplate(ctx, name, "Hi {{name}}", "", "Hello {{name}}"))

	want := map[string]string{} // address -> its attempt tag
	addr := func(i int) string { return fmt.Sprintf("u%d-%s@example.org", i, name) }
	ambiguous := 0
	for i := range 12 {
		to := addr(i)
		want[to] = fmt.Sprintf("a%d", i)
		_, err := c.Send(ctx, ses.Message{From: "news@example.com", To: to, Template: name, ConfigurationSet: "cs-" + name,
			Tags: map[string]string{"campaign": name, "attempt": want[to]}})
		if err != nil {
			var se *ses.SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, retry.Ambiguous, se.Class, "%v", err)
			ambiguous++
		}
	}
	for b := range 2 {
		m := ses.BulkMessage{From: "news@example.com", Template: name, ConfigurationSet: "cs-" + name, Tags: map[string]string{"campaign": name}}
		for i := 12 + 4*b; i < 16+4*b; i++ {
			to := addr(i)
			want[to] = fmt.Sprintf("a%d", i)
			m.Entries = append(m.Entries, ses.BulkEntry{To: to, TemplateData: `{"name":"x"}`, Tags: map[string]string{"attempt": want[to]}})
		}
		res, err := c.SendBulk(ctx, m)
		if err != nil {
			var se *ses.SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, retry.Ambiguous, se.Class, "%v", err)
			ambiguous += len(m.Entries)
			continue
		}
		for _, r := range res {
			require.NoError(t, r.Err)
		}
	}
	require.Len(t, want, 20)
	s := p.Stats()
	require.Equal(t, ambiguous, s.AcceptedAfter503+s.BulkAcceptedAfter503)
	require.Positive(t, ambiguous, "the seed answers some sends 503 after acceptance")
	require.Equal(t, 20, s.EventsAccepted)
	require.NoError(t, pub.Close(ctx))
	require.Zero(t, pub.Stats().Failed)

	for kind, url := range queues {
		t.Run(kind, func(t *testing.T) {
			seen := map[string]int{}
			deadline := time.Now().Add(60 * time.Second)
			for len(seen) < len(want) && time.Now().Before(deadline) {
				out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				require.NoError(t, err)
				for _, m := range out.Messages {
					e, err := sesevents.Parse([]byte(aws.ToString(m.Body)))
					require.NoError(t, err, "%s", aws.ToString(m.Body))
					if e.EventType != sesevents.Send {
						continue
					}
					to := e.Mail.Destination[0]
					require.Contains(t, want, to)
					require.Equal(t, want[to], e.Tag("attempt"), to)
					require.Equal(t, name, e.Tag("campaign"))
					require.Equal(t, "cs-"+name, e.Tag(sesevents.TagConfigurationSet))
					require.NotEmpty(t, e.Mail.MessageID)
					seen[to]++
				}
			}
			for to := range want {
				require.Positive(t, seen[to], "no Send event for %s", to)
			}
		})
	}
}
