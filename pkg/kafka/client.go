package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	// Security is TLS and SASL (zero: plaintext, no authentication).
	Security Security
}

// securityLoadTimeout bounds loading the AWS credential chain for MSK IAM.
const securityLoadTimeout = 30 * time.Second

// NewClient builds a franz-go client with the shared defaults plus opts:
// idempotent acks=all produce (franz-go's default), slog logging at warn and
// above, kprom metrics under sendonce_kafka_*, and cfg.Security's TLS and
// SASL. Every client of every binary and subcommand is built here, so that
// TLS and authentication cannot differ between them.
func NewClient(cfg ClientConfig, opts ...kgo.Opt) (*kgo.Client, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("kafka client: no brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), securityLoadTimeout)
	sec, err := cfg.Security.Opts(ctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("kafka client security: %w", err)
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	base = append(base, sec...)
	if cfg.ClientID != "" {
		base = append(base, kgo.ClientID("sendonce-"+cfg.ClientID))
	}
	if cfg.Logger != nil {
		l := slog.New(minLevel{min: slog.LevelWarn, Handler: newQuiet(cfg.Logger.Handler())}).With("component", "kafka")
		base = append(base, kgo.WithLogger(kslog.New(l)))
	}
	if cfg.Registerer != nil {
		m := kprom.NewMetrics("sendonce_kafka",
			kprom.Registerer(cfg.Registerer),
			kprom.FetchAndProduceDetail(kprom.ByNode, kprom.Batches, kprom.Records, kprom.CompressedBytes, kprom.UncompressedBytes),
			// Every external call has a latency histogram: Kafka requests too.
			kprom.Histograms(kprom.RequestDurationE2E),
		)
		base = append(base, kgo.WithHooks(m))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client for %v: %w", cfg.Brokers, err)
	}
	return cl, nil
}

// minLevel drops records below min: franz-go's info lines (connections,
// group joins) are noise in a service's log.
type minLevel struct {
	min slog.Level
	slog.Handler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{min: h.min, Handler: h.Handler.WithAttrs(as)}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{min: h.min, Handler: h.Handler.WithGroup(name)}
}

// LogFetchErrors logs the fetch errors of a poll, except the cancellation
// that ends every consumer.
func LogFetchErrors(fs kgo.Fetches, log *slog.Logger) {
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		}
	})
}
