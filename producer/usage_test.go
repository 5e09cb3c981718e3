package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	sconfig "github.com/sendonce/sendonce/pkg/config"
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
		{"publish requires a configuration set", []string{"publish", "--campaign", "c", "--source", "csv:x.csv", "--template", "t", "--from", "a@example.com", "--require-configuration-set"}, exitUsage, []string{"--require-configuration-set is on and --configuration-set is empty"}},
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

// TestHelpOffersOnlyUsedFlags: publish and report do not offer the Redis
// flags, preview and test-send neither Redis nor Kafka flags; they are
// still accepted (one configuration fits every command). status (--user
// reads the fence) keeps them.
func TestHelpOffersOnlyUsedFlags(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		cmd     string
		offered []string
		hidden  []string
	}{
		{"publish", []string{"-brokers", "-kafka-ca-file"}, []string{"-redis-url", "-redis-timeout", "-redis-ca-file"}},
		{"report", []string{"-brokers"}, []string{"-redis-url"}},
		{"preview", []string{"-source", "-template"}, []string{"-brokers", "-kafka-ca-file", "-redis-url", "-startup-timeout", "-metrics-addr"}},
		{"test-send", []string{"-to"}, []string{"-brokers", "-redis-url"}},
		{"status", []string{"-brokers", "-redis-url"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{tt.cmd, "--help"}, &out, &errOut, noEnv); code != exitOK {
				t.Fatalf("--help: exit %d", code)
			}
			help, unused, _ := strings.Cut(errOut.String(), sconfig.HiddenHeading)
			for _, f := range tt.offered {
				if !strings.Contains(help, "  "+f+" ") {
					t.Errorf("%s --help does not offer %s", tt.cmd, f)
				}
			}
			for _, f := range tt.hidden {
				if strings.Contains(help, "  "+f+" ") {
					t.Errorf("%s --help offers %s, which it does not use", tt.cmd, f)
				}
				if !strings.Contains(unused, "  "+f+" ") {
					t.Errorf("%s --help does not list %s among the accepted but unused flags", tt.cmd, f)
				}
			}
		})
	}
	// Still accepted: a shared configuration with Redis and Kafka flags
	// gets past flag parsing to the command's own checks.
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"preview", "--brokers", "b:9092", "--redis-url", "redis://r:6379/0", "--redis-timeout", "1s"}, &out, &errOut, noEnv)
	if code != exitUsage || strings.Contains(errOut.String(), "not defined") || !strings.Contains(errOut.String(), "--campaign is required") {
		t.Errorf("preview with shared flags: exit %d, %s", code, errOut.String())
	}
}
