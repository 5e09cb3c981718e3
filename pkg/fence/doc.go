// Package fence is the Redis idempotency fence of the sender: one record
// per (campaign, user) says whether that user's email is free to send, in
// flight, or already settled, so that no two sender replicas (nor one
// replica after a crash or a redelivery) send the same email twice.
//
// The life of a record:
//
//	absent ──Claim──▶ claimed ──Arm──▶ sending ──MarkSent──▶ sent
//	   ▲                 │                │  └──Mark*──▶ failed | ambiguous | dead_lettered | expired
//	   └─────Release─────┴────────────────┘
//
// Claim returns an owner token, which is also the attempt id that SES
// events name; every later transition is made by one Lua script that first
// checks the token, so a replica whose lease was taken over can no longer
// change the record (ErrNotOwner). A claim is honoured for Config.Lease.
// After that, a claimed record is simply reclaimable (the holder never
// wrote the SES request, because Arm would have moved it to sending),
// while an abandoned sending record may or may not have been sent: by the
// AbandonPolicy it is either held as ambiguous (no duplicate, possibly a
// miss) or taken over and sent again (no miss, possibly a duplicate). With
// Config.ResolveAfter, an ambiguous record waits for an SES event (Settle)
// and is declared not sent when none came in time.
//
// Batches: ClaimBatch, ArmBatch and MarkBatch make one Lua call per Redis
// Cluster slot group of the batch; the single-user methods are batches of
// one.
//
// Storage: the records of a campaign live in Redis hashes (buckets),
// <prefix>:f:{<campaign>:<shard>}:<bucket>, one field per user. The shard
// is Kafka's default partition of the user id, so every bucket of one
// (campaign, shard) is in one cluster slot and a batch from one Kafka
// partition is one call; the bucket is a second hash of the user id, so
// that buckets stay small listpacks. The Layout (shards, buckets) is stored
// once under <prefix>:fence-layout and never changes. Every write renews
// its bucket's expiry to Config.Retention.
//
// Values are "<tag><flags>|<unix ms>|<attempt>|<detail>", e.g.
// "s|1763051123456|Xk3_a9QpLw0|<message id>" or "c|<deadline ms>|<token>|";
// an SES message id is stored packed (28 bytes instead of 60), so a sent
// value is 56 bytes and a sent user costs about 80 bytes of Redis memory in
// a listpack bucket (TestMemoryPerSentUser, scripts/bench/memory.go).
//
// Time: the scripts read Redis's clock (TIME), the one clock every sender
// shares, unless a test injects a clock, which is then passed to every
// script in ARGV (milliseconds): tests move time instead of sleeping.
package fence
