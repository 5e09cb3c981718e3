package retrier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// The tier topics may not be in the first metadata answers the retrier's
// client gets: under load a fresh KRaft broker shows a just-created topic
// late (the chaos test's retrier once stayed unready for its whole 90 s).
// Here the tiers appear only after Run started. The pattern subscription
// must still find them and join at once, not at the next periodic metadata
// refresh (a minute later).
func TestIntegrationReadyOnTiersThatAppearAfterStart(t *testing.T) {
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
	defer cancel()
	noTiers := cfg.Layout()
	noTiers.Tiers = nil
	require.NoError(t, kafka.EnsureTopics(ctx, cl, noTiers, nil))

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx, cl) }()
	time.Sleep(2 * time.Second) // Run's first metadata answers hold no tier
	admin, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds})
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, kafka.EnsureTopics(ctx, admin, cfg.Layout(), nil))
	require.Eventually(t, func() bool { return r.Ready() == nil }, 15*time.Second, 10*time.Millisecond,
		"the retrier did not join its group on tier topics created after it started")
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
}
