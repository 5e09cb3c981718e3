package control

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
)

// The watcher knows nothing until it has read the control topic to its end
// (a sender must not act before), then follows every decision within a
// second or so; cancel is final.
func TestWatcherFollowsDecisions(t *testing.T) {
	_, brokers := kafkatest.Cluster(t)
	topics := kafka.Topics{Prefix: "w"}
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: brokers})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, cl, kafka.Layout{Topics: topics, Partitions: 1, ReplicationFactor: -1}, nil))
	require.NoError(t, Set(ctx, cl, topics, "a", Paused, time.Now()))

	w := NewWatcher(topics, nil)
	st, current, loaded := w.State("a")
	require.Equal(t, Active, st)
	require.False(t, current)
	require.False(t, loaded, "nothing read yet")

	wcl, err := kafka.NewClient(kafka.ClientConfig{Brokers: brokers}, w.ClientOpts()...)
	require.NoError(t, err)
	defer wcl.Close()
	go w.Run(ctx, wcl)
	require.Eventually(t, func() bool { st, current, loaded = w.State("a"); return loaded && current }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, Paused, st)
	st, _, _ = w.State("b")
	require.Equal(t, Active, st, "a campaign without a decision is active")

	require.NoError(t, Set(ctx, cl, topics, "a", Active, time.Now()))
	require.Eventually(t, func() bool { st, _, _ = w.State("a"); return st == Active }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, Set(ctx, cl, topics, "a", Cancelled, time.Now()))
	require.Eventually(t, func() bool { st, _, _ = w.State("a"); return st == Cancelled }, 10*time.Second, 20*time.Millisecond)
	require.ErrorIs(t, Set(ctx, cl, topics, "a", Paused, time.Now()), ErrCancelled)

	states, err := Read(ctx, cl, topics)
	require.NoError(t, err)
	require.Equal(t, map[string]State{"a": Cancelled}, states)
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]State{"pause": Paused, "Paused": Paused, "resume": Active, "active": Active, "cancel": Cancelled, "canceled": Cancelled} {
		got, err := ParseState(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseState("stop")
	require.Error(t, err)
}
