package pseudonym

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var tagValue = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestUserRefRoundTrip(t *testing.T) {
	k := []byte(strings.Repeat("k", 32))
	for _, id := range []string{
		"u-1",
		"",
		"user@example.com",
		"ünïcødé 用户",
		strings.Repeat("x", MaxUserRefIDBytes),
	} {
		ref, err := SealUserRef(k, id)
		require.NoError(t, err, id)
		require.LessOrEqual(t, len(ref), MaxUserRefLen, id)
		require.Regexp(t, tagValue, ref, "a valid SES tag value")
		require.NotContains(t, ref, id[:min(len(id), 3)]+"@", "the id does not show")
		again, err := SealUserRef(k, id)
		require.NoError(t, err)
		require.Equal(t, ref, again, "deterministic: same user, same ref")
		got, err := OpenUserRef(k, ref)
		require.NoError(t, err, id)
		require.Equal(t, id, got)
	}
}

func TestUserRefMaxLength(t *testing.T) {
	k := []byte(strings.Repeat("k", 32))
	ref, err := SealUserRef(k, strings.Repeat("x", MaxUserRefIDBytes))
	require.NoError(t, err)
	require.Len(t, ref, MaxUserRefLen, "the longest id fills the tag exactly")
	_, err = SealUserRef(k, strings.Repeat("x", MaxUserRefIDBytes+1))
	require.ErrorIs(t, err, ErrUserRefTooLong)
}

func TestUserRefRejects(t *testing.T) {
	k := []byte(strings.Repeat("k", 32))
	other := []byte(strings.Repeat("o", 32))
	ref, err := SealUserRef(k, "u-1")
	require.NoError(t, err)
	ref2, err := SealUserRef(k, "u-2")
	require.NoError(t, err)
	require.NotEqual(t, ref, ref2)

	flip := []byte(ref)
	if flip[20] == 'A' {
		flip[20] = 'B'
	} else {
		flip[20] = 'A'
	}
	for name, bad := range map[string]struct {
		key []byte
		ref string
	}{
		"other key":     {other, ref},
		"altered":       {k, string(flip)},
		"truncated":     {k, ref[:len(ref)-2]},
		"not base64":    {k, "not a ref!"},
		"empty":         {k, ""},
		"a user hash":   {k, UserHash(k, "u-1")},
		"too long":      {k, strings.Repeat("A", MaxUserRefLen+4)},
		"spliced nonce": {k, ref2[:16] + ref[16:]},
	} {
		_, err := OpenUserRef(bad.key, bad.ref)
		require.ErrorIs(t, err, ErrBadUserRef, name)
	}
}

// Sealing under two keys in turn still gives each key's own ref (the cache
// holds one key).
func TestSealUserRefAlternatingKeys(t *testing.T) {
	k1, k2 := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	for i := 0; i < 3; i++ {
		r1, err := SealUserRef(k1, "u1")
		require.NoError(t, err)
		r2, err := SealUserRef(k2, "u1")
		require.NoError(t, err)
		require.NotEqual(t, r1, r2)
		got, err := OpenUserRef(k1, r1)
		require.NoError(t, err)
		require.Equal(t, "u1", got)
		_, err = OpenUserRef(k1, r2)
		require.ErrorIs(t, err, ErrBadUserRef)
	}
}

func BenchmarkSealUserRef(b *testing.B) {
	key := []byte(strings.Repeat("k", 32))
	for i := 0; i < b.N; i++ {
		if _, err := SealUserRef(key, "user-0001234"); err != nil {
			b.Fatal(err)
		}
	}
}
