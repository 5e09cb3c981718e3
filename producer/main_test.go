package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
)

func noEnv(string) (string, bool) { return "", false }

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e, noEnv)
	return code, o.String(), e.String()
}

func writeCSV(t *testing.T, s string) string {
	t.Helper()
	p := t.TempDir() + "/users.csv"
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
	return p
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCmd()
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "publish")

	code, _, errOut = runCmd("send")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `unknown command "send"`)

	code, _, errOut = runCmd("publish", "--campaign", "c", "--source", "csv:x.csv", "--template", "t")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--from is required")

	code, _, errOut = runCmd("publish", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, errOut, "-max-rejects")
	require.Contains(t, errOut, "$SENDONCE_MAX_REJECTS")
}

func TestPublishUnreachableBroker(t *testing.T) {
	code, _, errOut := runCmd("publish", "--brokers", "127.0.0.1:1", "--connect-timeout", "1s", "--log-level", "error",
		"--campaign", "c", "--source", "csv:x.csv", "--template", "t", "--from", "a@example.com")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "could not reach Kafka at 127.0.0.1:1 within 1s (check --brokers / KAFKA_BROKERS")
}

func TestPublishCommand(t *testing.T) {
	_, seeds := kafkatest.Cluster(t, kfake.SeedTopics(-1))
	brokers := strings.Join(seeds, ",")
	base := func(src string, extra ...string) []string {
		return append([]string{"publish", "--brokers", brokers, "--topic-prefix", "m", "--partitions", "2", "--log-level", "error",
			"--campaign", "2026-11", "--source", src, "--template", "news", "--from", "news@example.com", "--skip-ses-checks"}, extra...)
	}

	code, _, errOut := runCmd(base("csv:" + writeCSV(t, "id,mail\n1,a@example.com\n"))...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `missing required column "user_id", "email"`)

	code, _, errOut = runCmd(base("csv:/nonexistent/users.csv")...)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "opening source file (check the path and its permissions)")

	good := writeCSV(t, "user_id,email\n1,a@example.com\n2,b@example.com\n3,bad\n")
	rejects := t.TempDir() + "/rejects.jsonl"
	code, out, errOut := runCmd(base("csv:"+good, "--rejects-file", rejects)...)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "published     2")
	require.Contains(t, out, "rejected      1 (invalid_email 1)")
	b, err := os.ReadFile(rejects)
	require.NoError(t, err)
	require.Contains(t, string(b), `"reason":"invalid_email"`)

	code, _, errOut = runCmd(base("csv:"+good, "--max-rejects", "0")...)
	require.Equal(t, exitTooManyBad, code)
	require.Contains(t, errOut, "1 rows rejected, --max-rejects is 0")

	code, out, errOut = runCmd("status", "--brokers", brokers, "--topic-prefix", "m", "--campaign", "2026-11", "--json")
	require.Equal(t, exitOK, code, errOut)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	// Every contract key with its value; keys may be added, none removed.
	for k, v := range map[string]any{"campaign": "2026-11", "published": 2.0, "sent": 0.0, "failed": 0.0, "retrying": 0.0,
		"dead_lettered": 0.0, "expired": 0.0, "ambiguous": 0.0, "pending": 2.0, "complete": false} {
		require.Contains(t, st, k)
		require.Equal(t, v, st[k], k)
	}
	require.Equal(t, 0.0, st["percent"])
	require.Contains(t, st, "eta_seconds")

	code, out, _ = runCmd("status", "--brokers", brokers, "--topic-prefix", "m", "--campaign", "2026-11")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "pending        2\n")
}

func TestPreviewUserNotFound(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	code, _, errOut := runCmd("preview", "--campaign", "c", "--source", "csv:"+writeCSV(t, "user_id,email\n1,a@example.com\n"), "--template", "t", "--user", "2")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `user not found in the source: no row of csv:`)
}

// TestPublishConfigurationSetPolicy: --require-configuration-set (or its
// variable) without --configuration-set is a usage error naming both
// flags; without it, a publish with no configuration set logs one warning
// at start that its sends cannot be settled by SES events; with one,
// nothing.
func TestPublishConfigurationSetPolicy(t *testing.T) {
	src := "csv:" + writeCSV(t, "user_id,email\n1,a@example.com\n")
	args := []string{"publish", "--campaign", "2026-11", "--source", src, "--template", "news", "--from", "news@example.com", "--dry-run", "--skip-ses-checks"}

	var out, errOut bytes.Buffer
	env := func(k string) (string, bool) {
		if k == "SENDONCE_REQUIRE_CONFIGURATION_SET" {
			return "true", true
		}
		return "", false
	}
	code := run(context.Background(), args, &out, &errOut, env)
	require.Equal(t, exitUsage, code, errOut.String())
	require.Contains(t, errOut.String(), "--require-configuration-set")
	require.Contains(t, errOut.String(), "--configuration-set is empty")

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), append(args, "--configuration-set", "sendonce"), &out, &errOut, env)
	require.Equal(t, exitOK, code, errOut.String())
	require.NotContains(t, errOut.String(), "cannot be settled")

	code, _, errText := runCmd(args...)
	require.Equal(t, exitOK, code, errText)
	require.Equal(t, 1, strings.Count(errText, "cannot be settled by SES events"), "one warning at start:\n%s", errText)
	require.Contains(t, errText, `"level":"WARN"`)
	require.Contains(t, errText, "set --configuration-set")
}
