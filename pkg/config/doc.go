// Package config holds the configuration pieces the three binaries share
// (Kafka, Redis, topics, metrics) and the flag/environment binding: every
// flag --foo-bar can also be set as SENDONCE_FOO_BAR; the flag wins.
package config
