// Package chaos is the end-to-end fault-injection test of sendonce (issue 5):
// the real binaries as separate OS processes (`producer publish`, three
// `sender run`, one `retrier run` and, with SES events, one `sender
// reconcile`), a private Kafka broker, a private Redis with AOF and a
// private SES v2 emulator, with the sesfault proxy in front of the emulator,
// while processes are stopped and restarted under the campaign. The verdict
// per user comes from the emulator's own store of accepted emails, never
// from the project's counters.
//
// Three modes: graceful-50 (every stop is SIGTERM, the way Kubernetes stops
// pods; batches of 50), and hard-50 and hard-1 (every stop is SIGKILL, the
// way nodes die; batches of 50 with SendBulkEmail, and one SendEmail per
// user). The hard modes inject 503s and run with SES's events: the proxy
// publishes them to an SNS topic of the run in moto (issue 13), and `sender
// reconcile` settles every send in doubt from them, or the senders declare
// it not sent after --resolve-after and send it again.
//
//	go test ./scripts/chaos/                         reduced run (SENDONCE_CHAOS_USERS, default 3000; the hard modes half)
//	make chaos                                       20,000 users, every mode
//	SENDONCE_CHAOS_REPORT=path                       also write the tables to path
//
// Everything lives in the test files; this file only documents the package.
// See docs/RELIABILITY.md for what is injected, what is demanded and the
// figures of the last full-size runs.
package chaos
