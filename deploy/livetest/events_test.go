package livetest

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

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// eventsPath is the SES events set-up of docs/EVENTS.md on moto: an SNS
// topic, the events queue with a redrive DLQ (maxReceiveCount 5) and the
// raw subscription, and a publisher that posts SES's events of every email
// the fake SES accepts (its OnAccepted) to the topic.
type eventsPath struct {
	queueURL, dlqURL string
	pub              *sesevents.Publisher
}

// needEnv fails (never skips) when a service variable is missing.
func needEnv(t *testing.T, name, what string) {
	t.Helper()
	if os.Getenv(name) == "" {
		t.Fatalf("%s is not set: this integration test needs %s (moto, started by scripts/services.sh). Run it through `make test`, or `eval \"$(scripts/services.sh up)\"` first", name, what)
	}
}

func newEventsPath(t *testing.T, name string) *eventsPath {
	t.Helper()
	needEnv(t, "AWS_ENDPOINT_URL_SNS", "an SNS endpoint")
	needEnv(t, "AWS_ENDPOINT_URL_SQS", "an SQS endpoint")
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
	}
	// moto is shared by every test of the machine and slows down under
	// load (a minute was too short once): a generous bound.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	sn, sq := sns.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg)

	arnOf := func(u *string) string {
		a, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		require.NoError(t, err)
		return a.Attributes["QueueArn"]
	}
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-events-dlq")})
	require.NoError(t, err, "creating an SQS queue on AWS_ENDPOINT_URL_SQS (moto)")
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-events"), Attributes: map[string]string{
		"VisibilityTimeout": "60",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, arnOf(dlq.QueueUrl)),
	}})
	require.NoError(t, err)
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name + "-ses-events")})
	require.NoError(t, err, "creating an SNS topic on AWS_ENDPOINT_URL_SNS (moto)")
	_, err = sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(arnOf(q.QueueUrl)), Attributes: map[string]string{"RawMessageDelivery": "true"}})
	require.NoError(t, err)

	pub, err := sesevents.New(ctx, sesevents.Config{TopicARN: aws.ToString(top.TopicArn), MaxDelay: 200 * time.Millisecond, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pub.Close(cctx)
	})
	return &eventsPath{queueURL: aws.ToString(q.QueueUrl), dlqURL: aws.ToString(dlq.QueueUrl), pub: pub}
}
