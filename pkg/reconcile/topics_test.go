package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
)

func TestCheckTopics(t *testing.T) {
	_, seeds := kafkatest.Cluster(t)
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds})
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = CheckTopics(ctx, cl, testTopics)
	require.ErrorIs(t, err, ErrNoTopic)
	require.ErrorContains(t, err, "t.ledger, t.dlq")
	require.NoError(t, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: testTopics, Partitions: 1, ReplicationFactor: -1}, nil))
	fresh, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds}) // the first client caches "unknown" a while
	require.NoError(t, err)
	t.Cleanup(fresh.Close)
	require.NoError(t, CheckTopics(ctx, fresh, testTopics))
}
