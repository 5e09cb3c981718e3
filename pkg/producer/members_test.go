package producer

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// membersTopicDetail returns the partition count and cleanup policy of the
// membership topic.
func membersTopicDetail(t *testing.T, cl *kgo.Client, topics kafka.Topics) (partitions int, cleanup string) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	name := MembersTopic(topics)
	var td kadm.TopicDetails
	// A topic just created reaches every broker's metadata shortly after.
	require.Eventually(t, func() bool {
		var err error
		td, err = adm.ListTopics(ctx, name)
		return err == nil && td[name].Err == nil
	}, 10*time.Second, 50*time.Millisecond, "topic %s", name)
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	require.NoError(t, err)
	rc, err := rcs.On(name, nil)
	require.NoError(t, err)
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			cleanup = *c.Value
		}
	}
	return len(td[name].Partitions), cleanup
}

// TestEnsureTopicsCreatesTheMembersTopic: the producer's topic preparation
// creates the compacted membership topic with the layout's partitions, and
// running it again changes nothing.
func TestEnsureTopicsCreatesTheMembersTopic(t *testing.T) {
	e := realEnv(t) // ran EnsureTopics once
	require.NoError(t, EnsureTopics(context.Background(), e.cl, layout(e.topics), 30*time.Second, nil), "a second run finds every topic")
	parts, cleanup := membersTopicDetail(t, e.cl, e.topics)
	require.Equal(t, int(layout(e.topics).Partitions), parts)
	require.Equal(t, "compact", cleanup)
}

// TestPublishCreatesTheMembersTopic: a deployment whose topics were made by
// kafka.EnsureTopics alone (the demo, the senders' own preparation) gets the
// membership topic from the first publish run, compacted, with the jobs
// topic's partitions, and status counts that run.
func TestPublishCreatesTheMembersTopic(t *testing.T) {
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: testenv.Kafka(t), ClientID: "producer-test"}, ClientOpts()...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	e := env{cl: cl, topics: kafka.Topics{Prefix: testenv.Name(t, "producer")}}
	l := layout(e.topics)
	l.Partitions = 2
	require.NoError(t, kafka.EnsureTopics(context.Background(), cl, l, nil))

	publishUsers(t, e, "c", ids(0, 3))
	parts, cleanup := membersTopicDetail(t, cl, e.topics)
	require.Equal(t, 2, parts)
	require.Equal(t, "compact", cleanup)
	require.Equal(t, StatusReport{Campaign: "c", Published: 3, Pending: 3}, counts(t, e, "c"))
	publishUsers(t, e, "c", ids(2, 4))
	require.Equal(t, StatusReport{Campaign: "c", Published: 4, Pending: 4}, counts(t, e, "c"), "the second run finds the topic and adds to it")
}
