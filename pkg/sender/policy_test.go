package sender

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

var testPolicy = JobPolicy{
	AllowedFrom:      []string{"reports@example.com", "news.example.org"},
	AllowedTemplates: []string{"usage", "welcome"},
}

// policyCases is one job per rule the sender enforces, and jobs it accepts.
var policyCases = []struct {
	name   string
	mutate func(*job.Job)
	rule   string // "" accepts
}{
	{name: "accepted as published", mutate: func(*job.Job) {}},
	{name: "allowed domain with display name", mutate: func(j *job.Job) { j.From = "News <anyone@news.example.org>" }},
	{name: "allowed address in another case", mutate: func(j *job.Job) { j.From = "Reports@Example.com" }},
	{name: "one-click unsubscribe headers", mutate: func(j *job.Job) {
		j.Headers = map[string]string{"List-Unsubscribe": "<https://u.example.com/x?t=abc>, <mailto:u@example.com>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
	}},
	{name: "campaign id with a colon", mutate: func(j *job.Job) { j.Campaign = "c1:evil" }, rule: RuleCampaign},
	{name: "user id with a newline", mutate: func(j *job.Job) { j.UserID = "u1\nforged" }, rule: RuleUserID},
	{name: "user id too long", mutate: func(j *job.Job) { j.UserID = strings.Repeat("u", 257) }, rule: RuleUserID},
	{name: "template name malformed", mutate: func(j *job.Job) { j.Template = "../usage" }, rule: RuleTemplate},
	{name: "template not allowed", mutate: func(j *job.Job) { j.Template = "password_reset" }, rule: RuleTemplateAllowed},
	{name: "recipient with a non-ASCII local part", mutate: func(j *job.Job) { j.Email = "zoë@example.com" }, rule: RuleRecipient},
	{name: "recipient with a unicode domain", mutate: func(j *job.Job) { j.Email = "zoe@bücher.example" }, rule: RuleRecipient},
	{name: "recipient with a display name", mutate: func(j *job.Job) { j.Email = "Zoe <zoe@example.com>" }, rule: RuleRecipient},
	{name: "two recipients", mutate: func(j *job.Job) { j.Email = "zoe@example.com,eve@example.com" }, rule: RuleRecipient},
	{name: "from not an address", mutate: func(j *job.Job) { j.From = "reports" }, rule: RuleFrom},
	{name: "from with a non-ASCII local part", mutate: func(j *job.Job) { j.From = "répórts@example.com" }, rule: RuleFrom},
	{name: "from another address of the domain", mutate: func(j *job.Job) { j.From = "ceo@example.com" }, rule: RuleFromAllowed},
	{name: "from a subdomain of an allowed domain", mutate: func(j *job.Job) { j.From = "a@evil.news.example.org" }, rule: RuleFromAllowed},
	{name: "from another domain", mutate: func(j *job.Job) { j.From = "reports@example.net" }, rule: RuleFromAllowed},
	{name: "configuration set malformed", mutate: func(j *job.Job) { j.ConfigurationSet = "cs with space" }, rule: RuleConfigurationSet},
	{name: "Reply-To header", mutate: func(j *job.Job) { j.Headers = map[string]string{"Reply-To": "attacker@example.net"} }, rule: RuleHeader},
	{name: "Bcc header", mutate: func(j *job.Job) { j.Headers = map[string]string{"Bcc": "attacker@example.net"} }, rule: RuleHeader},
	{name: "unsubscribe over http", mutate: func(j *job.Job) { j.Headers = map[string]string{"List-Unsubscribe": "<http://u.example.com/x>"} }, rule: RuleHeaderValue},
	{name: "unsubscribe mailto only", mutate: func(j *job.Job) { j.Headers = map[string]string{"List-Unsubscribe": "<mailto:u@example.com>"} }, rule: RuleHeaderValue},
	{name: "unsubscribe without brackets", mutate: func(j *job.Job) { j.Headers = map[string]string{"List-Unsubscribe": "https://u.example.com/x"} }, rule: RuleHeaderValue},
	{name: "unsubscribe with header injection", mutate: func(j *job.Job) {
		j.Headers = map[string]string{"List-Unsubscribe": "<https://u.example.com/x>\r\nBcc: attacker@example.net"}
	}, rule: RuleHeaderValue},
	{name: "unsubscribe post other value", mutate: func(j *job.Job) {
		j.Headers = map[string]string{"List-Unsubscribe": "<https://u.example.com/x>", "List-Unsubscribe-Post": "x=y"}
	}, rule: RuleHeaderValue},
}

func TestPolicyRefusesEachViolation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JobPolicy = testPolicy
	require.NoError(t, cfg.Validate())
	for _, tt := range policyCases {
		t.Run(tt.name, func(t *testing.T) {
			j := testJob("c1", 1, "example.com")
			tt.mutate(j)
			err := cfg.policy.check(j)
			if tt.rule == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrPolicy)
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.rule, pe.Rule)
			require.NotContains(t, err.Error(), j.Email, "a refusal never echoes the recipient")
		})
	}
}

func TestPolicyWithoutAllowListsStillChecksTheJob(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	j := testJob("c1", 1, "example.com")
	j.From, j.Template = "anyone@anywhere.example", "any_template"
	require.NoError(t, cfg.policy.check(j))
	j.Email = "zoë@example.com"
	require.ErrorIs(t, cfg.policy.check(j), ErrPolicy)
}

func TestPolicyConfigIsValidated(t *testing.T) {
	for _, p := range []JobPolicy{
		{AllowedFrom: []string{"not a domain"}},
		{AllowedFrom: []string{"zoë@example.com"}},
		{AllowedFrom: []string{"bücher.example"}},
		{AllowedTemplates: []string{"a.b"}},
	} {
		cfg := DefaultConfig()
		cfg.JobPolicy = p
		require.Error(t, cfg.Validate(), p)
	}
}

// TestRefusedJobsAreDeadLetteredNotSent runs every refusal through a real
// sender (kfake, miniredis, fake SES): each refused job lands in the DLQ
// with reason policy, is dead_lettered in the ledger, is counted, and is
// never sent; the accepted ones are sent once.
func TestRefusedJobsAreDeadLetteredNotSent(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	var recs []*kgo.Record
	refused, accepted := map[string]string{}, 0
	for i, tt := range policyCases {
		j := testJob("c1", i, "example.com")
		tt.mutate(j)
		if tt.rule == "" {
			accepted++
		} else if tt.rule != RuleCampaign && tt.rule != RuleUserID {
			refused[j.UserID] = tt.rule
		}
		r, err := job.Record(e.topics.Jobs(), j)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	cl := e.client()
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	cl.Close()

	r := e.start(func(c *Config) { c.JobPolicy = testPolicy })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	nRefused := len(policyCases) - accepted
	require.Equal(t, accepted, srv.Count(), "only accepted jobs are sent")
	require.Equal(t, accepted, r.outcome(outSent))
	require.Equal(t, nRefused, r.outcome(outPolicy))
	require.Equal(t, float64(nRefused), testutil.ToFloat64(r.s.m.dlq.WithLabelValues(retry.ReasonPolicy)))

	var dlq int
	e.count(e.topics.DLQ(), func(rec *kgo.Record) {
		dlq++
		require.Equal(t, retry.ReasonPolicy, job.Header(rec, job.HeaderDLQReason))
		require.NotEmpty(t, job.Header(rec, job.HeaderLastError))
	})
	require.Equal(t, nRefused, dlq)

	states := e.ledgerStates("c1")
	for user := range refused {
		require.Equal(t, ledger.DeadLettered, states[user], "user %s (rule %s)", user, refused[user])
	}
}

func TestUserHashTagIsKeyed(t *testing.T) {
	j := testJob("c1", 42, "example.com")
	k1, k2 := []byte(strings.Repeat("1", 32)), []byte(strings.Repeat("2", 32))
	h1 := message(j, k1, "").Tags["user_hash"]
	require.Equal(t, pseudonym.UserHash(k1, j.UserID), h1)
	require.NotEqual(t, h1, message(j, k2, "").Tags["user_hash"])
	require.NotContains(t, h1, j.UserID)
}

// TestPolicyConfigurationSetRule: --require-configuration-set refuses a job
// without a configuration set; off, such a job is accepted.
func TestPolicyConfigurationSetRule(t *testing.T) {
	tests := []struct {
		name    string
		require bool
		cs      string
		rule    string // "" accepts
	}{
		{name: "required and named", require: true, cs: "sendonce"},
		{name: "required and missing", require: true, rule: RuleConfigurationSetMissing},
		{name: "required and malformed", require: true, cs: "cs with space", rule: RuleConfigurationSet},
		{name: "optional and missing", require: false},
		{name: "optional and named", require: false, cs: "sendonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.JobPolicy.RequireConfigurationSet = tt.require
			require.NoError(t, cfg.Validate())
			j := testJob("c1", 1, "example.com")
			j.ConfigurationSet = tt.cs
			err := cfg.policy.check(j)
			if tt.rule == "" {
				require.NoError(t, err)
				return
			}
			var pe *PolicyError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.rule, pe.Rule)
			if tt.rule == RuleConfigurationSetMissing {
				require.ErrorContains(t, err, "--configuration-set")
				require.ErrorContains(t, err, "--require-configuration-set")
			}
		})
	}
}

// TestNoConfigurationSetWarnsOncePerCampaign: a sender that accepts jobs
// without a configuration set says so once per campaign, naming the
// campaign and --configuration-set, and never for a job that names one.
func TestNoConfigurationSetWarnsOncePerCampaign(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	var logs strings.Builder
	s := &Sender{cfg: cfg, log: slog.New(slog.NewTextHandler(&logs, nil))}
	send := func(campaign, cs string, n int) {
		for i := range n {
			j := testJob(campaign, i, "example.com")
			j.ConfigurationSet = cs
			refused, _ := s.refused(&kgo.Record{}, j)
			require.False(t, refused)
		}
	}
	send("c1", "sendonce", 5)
	require.Empty(t, logs.String(), "a job with a configuration set is not warned about")
	send("c1", "", 50)
	send("c2", "", 50)
	send("c1", "", 50)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2, "one warning per campaign:\n%s", logs.String())
	for i, c := range []string{"c1", "c2"} {
		require.Contains(t, lines[i], "level=WARN")
		require.Contains(t, lines[i], "campaign="+c)
		require.Contains(t, lines[i], "cannot be settled by SES events")
		require.Contains(t, lines[i], "--configuration-set")
	}
}

// TestJobWithoutConfigurationSetIsDeadLetteredWhenRequired runs a real
// sender (kfake, miniredis, fake SES) with --require-configuration-set: the
// job without a configuration set is dead-lettered with reason policy and
// recorded dead_lettered in the ledger, never sent; the other is sent.
func TestJobWithoutConfigurationSetIsDeadLetteredWhenRequired(t *testing.T) {
	e, srv := unitEnv(t, sesfake.Config{})
	with, without := testJob("c1", 1, "example.com"), testJob("c1", 2, "example.com")
	with.ConfigurationSet = "sendonce"
	e.publishJobs(with, without)

	r := e.start(func(c *Config) { c.JobPolicy.RequireConfigurationSet = true })
	waitFor(t, 30*time.Second, "group lag 0", func() bool { return e.groupLag() == 0 })
	r.stop(t)

	require.Equal(t, 1, srv.Count(), "only the job with a configuration set is sent")
	require.Equal(t, 1, r.outcome(outPolicy))
	var reasons []string
	e.count(e.topics.DLQ(), func(rec *kgo.Record) {
		require.Equal(t, retry.ReasonPolicy, job.Header(rec, job.HeaderDLQReason))
		reasons = append(reasons, job.Header(rec, job.HeaderLastError))
	})
	require.Len(t, reasons, 1)
	require.Contains(t, reasons[0], RuleConfigurationSetMissing)
	states := e.ledgerStates("c1")
	require.Equal(t, ledger.Sent, states[with.UserID])
	require.Equal(t, ledger.DeadLettered, states[without.UserID])
}
