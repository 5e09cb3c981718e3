// Package retrier moves jobs whose retry delay is over from the tiered delay
// topics (<prefix>.retry.<tier>) back to the jobs topic, and re-drives
// dead-lettered jobs on request: only users whose latest ledger state is
// failed or dead_lettered, and not longer ago than the fence retention
// unless forced (Redrive).
//
// One consumer group reads every tier topic of the prefix, those of
// --retry-tiers and any other found (a tier since removed still holds jobs;
// each record carries its own due time). Each assigned partition has a small
// buffer and a goroutine. When the next record of a partition is not due
// yet, the partition is paused (kgo.PauseFetchPartitions) and a timer of the
// injected Clock wakes it at the record's not-before time, or after
// Config.PausedWake if that is sooner: the due time is wall-clock and the
// timer monotonic, so after a clock step the partition looks again rather
// than wait for a wake that will not come. Nothing sleeps in the poll loop
// and nothing is re-published to wait, so the other partitions and tiers
// keep flowing. A due record is produced back to the jobs topic
// (same key and value), and its offset is committed only after the produce
// is acknowledged: a crash in between re-produces the job, which the
// sender's fence absorbs, and never loses it. A record that is not a job at
// all goes to the dead-letter topic so that it cannot block its partition.
//
// Memory stays bounded however long the delays: a paused partition fetches
// nothing more, so each partition holds at most about one fetch
// (Config.FetchMaxPartitionBytes) of records.
package retrier
