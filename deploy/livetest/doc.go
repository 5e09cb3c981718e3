// Package livetest runs a real Prometheus (Debian's package) against a short
// real pipeline run (the sender and retrier binaries, the real broker and
// Redis, a fake SES) and checks that every metric the Grafana dashboard and
// the alert rules query is one the services actually export, and that every
// query parses. A typo'd panel would otherwise stay empty forever.
package livetest
