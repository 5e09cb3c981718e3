// Package ratelimit is the global send-rate limiter that every sender
// replica shares through Redis, so that all of them together stay under the
// SES sending quota.
//
// The algorithm is GCRA (the generic cell rate algorithm) with reservation
// semantics, in one Lua script: each Wait makes exactly one round trip that
// advances the shared theoretical arrival time by 1/rate and tells the
// caller how long to wait for its slot, so a busy sender never polls. A
// slot further away than Config.MaxAhead is not reserved; the caller is told
// when to ask again.
//
// The rate adapts to SES throttling (AIMD): Throttled lowers the current
// rate ×0.7 (at most once per second across all replicas, never below
// max(1/s, 5% of the ceiling)); every whole second after the last decrease
// gives back 5% of the ceiling, up to the ceiling. The current rate lives in
// the same Redis key as the GCRA state, so every replica paces with the same
// rate: a throttle seen by one replica slows all of them. Throttled itself
// makes no call: it is carried by the next Wait of the process.
//
// The ceiling (SetCeiling, e.g. refreshed from SES GetAccount × a fraction)
// is per process and passed with every call; replicas normally agree on it.
// Lowering it applies at once; raising it lets an ongoing recovery climb to
// the new ceiling (a fully recovered rate moves to it at once).
//
// Time comes from the caller's clock (passed to the script in
// microseconds), not from Redis, so tests inject time; replica clocks are
// assumed NTP-synchronised (a skew shifts slots, it does not add any).
package ratelimit
