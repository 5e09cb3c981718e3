// Package sesfault is a fault-injecting HTTP proxy in front of any SES v2
// endpoint (the node emulator, sesfake, or anything speaking the API). Only
// SendEmail calls get faults: a share is answered 429 TooManyRequests or 503
// without being forwarded, a share is forwarded and accepted upstream but
// answered 503 anyway (the caller cannot know it was sent), chosen
// recipients are rejected for good, a token bucket caps the send rate, and
// every SendEmail is delayed by a random latency. Every other operation
// passes through untouched.
//
// A request the proxy has fully read is forwarded even if its caller has
// gone away, as SES would process it. Stats counts every decision and the
// peak send rate seen, so that a chaos test can check what the system under
// test did against what the proxy did to it.
package sesfault
