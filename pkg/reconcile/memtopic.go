package reconcile

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// MemoryTopic is an in-process SNS topic subscribed by a Memory queue: it
// has the Publish method of the SNS client, so sesevents.NewWithAPI can
// publish SES's events straight into the queue a Reconciler reads (`make
// demo`, tests). Each message arrives in SNS's notification envelope, or
// as the bare event with Raw (raw message delivery).
type MemoryTopic struct {
	Queue *Memory
	Raw   bool
	seq   atomic.Int64
}

// Publish puts in.Message in the queue.
func (t *MemoryTopic) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	id := "sns-" + strconv.FormatInt(t.seq.Add(1), 10)
	if t.Raw {
		t.Queue.Put([]byte(aws.ToString(in.Message)))
		return &sns.PublishOutput{MessageId: aws.String(id)}, nil
	}
	b, err := json.Marshal(map[string]string{
		"Type": "Notification", "MessageId": id, "TopicArn": aws.ToString(in.TopicArn), "Message": aws.ToString(in.Message),
		"Timestamp": t.Queue.now().UTC().Format("2006-01-02T15:04:05.000Z"), "SignatureVersion": "1",
	})
	if err != nil {
		return nil, err
	}
	t.Queue.Put(b)
	return &sns.PublishOutput{MessageId: aws.String(id)}, nil
}
