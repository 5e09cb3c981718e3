package main

import (
	"io"
	"strings"
	"testing"

	"github.com/sendonce/sendonce/pkg/config"
)

// TestUsageExitCodes: every bad flag or argument is a usage error (exit 2)
// that names what is wrong, every zero duration at once; --version is 0.
func TestUsageExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no command", nil, 2, []string{"missing command"}},
		{"unknown command", []string{"send"}, 2, []string{`unknown command "send"`}},
		{"unknown flag", []string{"run", "--nosuch"}, 2, []string{"nosuch"}},
		{"restore without campaign", []string{"fence-restore"}, 2, []string{"--campaign is required"}},
		{"replay without target", []string{"replay"}, 2, []string{"--to earliest or --to-time"}},
		{"replay bad time", []string{"replay", "--to-time", "yesterday"}, 2, []string{"--to-time"}},
		{"zero durations", []string{"run", "--drain-timeout", "0", "--account-refresh", "0s", "--redis-timeout", "0", "--ses-timeout", "0"}, 2,
			[]string{"--drain-timeout must be positive", "--account-refresh must be positive", "--redis-timeout must be positive", "--ses-timeout must be positive"}},
		{"bad tiers", []string{"run", "--retry-tiers", "10m,1m"}, 2, []string{"strictly increasing"}},
		{"bad concurrency", []string{"run", "--concurrency", "0"}, 2, []string{"--concurrency"}},
		{"lease", []string{"run", "--fence-lease", "15s", "--ses-timeout", "10s"}, 2, []string{"--fence-lease"}},
		{"version", []string{"--version"}, 0, nil},
		{"help", []string{"run", "--help"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KAFKA_BROKERS", "")
			err := run(tt.args, io.Discard)
			if got := config.ExitCode(err); got != tt.code {
				t.Fatalf("exit code %d, want %d (err %v)", got, tt.code, err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
		})
	}
}
