// Package fence is the Redis idempotency fence of the sender: one key per
// (campaign, user) says whether that user's email is free to send, in
// flight, or already settled, so that no two sender replicas (nor one
// replica after a crash or a redelivery) send the same email twice.
//
// The life of a key:
//
//	absent ──Claim──▶ claimed ──Arm──▶ sending ──MarkSent──▶ sent
//	   ▲                 │                │  └──Mark*──▶ failed | ambiguous | dead_lettered | expired
//	   └─────Release─────┴────────────────┘
//
// Claim returns an owner token; every later transition is made by one Lua
// script that first checks the token, so a replica whose lease was taken
// over can no longer change the key (ErrNotOwner). A claim is honoured for
// Config.Lease. After that, a claimed key is simply reclaimable (the holder
// never wrote the SES request, because Arm would have moved it to sending),
// while an abandoned sending key may or may not have been sent: by the
// AbandonPolicy it is either held as ambiguous (no duplicate, possibly a
// miss) or taken over and sent again (no miss, possibly a duplicate).
//
// Time never comes from Redis: the caller's clock is passed to every script
// in ARGV (milliseconds), so the scripts are deterministic and tests move
// time by injecting a clock instead of sleeping. Key expiry (TTL) is Redis's
// own clock and is only used to forget records: terminal records and
// sending keys live for Config.Retention, claimed keys for two leases.
//
// Memory is kept small on purpose (a campaign fences every user): each key is
// one string, not a hash. Values are "<state letter>|<unix ms>|<detail>",
// e.g. "s|1763051123456|<message id>" or "c|<deadline ms>|<token>"; an SES
// message id is stored packed (27 bytes instead of 60), which keeps a sent
// record of a typical user at about 136 bytes of Redis memory (see
// BenchmarkClaimMarkSent and TestMemoryPerSentKey).
package fence
