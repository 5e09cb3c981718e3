package job

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func validJob() *Job {
	exp := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	return &Job{
		Version: SchemaVersion, Campaign: "2026-11", UserID: "u-1", Email: "a@example.com",
		Template: "usage", Data: json.RawMessage(`{"kwh":"42"}`), From: "no-reply@example.com",
		ConfigurationSet: "cs", Headers: map[string]string{"List-Unsubscribe": "<https://x/u>"},
		CreatedAt: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), ExpiresAt: &exp, Attempt: 2,
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	j := validJob()
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, j, got)
	require.Equal(t, []byte("u-1"), got.Key())
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Job)
		raw    string
		want   string
	}{
		{name: "not json", raw: "{", want: "malformed"},
		{name: "future version", mutate: func(j *Job) { j.Version = SchemaVersion + 1 }, want: "schema version"},
		{name: "no campaign", mutate: func(j *Job) { j.Campaign = "" }, want: "campaign"},
		{name: "no user", mutate: func(j *Job) { j.UserID = "" }, want: "user_id"},
		{name: "no email", mutate: func(j *Job) { j.Email = "" }, want: "email"},
		{name: "no template", mutate: func(j *Job) { j.Template = "" }, want: "template"},
		{name: "no from", mutate: func(j *Job) { j.From = "" }, want: "from"},
		{name: "data not object", mutate: func(j *Job) { j.Data = json.RawMessage(`[1]`) }, want: "JSON object"},
		{name: "data too large", mutate: func(j *Job) {
			j.Data = json.RawMessage(`{"x":"` + strings.Repeat("a", MaxTemplateData) + `"}`)
		}, want: "SES limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			if tt.mutate != nil {
				j := validJob()
				tt.mutate(j)
				var err error
				raw, err = json.Marshal(j)
				require.NoError(t, err)
			}
			_, err := Decode(raw)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestExpired(t *testing.T) {
	j := validJob()
	require.False(t, j.Expired(j.ExpiresAt.Add(-time.Second)))
	require.True(t, j.Expired(*j.ExpiresAt))
	j.ExpiresAt = nil
	require.False(t, j.Expired(time.Now()))
}

func TestRecordHeaders(t *testing.T) {
	r, err := Record("p.jobs", validJob())
	require.NoError(t, err)
	require.Equal(t, "2026-11", Header(r, HeaderCampaign))
	require.Equal(t, "2", Header(r, HeaderAttempt))
	_, ok := NotBefore(r)
	require.False(t, ok)
	SetHeader(r, HeaderNotBefore, "1700000000000")
	SetHeader(r, HeaderNotBefore, "1700000001000")
	nb, ok := NotBefore(r)
	require.True(t, ok)
	require.Equal(t, int64(1700000001000), nb.UnixMilli())
	require.Len(t, r.Headers, 3)
	SetHeader(r, HeaderNotBefore, "soon")
	_, ok = NotBefore(r)
	require.False(t, ok)
	require.Equal(t, "", Header(&kgo.Record{}, HeaderCampaign))
	require.Len(t, Truncate(strings.Repeat("x", 2*MaxErrorText)), MaxErrorText)
}
