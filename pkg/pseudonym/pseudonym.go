// Package pseudonym makes the keyed pseudonyms of a user that leave
// sendonce: the user_hash EmailTag SES stores with its events, and the
// {{token}} of the unsubscribe link. Both are HMAC-SHA256 under a secret
// key, so that neither can be computed (or forged) from a guessable user id
// by someone without the key. The package does no I/O besides LoadKey.
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MinKeyBytes is the shortest key LoadKey accepts: 32 bytes, e.g. the
// output of `openssl rand -base64 32` (44 characters).
const MinKeyBytes = 32

// ErrShortKey is returned by LoadKey for a key under MinKeyBytes.
var ErrShortKey = errors.New("key is too short: use at least 32 bytes, e.g. `openssl rand -base64 32 > key`")

// LoadKey reads a key file (its content, without a trailing newline, is the
// key). The error names the file, never its content.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	k := strings.TrimRight(string(b), "\r\n")
	if len(k) < MinKeyBytes {
		return nil, fmt.Errorf("key file %s: %w (it has %d bytes)", path, ErrShortKey, len(k))
	}
	return []byte(k), nil
}

// UserHash is the user_hash EmailTag: 16 hex characters of
// HMAC-SHA256(key, user id). An empty key still works (tests, local runs)
// but then anyone can compute the hash of a known user id.
func UserHash(key []byte, userID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("user_hash\x00"))
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// UnsubscribeToken is the {{token}} of an unsubscribe link: base64url
// (43 characters) of HMAC-SHA256(key, campaign, user id). The unsubscribe
// endpoint recomputes it with the same key (VerifyUnsubscribeToken) before
// it honours a request, so a link cannot be made up for another user.
func UnsubscribeToken(key []byte, campaign, userID string) string {
	return base64.RawURLEncoding.EncodeToString(unsubscribeMAC(key, campaign, userID))
}

// VerifyUnsubscribeToken reports, in constant time, whether token is the
// token of (campaign, user id) under key.
func VerifyUnsubscribeToken(key []byte, campaign, userID, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	return hmac.Equal(got, unsubscribeMAC(key, campaign, userID))
}

func unsubscribeMAC(key []byte, campaign, userID string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("unsubscribe\x00"))
	m.Write([]byte(campaign))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return m.Sum(nil)
}
