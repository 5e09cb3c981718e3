package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/retry"
)

func TestEnsureTopicsCreatesTheLayoutOnce(t *testing.T) {
	_, brokers := kafkatest.Cluster(t)
	cl, err := NewClient(ClientConfig{Brokers: brokers})
	require.NoError(t, err)
	defer cl.Close()
	l := Layout{Topics: Topics{Prefix: "p"}, Partitions: 3, ReplicationFactor: -1, Tiers: retry.DefaultTiers}
	ctx := context.Background()
	require.NoError(t, EnsureTopics(ctx, cl, l, nil))
	require.NoError(t, EnsureTopics(ctx, cl, l, nil), "a second run finds every topic")
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	require.NoError(t, err)
	for _, s := range l.Specs() {
		td, ok := details[s.Name]
		require.True(t, ok, s.Name)
		require.Len(t, td.Partitions, int(s.Partitions), s.Name)
	}
	require.Contains(t, details, "p.retry.30s")
	require.Contains(t, details, "p.retry.1h")
}

func TestEnsureTopicsKeepsTryingUntilTheDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused
	cl, err := NewClient(ClientConfig{Brokers: []string{addr}})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = EnsureTopics(ctx, cl, Layout{Topics: Topics{Prefix: "p"}, Partitions: 1, ReplicationFactor: -1, Tiers: retry.DefaultTiers}, nil)
	require.ErrorContains(t, err, "is Kafka reachable")
	require.GreaterOrEqual(t, time.Since(start), time.Second, "gave up before the deadline")
}
