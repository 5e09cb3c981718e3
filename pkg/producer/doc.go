// Package producer turns the users of a campaign into email jobs: it reads a
// source (pkg/source), validates every row, publishes one job per valid user
// to the compacted jobs topic (key = user id, idempotent acks=all produce),
// reports rejects, and keeps a campaign record that `status` and progress
// use as the denominator.
//
// Publishing is safe to repeat: a rerun after a kill republishes every job,
// and the sender's fence makes sure no user is emailed twice. Status reads
// the campaign record and the ledger to say how far a campaign is.
package producer
