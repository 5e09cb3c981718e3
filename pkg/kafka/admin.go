package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec is one topic sendonce needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
}

// Layout is the set of topics for a deployment.
type Layout struct {
	Topics            Topics
	Partitions        int32 // of the jobs topic and the retry tiers
	ReplicationFactor int16 // -1: broker default
	Tiers             []time.Duration
	// DLQRetention is the retention.ms of the dead-letter topic; 0 is
	// DefaultDLQRetention. Keep it at most the fence retention: a redrive
	// relies on the fence to skip users already sent.
	DLQRetention time.Duration
}

// DefaultDLQRetention is the DLQ's retention: the default fence retention,
// so that a dead-lettered job is never kept longer than the fence key that
// stops it from being sent twice.
const DefaultDLQRetention = 62 * 24 * time.Hour

// minCompactionLag keeps a job record from being compacted away for a week,
// so that a newer campaign for the same user cannot remove an older job
// before it was sent.
const minCompactionLag = 7 * 24 * time.Hour

// Specs lists every topic of the layout with its settings.
func (l Layout) Specs() []TopicSpec {
	compact := func() map[string]string {
		return map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": strconv.FormatInt(minCompactionLag.Milliseconds(), 10)}
	}
	dlqRetention := l.DLQRetention
	if dlqRetention <= 0 {
		dlqRetention = DefaultDLQRetention
	}
	specs := []TopicSpec{
		{Name: l.Topics.Jobs(), Partitions: l.Partitions, Configs: compact()},
		{Name: l.Topics.PriorityJobs(), Partitions: l.Partitions, Configs: compact()},
		{Name: l.Topics.Control(), Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: l.Topics.Parked(), Partitions: l.Partitions, Configs: map[string]string{"cleanup.policy": "delete"}},
		{Name: l.Topics.DLQ(), Partitions: l.Partitions, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(dlqRetention.Milliseconds(), 10)}},
		{Name: l.Topics.Ledger(), Partitions: l.Partitions, Configs: compact()},
		{Name: l.Topics.Campaigns(), Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: l.Topics.Rejects(), Partitions: 1, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt((62 * 24 * time.Hour).Milliseconds(), 10)}},
	}
	for _, d := range l.Tiers {
		// A tier keeps records at least 24h past its delay, so that a
		// retrier outage of a day loses nothing.
		ret := d + 7*24*time.Hour
		specs = append(specs, TopicSpec{Name: l.Topics.Retry(d), Partitions: l.Partitions, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(ret.Milliseconds(), 10)}})
	}
	return withRetention(l, specs)
}

// EnsureTopics creates the missing topics of the layout and warns (it does
// not alter) when an existing topic's partitions or settings differ.
func EnsureTopics(ctx context.Context, cl *kgo.Client, l Layout, log *slog.Logger) error {
	adm := kadm.NewClient(cl)
	specs := l.Specs()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	// A broker that is restarting refuses connections for a few seconds:
	// keep asking until ctx ends rather than exiting (and crash-looping).
	var details kadm.TopicDetails
	for {
		var err error
		details, err = adm.ListTopics(ctx, names...)
		if err == nil {
			break
		}
		if log != nil {
			log.Warn("listing topics failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("listing topics (is Kafka reachable at the configured brokers?): %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	for _, s := range specs {
		td, ok := details[s.Name]
		if ok && td.Err == nil {
			checkTopic(ctx, adm, s, td, log)
			continue
		}
		cfg := map[string]*string{}
		for k, v := range s.Configs {
			cfg[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, l.ReplicationFactor, cfg, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", s.Name, err)
		}
		if log != nil && err == nil {
			log.Info("created topic", "topic", s.Name, "partitions", s.Partitions)
		}
	}
	return nil
}

func checkTopic(ctx context.Context, adm *kadm.Client, s TopicSpec, td kadm.TopicDetail, log *slog.Logger) {
	if log == nil {
		return
	}
	if int32(len(td.Partitions)) != s.Partitions {
		log.Warn("topic has a different partition count than configured", "topic", s.Name, "have", len(td.Partitions), "want", s.Partitions)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, s.Name)
	if err != nil {
		log.Warn("could not describe topic configs", "topic", s.Name, "err", err)
		return
	}
	for _, rc := range rcs {
		have := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				have[c.Key] = *c.Value
			}
		}
		for k, want := range s.Configs {
			if have[k] != want {
				log.Warn("topic setting differs from what sendonce expects", "topic", s.Name, "key", k, "have", have[k], "want", want)
			}
		}
	}
}
