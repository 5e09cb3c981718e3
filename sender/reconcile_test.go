package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/config"
)

// TestReconcileUsage: sender reconcile's bad flags are usage errors (exit
// 2) naming what is wrong, before anything is dialled.
func TestReconcileUsage(t *testing.T) {
	short := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(short, []byte("short\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		env  string // SENDONCE_EVENTS_QUEUE_URL
		want []string
	}{
		{"no queue", []string{"reconcile"}, "", []string{"--events-queue-url is required", "SENDONCE_EVENTS_QUEUE_URL"}},
		{"zero durations", []string{"reconcile", "--events-queue-url", "http://q", "--resolve-after", "0", "--visibility-timeout", "0"}, "",
			[]string{"--resolve-after must be positive", "--visibility-timeout must be positive"}},
		{"pollers", []string{"reconcile", "--pollers", "100"}, "http://q", []string{"pollers must be 1 to 64"}},
		{"visibility", []string{"reconcile", "--visibility-timeout", "1s"}, "http://q", []string{"visibility must be 2s to 12h"}},
		{"short key", []string{"reconcile", "--user-hash-key-file", short}, "http://q", []string{"--user-hash-key-file", "too short"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SENDONCE_EVENTS_QUEUE_URL", tc.env)
			var stderr bytes.Buffer
			err := run(tc.args, &stderr)
			require.Equal(t, 2, config.ExitCode(err), "err %v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "short\n")
		})
	}
}

func TestReconcileHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := run([]string{"reconcile", "--help"}, &stderr)
	require.Equal(t, 0, config.ExitCode(err))
	for _, f := range []string{"-events-queue-url", "-events-dlq-url", "-resolve-after", "-user-hash-key-file", "(default 30m0s)", "$SENDONCE_EVENTS_QUEUE_URL"} {
		require.True(t, strings.Contains(stderr.String(), f), f)
	}
}
