package pseudonym

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
)

// The user_ref EmailTag carries the user id sealed (encrypted and
// authenticated) under a key derived from the user-hash key, so that SES's
// events (which reach an SQS queue other people may read) give the user id
// back to `sender reconcile` and to nobody else.
//
// The format is base64url without padding of nonce(12) || AES-256-GCM
// ciphertext of the id || tag(16). The nonce is HMAC(key, "user_ref nonce",
// user id)[:12]: deterministic (SIV-like), so one user always gets one ref,
// and OpenUserRef checks it again after decryption. A fixed nonce per user
// id is safe here because the plaintext under it is always that same id.

// RefSeparator separates a campaign id from the user id when both are
// sealed in one ref (a campaign id that SES's tag charset would alter).
const RefSeparator = "\x00"

// MaxUserRefLen is the longest ref SealUserRef makes: 256 characters, the
// longest value SES accepts for an EmailTag.
const MaxUserRefLen = 256

const (
	refNonceLen = 12
	refTagLen   = 16
	// refAAD binds a ref to its purpose and format version.
	refAAD = "sendonce user_ref v1"
)

// MaxUserRefIDBytes is the longest user id (in bytes) that fits in a ref
// of MaxUserRefLen characters.
const MaxUserRefIDBytes = MaxUserRefLen*3/4 - refNonceLen - refTagLen

// ErrUserRefTooLong is returned by SealUserRef for a user id longer than
// MaxUserRefIDBytes, whose ref SES would refuse as a tag value.
var ErrUserRefTooLong = fmt.Errorf("user id is too long for a user_ref tag (at most %d bytes)", MaxUserRefIDBytes)

// ErrBadUserRef is returned by OpenUserRef for a ref that was not made by
// SealUserRef under this key (another sender, another key, or altered).
var ErrBadUserRef = errors.New("user_ref does not open under this key (another sender or another --user-hash-key-file?)")

// SealUserRef returns the user_ref EmailTag value of userID: base64url
// (characters A-Za-z0-9-_, valid in an SES tag) of the sealed id, the same
// for the same key and user. It fails with ErrUserRefTooLong for an id
// whose ref would exceed MaxUserRefLen characters.
func SealUserRef(key []byte, userID string) (string, error) {
	if len(userID) > MaxUserRefIDBytes {
		return "", fmt.Errorf("sealing a user id of %d bytes: %w", len(userID), ErrUserRefTooLong)
	}
	aead, err := userRefAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := userRefNonce(key, userID)
	out := make([]byte, refNonceLen, refNonceLen+len(userID)+refTagLen)
	copy(out, nonce)
	out = aead.Seal(out, nonce, []byte(userID), []byte(refAAD))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenUserRef returns the user id sealed in ref by SealUserRef under key,
// or an error wrapping ErrBadUserRef.
func OpenUserRef(key []byte, ref string) (string, error) {
	if len(ref) > MaxUserRefLen {
		return "", fmt.Errorf("opening a user_ref of %d characters: %w", len(ref), ErrBadUserRef)
	}
	raw, err := base64.RawURLEncoding.DecodeString(ref)
	if err != nil || len(raw) < refNonceLen+refTagLen {
		return "", fmt.Errorf("opening a user_ref that is not base64url of a sealed id: %w", ErrBadUserRef)
	}
	aead, err := userRefAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := raw[:refNonceLen]
	id, err := aead.Open(nil, nonce, raw[refNonceLen:], []byte(refAAD))
	if err != nil {
		return "", fmt.Errorf("opening a user_ref: %w", ErrBadUserRef)
	}
	if !hmac.Equal(nonce, userRefNonce(key, string(id))) {
		return "", fmt.Errorf("opening a user_ref whose nonce is not its id's: %w", ErrBadUserRef)
	}
	return string(id), nil
}

// lastAEAD caches the cipher of the last key: a process seals every email
// under one key, and deriving it (HKDF) and setting up AES-GCM per email was
// a tenth of the sender's CPU per email on the batched path.
var lastAEAD atomic.Pointer[keyedAEAD]

type keyedAEAD struct {
	key  string
	aead cipher.AEAD // GCM: safe for concurrent use
}

func userRefAEAD(key []byte) (cipher.AEAD, error) {
	if c := lastAEAD.Load(); c != nil && c.key == string(key) {
		return c.aead, nil
	}
	aead, err := newUserRefAEAD(key)
	if err != nil {
		return nil, err
	}
	lastAEAD.Store(&keyedAEAD{key: string(key), aead: aead})
	return aead, nil
}

func newUserRefAEAD(key []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, nil, "sendonce user_ref aes-256-gcm", 32)
	if err != nil {
		return nil, fmt.Errorf("deriving the user_ref key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("making the user_ref cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("making the user_ref cipher: %w", err)
	}
	return aead, nil
}

func userRefNonce(key []byte, userID string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("user_ref nonce\x00"))
	m.Write([]byte(userID))
	return m.Sum(nil)[:refNonceLen]
}
