package kafka

import (
	"time"

	"github.com/sendonce/sendonce/pkg/retry"
)

// Topics names every topic from the prefix.
type Topics struct{ Prefix string }

// Jobs is the compacted topic of email jobs, keyed by user id.
func (t Topics) Jobs() string { return t.Prefix + ".jobs" }

// PriorityJobs is the priority lane: jobs published with --priority high.
// Senders consume it beside Jobs, so a small urgent campaign never waits
// behind a large one's backlog. Same configuration as Jobs.
func (t Topics) PriorityJobs() string { return t.Prefix + ".jobs.priority" }

// IsJobs reports whether topic is one of the two jobs topics.
func (t Topics) IsJobs(topic string) bool { return topic == t.Jobs() || topic == t.PriorityJobs() }

// Control is the compacted topic of per-campaign control (active, paused,
// cancelled), keyed by campaign.
func (t Topics) Control() string { return t.Prefix + ".control" }

// Parked holds the jobs of paused campaigns until `producer resume` (or
// cancel) publishes them again.
func (t Topics) Parked() string { return t.Prefix + ".parked" }

// Retry is the delay topic of one retry tier.
func (t Topics) Retry(d time.Duration) string { return t.Prefix + ".retry." + retry.TierName(d) }

// DLQ is the dead-letter topic.
func (t Topics) DLQ() string { return t.Prefix + ".dlq" }

// Ledger is the compacted topic of each job's latest state, keyed by
// campaign and user (campaign ids hold no colon).
func (t Topics) Ledger() string { return t.Prefix + ".ledger" }

// Campaigns is the compacted topic of campaign records, keyed by campaign.
func (t Topics) Campaigns() string { return t.Prefix + ".campaigns" }

// Rejects is the topic of rows the producer rejected.
func (t Topics) Rejects() string { return t.Prefix + ".rejects" }

// RetryTopics lists the tier topics of tiers.
func (t Topics) RetryTopics(tiers []time.Duration) []string {
	out := make([]string, len(tiers))
	for i, d := range tiers {
		out[i] = t.Retry(d)
	}
	return out
}

// SenderGroup is the consumer group of the senders: <prefix>-sender, so that
// deployments with different prefixes on one cluster never share a group
// ("sendonce-sender" with the default prefix).
func (t Topics) SenderGroup() string { return t.Prefix + "-sender" }

// RetrierGroup is the consumer group of the retriers: <prefix>-retrier.
func (t Topics) RetrierGroup() string { return t.Prefix + "-retrier" }

// LedgerKey is the ledger key of a user in a campaign.
func LedgerKey(campaign, userID string) []byte {
	return []byte(campaign + ":" + userID)
}
