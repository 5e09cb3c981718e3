package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// servicesEnv runs the producer against the real services, with the flags'
// environment from the process's (services.sh) plus extra.
func servicesEnv(extra map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := extra[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
}

func runIn(lookup func(string) (string, bool), args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e, lookup)
	return code, o.String(), e.String()
}

// prefixTopics lists the broker's topics that start with prefix.
func prefixTopics(t *testing.T, brokers []string, prefix string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	require.NoError(t, err)
	var out []string
	for _, name := range td.Names() {
		if strings.HasPrefix(name, prefix+".") {
			out = append(out, name)
		}
	}
	return out
}

// TestPublishChecksOnServices runs publish's pre-flight checks, --dry-run and
// test-send against the real SES emulator and Kafka broker.
func TestPublishChecksOnServices(t *testing.T) {
	endpoint := testenv.SESEndpoint(t)
	brokers := testenv.Kafka(t)
	prefix := testenv.Name(t, "p")
	tmpl := testenv.Name(t, "tmpl")
	if len(tmpl) > 64 {
		tmpl = tmpl[len(tmpl)-64:]
	}
	ctx := context.Background()
	api, err := ses.New(ctx, ses.Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, api.CreateTemplate(ctx, tmpl, "Your usage, {{first_name}}", "", "Hello {{first_name}}, {{hours}} hours."))

	good := writeCSV(t, "user_id,email,first_name,hours\nu0,bad-address,X,1\nu1,ada@example.com,Ada,12\nu2,bob@example.com,Bob,3\nu1,again@example.com,Ada,1\n")
	noHours := writeCSV(t, "user_id,email,first_name\nu1,ada@example.com,Ada\n")
	env := servicesEnv(map[string]string{"SENDONCE_TOPIC_PREFIX": prefix, "SENDONCE_LOG_FORMAT": "text"})
	publish := func(src, template string, extra ...string) []string {
		return append([]string{"publish", "--campaign", "checks", "--source", "csv:" + src, "--template", template,
			"--from", "Reports <reports@example.com>", "--partitions", "1"}, extra...)
	}

	t.Run("dry run writes no topic", func(t *testing.T) {
		rejects := t.TempDir() + "/rejects.jsonl"
		code, out, errOut := runIn(env, publish(good, tmpl, "--dry-run", "--rejects-file", rejects)...)
		require.Equal(t, exitOK, code, errOut)
		require.Contains(t, out, "dry run: nothing was published")
		require.Contains(t, out, "would publish  2")
		require.Contains(t, out, `row 1, line 2, user "u0", invalid_email`)
		require.Contains(t, out, `row 4, line 5, user "u1", duplicate_user`)
		require.Contains(t, errOut, "does not implement GetEmailIdentity", "the emulator's missing API is named once")
		b, err := os.ReadFile(rejects)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(string(b), "\n"))
		require.Empty(t, prefixTopics(t, brokers, prefix), "a dry run creates no topic and writes nothing")
	})
	t.Run("wrong template publishes nothing", func(t *testing.T) {
		code, out, errOut := runIn(env, publish(good, "nosuch-"+tmpl)...)
		require.Equal(t, exitError, code, errOut)
		require.Contains(t, errOut, `pre-flight check failed, nothing published: --template "nosuch-`+tmpl+`" does not exist in SES`)
		require.Contains(t, errOut, "create it (aws sesv2 create-email-template) or fix --template")
		require.NotContains(t, out, "published")
		requireNoJobs(t, brokers, prefix)
	})
	t.Run("template that does not render publishes nothing", func(t *testing.T) {
		code, _, errOut := runIn(env, publish(noHours, tmpl)...)
		require.Equal(t, exitError, code, errOut)
		require.Contains(t, errOut, `does not render for row 1 (user "u1") with its variables {first_name}`)
		requireNoJobs(t, brokers, prefix)
	})
	t.Run("test-send", func(t *testing.T) {
		to := testenv.Name(t, "qa") + "@test-send.example.org"
		code, out, errOut := runIn(env, "test-send", "--campaign", "checks", "--source", "csv:"+good, "--template", tmpl,
			"--from", "reports@example.com", "--user", "u2", "--to", to)
		require.Equal(t, exitOK, code, errOut)
		require.Contains(t, out, "test email of user u2 (row 3, campaign checks, template "+tmpl+") sent to "+to)
		_, id, ok := strings.Cut(strings.TrimSpace(out), "message id: ")
		require.True(t, ok, out)
		emails, err := testenv.SESStore(ctx, endpoint)
		require.NoError(t, err)
		var got []testenv.StoredEmail
		for _, e := range emails {
			if len(e.Destination.To) == 1 && e.Destination.To[0] == to {
				got = append(got, e)
			}
		}
		require.Len(t, got, 1, "one email, to --to")
		require.Equal(t, id, got[0].MessageID)
		require.Equal(t, "Your usage, Bob", got[0].Subject, "rendered with the user's row")
		requireNoJobs(t, brokers, prefix)
	})
	t.Run("good template publishes", func(t *testing.T) {
		code, out, errOut := runIn(env, publish(good, tmpl)...)
		require.Equal(t, exitOK, code, errOut)
		require.Contains(t, out, "published     2")
		require.Contains(t, errOut, "pre-flight checks passed")
	})
}

// requireNoJobs fails when the prefix's jobs, members or campaigns topic
// has a record: nothing was published, not even the campaign record.
func requireNoJobs(t *testing.T, brokers []string, prefix string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, prefix+".jobs", prefix+".members", prefix+".campaigns")
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			require.Zero(t, o.Offset, "%s has records", o.Topic)
		}
	})
}
