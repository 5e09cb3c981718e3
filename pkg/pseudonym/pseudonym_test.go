package pseudonym

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUserHashIsKeyed(t *testing.T) {
	k1, k2 := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	h := UserHash(k1, "u-1")
	require.Len(t, h, 16)
	require.Equal(t, h, UserHash(k1, "u-1"), "stable for one key")
	require.NotEqual(t, h, UserHash(k2, "u-1"), "another key, another hash")
	require.NotEqual(t, h, UserHash(k1, "u-2"))
}

func TestUnsubscribeToken(t *testing.T) {
	k := []byte(strings.Repeat("k", 32))
	tok := UnsubscribeToken(k, "2026-11", "u-1")
	require.Len(t, tok, 43)
	require.True(t, VerifyUnsubscribeToken(k, "2026-11", "u-1", tok))
	for _, bad := range []struct{ c, u, tok string }{
		{"2026-11", "u-2", tok},             // another user
		{"2026-12", "u-1", tok},             // another campaign
		{"2026-11", "u-1", tok[:42] + "A"},  // altered
		{"2026-11", "u-1", "not base64 !!"}, // garbage
		{"2026-1", "1u-1", tok},             // no ambiguity at the boundary
	} {
		require.False(t, VerifyUnsubscribeToken(k, bad.c, bad.u, bad.tok), bad)
	}
	require.False(t, VerifyUnsubscribeToken([]byte(strings.Repeat("x", 32)), "2026-11", "u-1", tok))
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte(strings.Repeat("s", 44)+"\n"), 0o600))
	k, err := LoadKey(good)
	require.NoError(t, err)
	require.Len(t, k, 44)

	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("secret-value\n"), 0o600))
	_, err = LoadKey(short)
	require.ErrorIs(t, err, ErrShortKey)
	require.NotContains(t, err.Error(), "secret-value", "the error never shows the key")

	_, err = LoadKey(filepath.Join(dir, "missing"))
	require.Error(t, err)
}
