// Package chaos is the end-to-end fault-injection test of sendonce (issue 5):
// the real binaries as separate OS processes (`producer publish`, three
// `sender run`, one `retrier run`), a private Kafka broker, a private Redis
// with AOF and a private SES v2 emulator, with the sesfault proxy in front of
// the emulator, while processes are stopped and restarted under the
// campaign. The verdict per user comes from the emulator's own store of
// accepted emails, never from the project's counters.
//
// Two modes: graceful (every stop is SIGTERM, the way Kubernetes stops pods)
// and hard (every stop is SIGKILL, the way nodes die).
//
//	go test ./scripts/chaos/                         reduced run (SENDONCE_CHAOS_USERS, default 3000)
//	make chaos                                       20,000 users, both modes
//	SENDONCE_CHAOS_REPORT=path                       also write the tables to path
//
// Everything lives in the test files; this file only documents the package.
// See docs/RELIABILITY.md for what is injected, what is demanded and the
// figures of the last full-size runs.
package chaos
