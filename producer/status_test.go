package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/kafka/kafkatest"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/source"
)

// TestStatusReportCommands: an unknown campaign or user is "not found",
// exit 3 (not zeros); bad flags exit 2 naming each; a published campaign
// reports its users, pending, as csv and jsonl.
func TestStatusReportCommands(t *testing.T) {
	_, seeds := kafkatest.Cluster(t, kfake.SeedTopics(-1))
	brokers := strings.Join(seeds, ",")
	common := []string{"--brokers", brokers, "--topic-prefix", "s", "--log-level", "error"}
	cmd := func(args ...string) []string { return append(args, common...) }

	code, out, errOut := runCmd(cmd("status", "--campaign", "nosuch")...)
	require.Equal(t, exitNotFound, code, errOut)
	require.Empty(t, out)
	require.Contains(t, errOut, `campaign "nosuch": not found`)

	code, _, errOut = runCmd(cmd("status", "--campaign", "nosuch", "--json")...)
	require.Equal(t, exitNotFound, code, errOut)

	code, _, errOut = runCmd(cmd("report", "--campaign", "nosuch")...)
	require.Equal(t, exitNotFound, code, errOut)

	code, _, errOut = runCmd(cmd("report", "--format", "xml")...)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--campaign is required")
	require.Contains(t, errOut, `--format must be csv or jsonl (got "xml")`)

	code, _, errOut = runCmd(cmd("status", "--campaign", "c", "--watch", "--user", "u1")...)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--watch and --user cannot be used together")

	// Publish in-process (the command's SES checks are not this test's).
	cl, err := kafka.NewClient(kafka.ClientConfig{Brokers: seeds}, producer.ClientOpts()...)
	require.NoError(t, err)
	defer cl.Close()
	topics := kafka.Topics{Prefix: "s"}
	require.NoError(t, producer.EnsureTopics(context.Background(), cl, kafka.Layout{Topics: topics, Partitions: 1, ReplicationFactor: -1, Tiers: []time.Duration{time.Second}}, time.Minute, nil))
	src, err := source.NewCSV(strings.NewReader("user_id,email\nu1,a@example.com\nu2,b@example.com\n"))
	require.NoError(t, err)
	_, err = producer.Publish(context.Background(), producer.PublishConfig{Campaign: "2026-11", Template: "news", From: "news@example.com", Source: "csv:x", MaxRejects: -1, Topics: topics},
		producer.Deps{Client: cl, Source: src})
	require.NoError(t, err)

	code, out, errOut = runCmd(cmd("report", "--campaign", "2026-11")...)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "user_id,state,message_id,reason,at,fact,bounce_type\nu1,pending,,,,,\nu2,pending,,,,,\n", out)
	require.Contains(t, errOut, "report: 2 users, pending 2")

	code, out, errOut = runCmd(cmd("report", "--campaign", "2026-11", "--format", "jsonl")...)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, `{"user_id":"u1","state":"pending","message_id":"","reason":"","at":null,"fact":"","bounce_type":""}`+"\n"+`{"user_id":"u2","state":"pending","message_id":"","reason":"","at":null,"fact":"","bounce_type":""}`+"\n", out)

	code, out, errOut = runCmd(cmd("status", "--campaign", "2026-11")...)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "0.0% settled")
	require.Contains(t, out, "unknown: nothing settled")

	// --watch, not on a terminal: one line per read, until Ctrl-C (here a
	// deadline), which is not an error.
	wctx, wcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer wcancel()
	var wout, werr bytes.Buffer
	code = run(wctx, cmd("status", "--campaign", "2026-11", "--watch", "--interval", "50ms"), &wout, &werr, noEnv)
	require.Equal(t, exitOK, code, werr.String())
	lines := strings.Split(strings.TrimSuffix(wout.String(), "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 2, wout.String())
	for _, l := range lines {
		require.Contains(t, l, "campaign 2026-11: 0.0% settled, published 2")
	}

	// The fence is unreachable here: the lookup still answers from the
	// ledger and the membership, and says so.
	noRedis := []string{"--redis-url", "redis://127.0.0.1:1/0", "--redis-timeout", "200ms"}
	code, out, errOut = runCmd(append(cmd("status", "--campaign", "2026-11", "--user", "u1"), noRedis...)...)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "state        pending\n")
	require.Contains(t, out, "fence        unreadable: redis unreachable")

	code, _, errOut = runCmd(append(cmd("status", "--campaign", "2026-11", "--user", "u9"), noRedis...)...)
	require.Equal(t, exitNotFound, code, errOut)
	require.Contains(t, errOut, `user "u9" of campaign "2026-11": not found`)
}
