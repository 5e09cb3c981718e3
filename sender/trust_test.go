package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/sender"
)

func TestTrustFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(key, []byte(strings.Repeat("k", 44)+"\n"), 0o600))
	env := map[string]string{
		"SENDONCE_ALLOWED_FROM":       " news@example.com, example.org ,",
		"SENDONCE_ALLOWED_TEMPLATES":  "usage,welcome",
		"SENDONCE_USER_HASH_KEY_FILE": key,

		"SENDONCE_REQUIRE_CONFIGURATION_SET": "true",
	}
	var tf trustFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	tf.register(fs)
	require.NoError(t, config.Parse(fs, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	cfg := sender.DefaultConfig()
	require.NoError(t, tf.apply(&cfg))
	require.Equal(t, []string{"news@example.com", "example.org"}, cfg.JobPolicy.AllowedFrom)
	require.Equal(t, []string{"usage", "welcome"}, cfg.JobPolicy.AllowedTemplates)
	require.Len(t, cfg.UserHashKey, 44)
	require.True(t, cfg.JobPolicy.RequireConfigurationSet)
	require.NoError(t, cfg.Validate())
	var logs bytes.Buffer
	tf.warn(slog.New(slog.NewTextHandler(&logs, nil)))
	require.Empty(t, logs.String(), "nothing to warn about")

	// Unset: it starts, and says what is open.
	var open trustFlags
	open.warn(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, f := range []string{"--allowed-from", "--allowed-templates", "--user-hash-key-file"} {
		require.Contains(t, logs.String(), f)
	}

	// A short key or a bad list is refused at start.
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("secret"), 0o600))
	bad := trustFlags{userHashKeyFile: short}
	require.ErrorContains(t, bad.apply(&cfg), "--user-hash-key-file")
	bad = trustFlags{allowedFrom: "zoë@example.com"}
	cfg = sender.DefaultConfig()
	require.NoError(t, bad.apply(&cfg))
	require.ErrorContains(t, cfg.Validate(), "--allowed-from")
}
