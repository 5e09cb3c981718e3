package producer

import (
	"context"
	"encoding/json"
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
func membersTopicDetail(t *testing.T, cl *kgo.Client, topics kafka.Topics) (partitions int, configs map[string]string) {
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
	configs = map[string]string{}
	for _, c := range rc.Configs {
		if _, ok := membersTopicConfigs[c.Key]; ok && c.Value != nil {
			configs[c.Key] = *c.Value
		}
	}
	return len(td[name].Partitions), configs
}

// TestEnsureTopicsCreatesTheMembersTopic: the producer's topic preparation
// creates the membership topic, compacted with the ledger's retention, with
// the layout's partitions, and
// running it again changes nothing.
func TestEnsureTopicsCreatesTheMembersTopic(t *testing.T) {
	e := realEnv(t) // ran EnsureTopics once
	require.NoError(t, EnsureTopics(context.Background(), e.cl, layout(e.topics), 30*time.Second, nil), "a second run finds every topic")
	parts, configs := membersTopicDetail(t, e.cl, e.topics)
	require.Equal(t, int(layout(e.topics).Partitions), parts)
	require.Equal(t, "compact,delete", configs["cleanup.policy"])
	require.Equal(t, membersTopicConfigs, configs)
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
	parts, configs := membersTopicDetail(t, cl, e.topics)
	require.Equal(t, 2, parts)
	require.Equal(t, membersTopicConfigs, configs)
	require.Equal(t, StatusReport{Campaign: "c", Published: 3, Pending: 3}, counts(t, e, "c"))
	publishUsers(t, e, "c", ids(2, 4))
	require.Equal(t, StatusReport{Campaign: "c", Published: 4, Pending: 4}, counts(t, e, "c"), "the second run finds the topic and adds to it")
}

// TestMemberRecord: the hand-built value of a membership record is the JSON
// of Member for any user id, and its key is the user's ledger key.
func TestMemberRecord(t *testing.T) {
	at := time.Date(2026, 11, 1, 6, 0, 0, 123, time.UTC)
	enc, err := newMemberEncoder("p.members", "2026-11", at)
	require.NoError(t, err)
	for _, user := range []string{"u1", "a b/c:d", `q"uo\te`, "ünï", "tab\there", "<&>", "bad\xffutf8", "\u2028"} {
		r := enc.record(user)
		require.Equal(t, "p.members", r.Topic)
		require.Equal(t, string(kafka.LedgerKey("2026-11", user)), string(r.Key))
		require.True(t, json.Valid(r.Value), "%q: %s", user, r.Value)
		var m Member
		require.NoError(t, json.Unmarshal(r.Value, &m))
		want := Member{Campaign: "2026-11", UserID: user, PublishedAt: at}
		if user == "bad\xffutf8" {
			want.UserID = "bad\ufffdutf8" // encoding/json's replacement, as json.Marshal writes it
		}
		require.Equal(t, want, m, "%q", user)
	}
}
