package reconcile

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// sqsClient is a client of the real SQS API (moto, AWS_ENDPOINT_URL_SQS),
// from the SDK's default chain like the binary's. It fails the test when
// the variable is unset (unless -short) or the endpoint does not answer.
func sqsClient(t *testing.T) *sqs.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped under -short (needs SQS: moto)")
	}
	ep := os.Getenv("AWS_ENDPOINT_URL_SQS")
	if ep == "" {
		t.Fatal("AWS_ENDPOINT_URL_SQS is not set: this integration test needs the SQS API of moto (scripts/services.sh exports it); use -short to skip integration tests")
	}
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
	}
	// A minute: moto answers slowly on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	c := sqs.NewFromConfig(cfg)
	if _, err := c.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("SQS at AWS_ENDPOINT_URL_SQS=%s does not answer: %v", ep, err)
	}
	return c
}

// newQueue creates a queue of this test, deleted at its end.
func newQueue(t *testing.T, c *sqs.Client, kind string) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name(t, kind)),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return aws.ToString(out.QueueUrl)
}

func queueDepth(t *testing.T, c *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(t, err)
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// TestIntegration runs the reconciler on real SQS (moto), Redis and Kafka:
// SNS-envelope events settle an ambiguous send, an in-flight one (the
// event before the sender's mark), add a bounce to a sent one and fail a
// rejected one; the ledger says so, the queue ends with only the
// unparsable message, which stays.
func TestIntegration(t *testing.T) {
	sq := sqsClient(t)
	brokers := testenv.Kafka(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	prefix := testenv.Name(t, "rec")
	topics := kafka.Topics{Prefix: prefix}
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: brokers})
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	require.NoError(t, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: topics, Partitions: 2, ReplicationFactor: -1}, nil))

	fnc, err := fence.New(rdb, fence.Config{Prefix: prefix, Shards: 1, Buckets: 4}, nil)
	require.NoError(t, err)
	_, err = fnc.Establish(ctx)
	require.NoError(t, err)
	claim := func(user string) string {
		c, err := fnc.Claim(ctx, camp, user)
		require.NoError(t, err)
		require.Equal(t, fence.Won, c.Outcome)
		require.NoError(t, fnc.Arm(ctx, camp, user, c.Token))
		return c.Token
	}
	ambiguous := claim("u-ambiguous")
	require.NoError(t, fnc.MarkAmbiguous(ctx, camp, "u-ambiguous", ambiguous, "ses 503"))
	inflight := claim("u-inflight")
	sent := claim("u-sent")
	require.NoError(t, fnc.MarkSent(ctx, camp, "u-sent", sent, "ses-sent"))
	rejected := claim("u-rejected")

	queue, dlq := newQueue(t, sq, "q"), newQueue(t, sq, "dlq")
	put := func(body []byte) {
		_, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(body))})
		require.NoError(t, err)
	}
	env := func(s evSpec) []byte { s.campaign = camp; return snsWrap(t, sesJSON(t, s)) }
	put(env(evSpec{typ: "Delivery", user: "u-ambiguous", attempt: ambiguous, msgID: "ses-amb"}))
	put(env(evSpec{typ: "Send", user: "u-ambiguous", attempt: ambiguous, msgID: "ses-amb"}))
	put(env(evSpec{typ: "Send", user: "u-ambiguous", attempt: ambiguous, msgID: "ses-amb"})) // SQS at-least-once
	put(env(evSpec{typ: "Send", user: "u-inflight", attempt: inflight, msgID: "ses-inflight"}))
	put(env(evSpec{typ: "Bounce", user: "u-sent", attempt: sent, msgID: "ses-sent", extra: bounceHard}))
	put(sesJSON(t, evSpec{typ: "Reject", campaign: camp, user: "u-rejected", attempt: rejected, msgID: "ses-rej", extra: rejectBad})) // raw delivery
	put(env(evSpec{typ: "Send", user: "u-other", attempt: "x", tags: map[string][]string{"ses:configuration-set": {"someone-else"}}}))
	put([]byte("this is not an event"))
	_, err = sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String("an old poison message")})
	require.NoError(t, err)

	src, err := NewSQSFromClient(sq, SQSConfig{QueueURL: queue, WaitTime: time.Second})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	r, err := New(Config{Topics: topics, Concurrency: 4}, Deps{Settler: FenceSettler{F: fnc}, Producer: cl, Source: src, UserKey: testKey,
		Registerer: reg, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		DLQDepth: func(ctx context.Context) (int, error) { return src.Depth(ctx, dlq) }})
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	waitFor(t, "the settled messages deleted", func() bool {
		return testutil.ToFloat64(r.m.events.WithLabelValues(eventUnparsable, outUnparsable)) >= 1 &&
			sumCounter(t, &rig{reg: reg}, "sendonce_reconcile_events_total")-testutil.ToFloat64(r.m.events.WithLabelValues(eventUnparsable, outUnparsable)) >= 7
	})
	waitFor(t, "the DLQ depth", func() bool { return testutil.ToFloat64(r.m.dlq) == 1 })
	stop()
	require.NoError(t, <-done)

	visible, inFlight := queueDepth(t, sq, queue)
	require.Equal(t, 1, visible+inFlight, "only the unparsable message is left")

	for user, want := range map[string]fence.State{"u-ambiguous": fence.Sent, "u-inflight": fence.Sent, "u-sent": fence.Sent, "u-rejected": fence.Failed} {
		rec, ok, err := fnc.Get(ctx, camp, user)
		require.NoError(t, err)
		require.True(t, ok, user)
		require.Equal(t, want, rec.State, user)
	}
	latest, err := ledger.Latest(ctx, cl, topics.Ledger(), nil)
	require.NoError(t, err)
	at := func(u string) ledger.Entry {
		e := latest[string(kafka.LedgerKey(camp, u))]
		e.At = time.Time{}
		return e
	}
	require.Equal(t, ledger.Entry{Campaign: camp, UserID: "u-ambiguous", State: ledger.Sent, MessageID: "ses-amb", Reason: ledger.ReasonSettledByEvent, AttemptID: ambiguous, Fact: ledger.FactDelivered}, at("u-ambiguous"))
	require.Equal(t, ledger.Entry{Campaign: camp, UserID: "u-inflight", State: ledger.Sent, MessageID: "ses-inflight", Reason: ledger.ReasonSettledByEvent, AttemptID: inflight}, at("u-inflight"))
	require.Equal(t, ledger.Entry{Campaign: camp, UserID: "u-sent", State: ledger.Sent, MessageID: "ses-sent", AttemptID: sent, Fact: ledger.FactBounced, BounceType: ledger.BounceHard}, at("u-sent"))
	require.Equal(t, ledger.Failed, at("u-rejected").State)
	require.Contains(t, at("u-rejected").Reason, "Bad content")
	require.Len(t, latest, 4)

	var dlqRecs []*kgo.Record
	require.NoError(t, kafka.ReadToEnd(ctx, cl, []string{topics.DLQ()}, func(r *kgo.Record) error { dlqRecs = append(dlqRecs, r); return nil }))
	require.Len(t, dlqRecs, 1)
	require.Equal(t, "u-rejected", string(dlqRecs[0].Key))
	require.Equal(t, DLQSourceReconcile, job.Header(dlqRecs[0], HeaderDLQSource))
	require.Equal(t, 1.0, testutil.ToFloat64(r.m.events.WithLabelValues("Send", outOtherSender)))
	require.Equal(t, 1.0, testutil.ToFloat64(r.m.facts.WithLabelValues(camp, "bounced")))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
