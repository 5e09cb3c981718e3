package kafka

import (
	"strconv"
	"time"
)

// Retention of the topics that hold personal data (user ids, addresses,
// template data). The pairs that matter:
//
//   - jobs: compact,delete with retention.ms = the fence retention (62d,
//     the sender's --fence-retention default). Compaction keeps one job per
//     user; delete removes even that one after the retention. It is not
//     shorter, so a job is never deleted while its campaign may still be
//     running; it is not longer, so a job is never replayable after its
//     user's fence key expired (`sender replay` also refuses a target older
//     than the fence retention). segment.ms of a day keeps whole-segment
//     deletion from adding up to a week (the default segment.ms) to it.
//   - ledger: compact,delete, the fence retention plus a week: `sender
//     fence-restore` rebuilds the fence from it, so it must cover every
//     user the fence still knows.
//   - rejects: 30 days, time enough to fix a source and publish again.
//   - the DLQ: at most the fence retention (its redrive relies on the
//     fence), set by the retrier (DefaultDLQRetention).
const (
	JobsRetention    = 62 * 24 * time.Hour
	LedgerRetention  = JobsRetention + 7*24*time.Hour
	RejectsRetention = 30 * 24 * time.Hour
	// retentionSegment is the segment.ms of the jobs and ledger topics.
	retentionSegment = 24 * time.Hour
)

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// withRetention sets the retention of the jobs, ledger and rejects topics
// on the specs of l.
func withRetention(l Layout, specs []TopicSpec) []TopicSpec {
	for _, s := range specs {
		switch s.Name {
		case l.Topics.Parked():
			s.Configs["retention.ms"] = ms(JobsRetention)
		case l.Topics.Jobs(), l.Topics.PriorityJobs():
			s.Configs["cleanup.policy"] = "compact,delete"
			s.Configs["retention.ms"] = ms(JobsRetention)
			s.Configs["segment.ms"] = ms(retentionSegment)
		case l.Topics.Ledger():
			s.Configs["cleanup.policy"] = "compact,delete"
			s.Configs["retention.ms"] = ms(LedgerRetention)
			s.Configs["segment.ms"] = ms(retentionSegment)
		case l.Topics.Rejects():
			s.Configs["retention.ms"] = ms(RejectsRetention)
		}
	}
	return specs
}
