// Package ratelimit is the global send-rate limiter that every sender
// replica shares through Redis, so that all of them together stay under the
// SES sending quota.
//
// The algorithm is GCRA (the generic cell rate algorithm) with reservation
// semantics, in one Lua script: each WaitN(n) makes exactly one round trip
// that advances the shared theoretical arrival time by n slots and tells
// the caller how long to wait until the last of them is due, so a busy
// sender never polls. Slots count recipients (SES does): a SendBulkEmail to
// 50 takes WaitN(50); Wait is WaitN(1). Slots whose first is further away
// than Config.MaxAhead are not reserved; the caller is told when to ask
// again.
//
// Precision: the slots are spaced at Config.Pace (0.98) of the rate, and a
// caller that wakes up more than Config.MaxLate (15ms) after its slots were
// due gives them up and reserves again, so that slots taken late (a busy
// CPU, a paused process) do not go out together with the next, on-time
// ones. Together they keep every sliding second within 105% of the rate,
// the first second of a campaign included, with single slots and with
// batches of up to 5% of the rate, or of exactly 10% (50 at 500/s), while
// the average stays near 98%. Other batch sizes between 5% and 10% of the
// rate can put one batch too many into a second (48 at 500/s: 11 × 48 =
// 105.6%).
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
// The schedule runs on Redis's clock (TIME, read when the script runs), and
// the caller counts its wait from the reply: a request that was slow to run
// (a connection dialled at the start of a campaign, a pool queue) never
// gets slots in the past that it would take at once, and replica clocks do
// not matter. Everything else (Throttled's guess, Rate) uses the injected
// clock; the script returns how long ago the last decrease was, so the two
// clocks are never compared. Tests drive both (miniredis's SetTime).
package ratelimit
