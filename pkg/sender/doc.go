// Package sender consumes email jobs and sends each one at least once and
// only once: poll → fence → rate limit → SES → record → commit.
//
// Records of a partition are processed concurrently (bounded by
// Config.Concurrency per instance), one job per user at a time, and a
// partition's offset is committed only up to the lowest record that is not
// finished. A job is finished when its outcome is durable: the fence says
// what happened, and the ledger (or the retry tier, or the DLQ) has
// acknowledged the record that reports it.
package sender
