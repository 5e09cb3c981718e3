// Package sesfault is a fault-injecting HTTP proxy in front of any SES v2
// endpoint (the node emulator, sesfake, or anything speaking the API). Only
// SendEmail and SendBulkEmail calls get faults: a share is answered 429
// TooManyRequests or 503 without being forwarded, a share is forwarded and
// accepted upstream but answered 503 anyway (the caller cannot know it was
// sent), chosen recipients are rejected for good (a bulk call's entries one
// by one), a token bucket caps the send rate (a bulk call takes a token per
// entry), and every send is delayed by a random latency. Every other
// operation passes through untouched.
//
// With Config.Events set, every email upstream accepted is told to it
// (sesevents.Publisher then publishes SES's events), also when the proxy
// answers 503: the events are how the system under test can learn that an
// ambiguous send was in fact accepted.
//
// A request the proxy has fully read is forwarded even if its caller has
// gone away, as SES would process it. Stats counts every decision and the
// peak send rate seen, so that a chaos test can check what the system under
// test did against what the proxy did to it.
package sesfault
