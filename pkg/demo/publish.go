package demo

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/source"
)

// publish runs `producer publish --source csv:PATH` in-process: the same
// source reader, validation, duplicate detection, rejects report and
// campaign record as the binary.
func (w *world) publish(ctx context.Context, campaign, csvPath string, m *producer.Metrics, log *slog.Logger) (producer.Summary, error) {
	cfg := producer.PublishConfig{
		Campaign:   campaign,
		Template:   templateName,
		From:       fromAddress,
		Source:     "csv:" + csvPath,
		MaxRejects: -1,
		// SES publishes the events of a configuration set's emails only:
		// they are what settles an ambiguous send.
		ConfigurationSet: demoConfigurationSet,
		Topics:           w.topics,
	}
	if err := cfg.Validate(); err != nil {
		return producer.Summary{}, err
	}
	src, err := source.Open(ctx, cfg.Source, source.AthenaConfig{})
	if err != nil {
		return producer.Summary{}, fmt.Errorf("opening %s: %w", cfg.Source, err)
	}
	defer src.Close()
	cl, err := w.kafkaClient("producer", producer.ClientOpts()...)
	if err != nil {
		return producer.Summary{}, err
	}
	defer cl.Close()
	return producer.Publish(ctx, cfg, producer.Deps{Client: cl, Source: src, Log: log.With("component", "producer"), Metrics: m})
}
