package kafka

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ClientConfig says how to build a client.
type ClientConfig struct {
	Brokers []string
	// ClientID names the client in broker logs and metrics (producer, sender, retrier).
	ClientID string
	Logger   *slog.Logger
	// Registerer receives franz-go's client metrics (kprom); nil: none.
	Registerer prometheus.Registerer
}

// NewClient builds a franz-go client with the shared defaults plus opts:
// idempotent acks=all produce (franz-go's default), slog logging at warn and
// above, kprom metrics under sendonce_kafka_*.
func NewClient(cfg ClientConfig, opts ...kgo.Opt) (*kgo.Client, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("kafka client: no brokers")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	if cfg.ClientID != "" {
		base = append(base, kgo.ClientID("sendonce-"+cfg.ClientID))
	}
	if cfg.Logger != nil {
		base = append(base, kgo.WithLogger(kslog.New(cfg.Logger.With("component", "kafka"))))
	}
	if cfg.Registerer != nil {
		m := kprom.NewMetrics("sendonce_kafka",
			kprom.Registerer(cfg.Registerer),
			kprom.FetchAndProduceDetail(kprom.ByNode, kprom.Batches, kprom.Records, kprom.CompressedBytes, kprom.UncompressedBytes),
		)
		base = append(base, kgo.WithHooks(m))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client for %v: %w", cfg.Brokers, err)
	}
	return cl, nil
}
