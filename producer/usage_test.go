package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUsageRequiredFlagsAtOnce: a command without its required flags exits
// 2 and names every one of them at once; --help marks them and shows
// examples; zero durations are refused by name; --version prints the build.
func TestUsageRequiredFlagsAtOnce(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"publish bare", []string{"publish"}, exitUsage, []string{"--campaign is required", "--source is required", "--template is required", "--from is required"}},
		{"publish from date", []string{"publish", "--campaign-from-date", "2006-01", "--source", "csv:x.csv"}, exitUsage, []string{"--template is required", "--from is required"}},
		{"status bare", []string{"status"}, exitUsage, []string{"--campaign is required"}},
		{"report bare", []string{"report"}, exitUsage, []string{"--campaign is required"}},
		{"preview bare", []string{"preview"}, exitUsage, []string{"--campaign is required", "--source is required", "--template is required", "--user is required"}},
		{"test-send bare", []string{"test-send"}, exitUsage, []string{"--campaign is required", "--user is required", "--to is required", "--from is required"}},
		{"erase bare", []string{"erase"}, exitUsage, []string{"--user is required"}},
		{"zero timeouts", []string{"status", "--campaign", "c", "--timeout", "0", "--redis-timeout", "0s"}, exitUsage, []string{"--timeout must be positive", "--redis-timeout must be positive"}},
		{"publish help", []string{"publish", "--help"}, exitOK, []string{"(required) users to email", "(required unless --campaign-from-date)", "examples:", "producer publish --campaign 2026-11 --source csv:users.csv"}},
		{"status help", []string{"status", "--help"}, exitOK, []string{"(required) campaign id", "producer status --campaign 2026-11 --watch"}},
		{"version", []string{"--version"}, exitOK, []string{"producer ", "go"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut, noEnv)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errOut.String())
			}
			text := out.String() + errOut.String()
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output does not say %q:\n%s", w, text)
				}
			}
		})
	}
}
