package kafka_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/testenv"
)

func retentionOf(t *testing.T, cfg map[string]string) time.Duration {
	t.Helper()
	n, err := strconv.ParseInt(cfg["retention.ms"], 10, 64)
	require.NoError(t, err, "retention.ms %q", cfg["retention.ms"])
	return time.Duration(n) * time.Millisecond
}

// TestPersonalDataTopicsHaveARetention: nothing that holds a user is kept
// forever, and the retention pairs hold (docs/SECURITY.md).
func TestPersonalDataTopicsHaveARetention(t *testing.T) {
	l := kafka.Layout{Topics: kafka.Topics{Prefix: "p"}, Partitions: 3, ReplicationFactor: -1, Tiers: retry.DefaultTiers}
	specs := map[string]map[string]string{}
	for _, s := range l.Specs() {
		specs[s.Name] = s.Configs
	}
	jobs, ledger := specs[l.Topics.Jobs()], specs[l.Topics.Ledger()]
	require.Equal(t, "compact,delete", jobs["cleanup.policy"])
	require.Equal(t, "compact,delete", ledger["cleanup.policy"])
	require.Equal(t, fence.DefaultRetention, retentionOf(t, jobs), "jobs retention = fence retention: not shorter (jobs wait), not longer (replay)")
	require.GreaterOrEqual(t, retentionOf(t, ledger), fence.DefaultRetention, "fence-restore needs the ledger as long as the fence")
	require.NotEmpty(t, jobs["min.compaction.lag.ms"], "compaction still waits a week")
	require.LessOrEqual(t, retentionOf(t, specs[l.Topics.DLQ()]), fence.DefaultRetention, "a redrive relies on the fence")
	require.Equal(t, 30*24*time.Hour, retentionOf(t, specs[l.Topics.Rejects()]))
	for name, cfg := range specs {
		if name == l.Topics.Campaigns() || name == l.Topics.Control() { // campaign records and decisions: no user in them
			continue
		}
		require.NotEmpty(t, cfg["retention.ms"], "%s holds users: it needs a retention", name)
		require.Contains(t, cfg["cleanup.policy"], "delete", name)
	}
}

// TestRealBrokerAcceptsTheRetention creates the layout on the real broker
// and reads the settings back.
func TestRealBrokerAcceptsTheRetention(t *testing.T) {
	brokers := testenv.Kafka(t)
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: brokers})
	require.NoError(t, err)
	defer cl.Close()
	l := kafka.Layout{Topics: kafka.Topics{Prefix: testenv.Name(t, "retention")}, Partitions: 1, ReplicationFactor: -1, Tiers: retry.DefaultTiers[:1]}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, cl, l, nil))
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, l.Topics.Jobs(), l.Topics.Ledger())
	require.NoError(t, err)
	for _, rc := range rcs {
		require.NoError(t, rc.Err, rc.Name)
		have := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				have[c.Key] = *c.Value
			}
		}
		require.Equal(t, "compact,delete", have["cleanup.policy"], rc.Name)
		require.NotEmpty(t, have["retention.ms"], rc.Name)
	}
}
