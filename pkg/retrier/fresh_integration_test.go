package retrier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// As `retrier run` does on a fresh cluster: the consuming client exists
// before the tier topics, which it creates itself. Its pattern
// subscription must still find them and join the group at once, not at the
// next periodic metadata refresh (minutes later).
func TestIntegrationReadyOnTiersCreatedByItsOwnClient(t *testing.T) {
	seeds := testenv.Kafka(t)
	prefix := testenv.Name(t, "fresh")
	cfg := DefaultConfig()
	cfg.Topics = kafka.Topics{Prefix: prefix}
	cfg.Group = prefix + ".retrier"
	cfg.Partitions = 2
	cfg.Policy.Tiers = []time.Duration{30 * time.Second, 2 * time.Minute}
	r, err := New(cfg, Deps{Log: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds, ClientID: "retrier-test"}, r.ClientOpts()...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	require.NoError(t, kafka.WaitReachable(ctx, cl, seeds, wait)) // a first metadata answer without the tiers
	require.NoError(t, kafka.EnsureTopics(ctx, cl, cfg.Layout(), nil))
	require.NoError(t, CheckDLQRetention(ctx, kadm.NewClient(cl), cfg.Topics.DLQ(), cfg.FenceRetention))
	cancel()

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx, cl) }()
	require.Eventually(t, func() bool { return r.Ready() == nil }, 15*time.Second, 10*time.Millisecond,
		"the retrier did not join its group on tier topics its own client created")
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
}
