package producer

import (
	"flag"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/config"
)

func parsePublish(t *testing.T, args []string, env map[string]string) (*PublishCommand, error) {
	t.Helper()
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c PublishCommand
	c.RegisterFlags(fs)
	if err := config.Parse(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

func TestPublishCommand(t *testing.T) {
	base := []string{"--campaign", "2026-11", "--source", "csv:users.csv", "--template", "news", "--from", "news@example.com"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	tests := []struct {
		name string
		args []string
		env  map[string]string
		err  string
		chk  func(*testing.T, *PublishCommand)
	}{
		{name: "defaults", args: base, chk: func(t *testing.T, c *PublishCommand) {
			require.Equal(t, -1, c.MaxRejects)
			require.Equal(t, 12, c.Partitions)
			require.Equal(t, -1, c.ReplicationFactor)
			require.Equal(t, "", c.Common.MetricsAddr, "a CronJob serves no metrics by default")
			l := c.Layout()
			require.Equal(t, "sendonce.jobs", l.Topics.Jobs())
			require.EqualValues(t, 12, l.Partitions)
			require.EqualValues(t, -1, l.ReplicationFactor)
			require.Equal(t, []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}, l.Tiers)
			require.Equal(t, "csv:users.csv", c.PublishConfig.Source)
			require.True(t, c.PublishConfig.ExpiresAt.IsZero())
		}},
		{name: "everything from the environment", env: map[string]string{
			"SENDONCE_CAMPAIGN": "2026-12", "SENDONCE_SOURCE": "jsonl:u.jsonl", "SENDONCE_TEMPLATE": "t", "SENDONCE_FROM": "a@example.com",
			"SENDONCE_MAX_REJECTS": "10", "SENDONCE_EXPIRES_AT": "2099-01-01T00:00:00Z", "SENDONCE_PARTITIONS": "3",
			"SENDONCE_RETRY_TIERS": "1s,5s", "SENDONCE_TOPIC_PREFIX": "t1", "KAFKA_BROKERS": "k:1",
		}, chk: func(t *testing.T, c *PublishCommand) {
			require.Equal(t, "2026-12", c.Campaign)
			require.Equal(t, 10, c.MaxRejects)
			require.Equal(t, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), c.PublishConfig.ExpiresAt)
			require.Equal(t, "t1.jobs", c.Topics.Jobs())
			require.Equal(t, []string{"k:1"}, c.Common.BrokerList())
			require.Equal(t, []time.Duration{time.Second, 5 * time.Second}, c.Layout().Tiers)
		}},
		{name: "flag wins over env", args: with("--max-rejects", "3"), env: map[string]string{"SENDONCE_MAX_REJECTS": "10"}, chk: func(t *testing.T, c *PublishCommand) {
			require.Equal(t, 3, c.MaxRejects)
		}},
		{name: "no source", args: []string{"--campaign", "c", "--template", "t", "--from", "a@example.com"}, err: "--source is required"},
		{name: "athena without query", args: with("--source", "athena"), err: "--athena-query"},
		{name: "athena with both", args: with("--source", "athena", "--athena-query", "q", "--athena-query-file", "f"), err: "not both"},
		{name: "athena bad output", args: with("--source", "athena", "--athena-query", "q", "--athena-output", "bucket/x"), err: "--athena-output"},
		{name: "query without athena", args: with("--athena-query", "q"), err: "need --source athena"},
		{name: "expires in the past", args: with("--expires-at", "2001-01-01T00:00:00Z"), err: "--expires-at"},
		{name: "expires unparsable", args: with("--expires-at", "tomorrow"), err: "RFC 3339"},
		{name: "bad tiers", args: with("--retry-tiers", "2m,30s"), err: "--retry-tiers"},
		{name: "bad partitions", args: with("--partitions", "0"), err: "--partitions"},
		{name: "bad replication", args: with("--replication-factor", "0"), err: "--replication-factor"},
		{name: "bad campaign", args: with("--campaign", "a/b"), err: "--campaign"},
		{name: "bad prefix", args: with("--topic-prefix", "a b"), err: "topic prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parsePublish(t, tt.args, tt.env)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			tt.chk(t, c)
		})
	}
}

func TestSourceFlagsAthena(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/q.sql", []byte("\nSELECT user_id, email FROM users\n"), 0o600))
	s := SourceFlags{Spec: "athena", AthenaQueryFile: dir + "/q.sql", AthenaDatabase: "crm", AthenaWorkgroup: "wg", AthenaOutput: "s3://b/p/", AthenaTimeout: time.Minute}
	require.NoError(t, s.Validate())
	a, err := s.Athena("2026-11")
	require.NoError(t, err)
	require.Equal(t, "SELECT user_id, email FROM users", a.Query)
	require.Equal(t, "2026-11", a.Campaign)
	require.Equal(t, "crm", a.Database)
	require.Equal(t, "wg", a.Workgroup)
	require.Equal(t, "s3://b/p/", a.OutputLocation)

	s.AthenaQueryFile = dir + "/missing.sql"
	_, err = s.Athena("c")
	require.ErrorContains(t, err, "--athena-query-file")
}

func TestStatusAndPreviewCommands(t *testing.T) {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var s StatusCommand
	s.RegisterFlags(fs)
	require.NoError(t, config.Parse(fs, []string{"--campaign", "2026-11", "--json"}, func(string) (string, bool) { return "", false }))
	require.NoError(t, s.Validate())
	require.True(t, s.JSON)
	s.Campaign = ""
	require.ErrorContains(t, s.Validate(), "--campaign")

	fs = flag.NewFlagSet("preview", flag.ContinueOnError)
	var p PreviewCommand
	p.RegisterFlags(fs)
	require.NoError(t, config.Parse(fs, []string{"--campaign", "2026-11", "--source", "csv:u.csv", "--template", "news"}, func(string) (string, bool) { return "", false }))
	require.ErrorContains(t, p.Validate(), "--user")
	p.User = "42"
	require.NoError(t, p.Validate())
}
