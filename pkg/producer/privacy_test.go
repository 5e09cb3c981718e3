package producer

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/source"
)

func TestUnsubscribeTokenIsSigned(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	cfg := testConfig()
	cfg.UnsubscribeURL = "https://example.com/u?c=2026-11&id={{user_id}}&t={{token}}"
	cfg.UnsubscribeKey = key
	require.NoError(t, cfg.Validate())
	require.Empty(t, UnsubscribeWarning(&cfg))

	row := source.Row{UserID: "42", Email: "ann@example.com"}
	j := newBuilder(&cfg, time.Now()).build(&row)
	link := strings.Trim(j.Headers[HeaderListUnsubscribe], "<>")
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.Equal(t, "42", u.Query().Get("id"))
	tok := u.Query().Get("t")
	require.True(t, pseudonym.VerifyUnsubscribeToken(key, cfg.Campaign, "42", tok), "the endpoint can check the token")
	require.False(t, pseudonym.VerifyUnsubscribeToken(key, cfg.Campaign, "43", tok), "it does not unsubscribe another user")
}

func TestUnsubscribeURLRules(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	tests := []struct {
		name string
		url  string
		key  []byte
		err  string
	}{
		{name: "signed", url: "https://x.example/u/{{user_id}}/{{token}}", key: key},
		{name: "unsigned still accepted (with a warning)", url: "https://x.example/u/{{user_id}}"},
		{name: "http refused", url: "http://x.example/u/{{user_id}}/{{token}}", key: key, err: "https://"},
		{name: "token without key", url: "https://x.example/u/{{user_id}}/{{token}}", err: "--unsubscribe-key-file"},
		{name: "key without token", url: "https://x.example/u/{{user_id}}", key: key, err: "has no {{token}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.UnsubscribeURL, cfg.UnsubscribeKey = tt.url, tt.key
			err := cfg.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
	cfg := testConfig()
	cfg.UnsubscribeURL = "https://x.example/u/{{user_id}}"
	require.Contains(t, UnsubscribeWarning(&cfg), "{{token}}")
}

func TestFromMustBeASCII(t *testing.T) {
	cfg := testConfig()
	cfg.From = "Zoë <zoë@example.com>"
	require.ErrorContains(t, cfg.Validate(), "non-ASCII")
	cfg.From = "Zoë <zoe@example.com>" // a non-ASCII display name is fine
	require.NoError(t, cfg.Validate())
}

func TestRejectsFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	for _, existing := range []bool{false, true} {
		path := filepath.Join(dir, "rejects.jsonl")
		if existing {
			require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o644))
		}
		f, err := CreateRejectsFile(path)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "existing=%v", existing)
		require.Zero(t, st.Size(), "truncated")
	}
}
