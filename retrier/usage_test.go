package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sendonce/sendonce/pkg/config"
)

// TestUsageExitCodes: bad flags and arguments exit 2 and name what is
// wrong (every zero duration at once); --version prints the build.
func TestUsageExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no command", nil, 2, []string{"missing command"}},
		{"unknown command", []string{"retry"}, 2, []string{`unknown command "retry"`}},
		{"unknown flag", []string{"run", "--nosuch"}, 2, []string{"nosuch"}},
		{"zero durations", []string{"run", "--drain-timeout", "0", "--paused-wake", "0s", "--commit-interval", "0"}, 2,
			[]string{"--drain-timeout must be positive", "--paused-wake must be positive", "--commit-interval must be positive"}},
		{"bad tiers", []string{"run", "--retry-tiers", "1m,30s"}, 2, nil},
		{"redrive bad reason", []string{"redrive", "--reason", "exhausted"}, 2, []string{"permanent, attempts_exhausted, malformed, policy, stopped", `"exhausted"`}},
		{"redrive zero retention", []string{"redrive", "--fence-retention", "0"}, 2, []string{"--fence-retention must be positive"}},
		{"version", []string{"--version"}, 0, []string{"retrier ", "go"}},
		{"help", []string{"redrive", "--help"}, 0, []string{"examples:", "retrier redrive --campaign 2026-11 --reason stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tt.args, &out, &errOut)
			if got := config.ExitCode(err); got != tt.code {
				t.Fatalf("exit code %d, want %d (err %v)", got, tt.code, err)
			}
			text := out.String() + errOut.String()
			if err != nil {
				text += err.Error()
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output does not say %q:\n%s", w, text)
				}
			}
		})
	}
}
