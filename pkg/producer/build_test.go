package producer

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/source"
)

func testConfig() PublishConfig {
	return PublishConfig{
		Campaign: "2026-11", Template: "monthly_news", From: "Example <news@example.com>",
		ConfigurationSet: "marketing", Source: "csv:users.csv", MaxRejects: -1,
		Topics: kafka.Topics{Prefix: "sendonce"},
	}
}

func TestJobRoundTrip(t *testing.T) {
	cfg := testConfig()
	cfg.ExpiresAt = time.Date(2026, 11, 30, 23, 59, 59, 0, time.FixedZone("CET", 3600))
	cfg.UnsubscribeURL = "https://example.com/unsubscribe/{{user_id}}?e={{email}}"
	now := time.Date(2026, 11, 1, 0, 0, 0, 123456789, time.UTC)
	row := source.Row{Num: 7, UserID: "u/42 ü", Email: "ann+news@example.com", Data: json.RawMessage(`{"first_name":"Ann","html":"<b>&</b>"}`)}

	j := newBuilder(&cfg, now).build(&row)
	rec, err := job.Record(cfg.Topics.Jobs(), j)
	require.NoError(t, err)
	require.Equal(t, "sendonce.jobs", rec.Topic)
	require.Equal(t, []byte("u/42 ü"), rec.Key)
	require.Equal(t, "2026-11", job.Header(rec, job.HeaderCampaign))
	require.Equal(t, "0", job.Header(rec, job.HeaderAttempt))

	back, err := job.Decode(rec.Value)
	require.NoError(t, err)
	require.Equal(t, job.SchemaVersion, back.Version)
	require.Equal(t, "2026-11", back.Campaign)
	require.Equal(t, "u/42 ü", back.UserID)
	require.Equal(t, "ann+news@example.com", back.Email)
	require.Equal(t, "monthly_news", back.Template)
	require.Equal(t, "Example <news@example.com>", back.From)
	require.Equal(t, "marketing", back.ConfigurationSet)
	require.JSONEq(t, string(row.Data), string(back.Data))
	require.True(t, now.Equal(back.CreatedAt))
	require.NotNil(t, back.ExpiresAt)
	require.True(t, cfg.ExpiresAt.Equal(*back.ExpiresAt))
	require.Equal(t, 0, back.Attempt)
	require.Equal(t, map[string]string{
		"List-Unsubscribe":      "<https://example.com/unsubscribe/u%2F42%20%C3%BC?e=ann%2Bnews%40example.com>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}, back.Headers)

	// The escaped URL decodes back to the user's values.
	u, err := url.Parse(UnsubscribeURL(cfg.UnsubscribeURL, row.UserID, row.Email))
	require.NoError(t, err)
	require.Equal(t, "/unsubscribe/u/42 ü", u.Path)
	require.Equal(t, "ann+news@example.com", u.Query().Get("e"))

	// The value is readable JSON with the documented keys.
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Value, &m))
	for _, k := range []string{"v", "campaign", "user_id", "email", "template", "data", "from", "configuration_set", "headers", "created_at", "expires_at", "attempt"} {
		require.Contains(t, m, k)
	}
}

func TestJobWithoutOptionalFields(t *testing.T) {
	cfg := testConfig()
	cfg.ConfigurationSet = ""
	j := newBuilder(&cfg, time.Now()).build(&source.Row{UserID: "1", Email: "a@example.com"})
	rec, err := job.Record(cfg.Topics.Jobs(), j)
	require.NoError(t, err)
	back, err := job.Decode(rec.Value)
	require.NoError(t, err)
	require.Nil(t, back.ExpiresAt)
	require.Nil(t, back.Headers)
	require.Empty(t, back.Data)
	require.NotContains(t, string(rec.Value), "expires_at")
}

func TestPublishConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*PublishConfig)
		err  string
	}{
		{name: "ok", edit: func(*PublishConfig) {}},
		{name: "campaign empty", edit: func(c *PublishConfig) { c.Campaign = "" }, err: "--campaign"},
		{name: "campaign with colon", edit: func(c *PublishConfig) { c.Campaign = "2026:11" }, err: "--campaign"},
		{name: "campaign with space", edit: func(c *PublishConfig) { c.Campaign = "nov 2026" }, err: "--campaign"},
		{name: "campaign of 65", edit: func(c *PublishConfig) { c.Campaign = string(make([]byte, 65)) }, err: "--campaign"},
		{name: "template empty", edit: func(c *PublishConfig) { c.Template = "" }, err: "--template"},
		{name: "template with dot", edit: func(c *PublishConfig) { c.Template = "a.b" }, err: "--template"},
		{name: "from empty", edit: func(c *PublishConfig) { c.From = "" }, err: "--from is required"},
		{name: "from invalid", edit: func(c *PublishConfig) { c.From = "news" }, err: "--from"},
		{name: "max rejects", edit: func(c *PublishConfig) { c.MaxRejects = -2 }, err: "--max-rejects"},
		{name: "max rejects zero ok", edit: func(c *PublishConfig) { c.MaxRejects = 0 }},
		{name: "unsubscribe ok", edit: func(c *PublishConfig) { c.UnsubscribeURL = "https://x.example/u?id={{user_id}}" }},
		{name: "unsubscribe without placeholder", edit: func(c *PublishConfig) { c.UnsubscribeURL = "https://x.example/u" }, err: "must contain {{user_id}}"},
		{name: "unsubscribe relative", edit: func(c *PublishConfig) { c.UnsubscribeURL = "/u/{{user_id}}" }, err: "absolute https://"},
		{name: "unsubscribe mailto", edit: func(c *PublishConfig) { c.UnsubscribeURL = "mailto:u@x.example?subject={{user_id}}" }, err: "absolute https://"},
		{name: "unsubscribe with bracket", edit: func(c *PublishConfig) { c.UnsubscribeURL = "https://x.example/u/{{user_id}}>" }, err: "angle brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}
