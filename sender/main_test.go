package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"send"}, `unknown command "send"`},
		{"replay without target", []string{"replay"}, "--to earliest or --to-time"},
		{"replay with both targets", []string{"replay", "--to", "earliest", "--to-time", "2026-11-01T00:00:00Z"}, "exactly one"},
		{"replay bad time", []string{"replay", "--to-time", "yesterday"}, "--to-time"},
		{"restore without campaign", []string{"fence-restore"}, "--campaign is required"},
		{"bad ambiguous policy", []string{"run", "--on-ambiguous", "maybe"}, "--on-ambiguous"},
		{"bad tiers", []string{"run", "--retry-tiers", "10m,1m"}, "strictly increasing"},
		{"bad concurrency", []string{"run", "--concurrency", "0"}, "--concurrency"},
		{"bad redis url", []string{"run", "--redis-url", "http://x"}, "Redis URL"},
		{"lease shorter than two SES calls", []string{"run", "--fence-lease", "15s", "--ses-timeout", "10s"}, "--fence-lease (15s) must be at least twice --ses-timeout (10s)"},
		{"bad eviction check", []string{"run", "--redis-eviction-check", "ignore"}, "--redis-eviction-check must be require or warn"},
		{"bad stop cycles", []string{"run", "--stop-cycles", "0"}, "--stop-cycles must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KAFKA_BROKERS", "")
			err := run(tt.args, io.Discard)
			require.Error(t, err)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
