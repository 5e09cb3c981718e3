package redisconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/secret"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestRealRedisOverTLS talks to the real Redis's TLS port (scripts/services.sh
// starts it with the test CA and a password-protected user): the round trip
// works with --redis-ca-file and --redis-password-file, and each missing or
// wrong piece fails at start with what to check, never with the password.
func TestRealRedisOverTLS(t *testing.T) {
	r := testenv.SecuredRedis(t)
	pw, err := secret.ReadFile(r.PasswordFile)
	require.NoError(t, err)
	ctx := context.Background()
	good := Config{URL: r.URL, Security: Security{CAFile: r.CAFile, PasswordFile: r.PasswordFile}, Timeout: 2 * time.Second}

	rdb, err := New(ctx, good)
	require.NoError(t, err)
	key := testenv.Name(t, "tls")
	require.NoError(t, rdb.Set(ctx, key, "over tls", time.Minute).Err())
	v, err := rdb.Get(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, "over tls", v)
	rdb.Close()

	otherCA := selfSignedCA(t)
	wrongPW := filepath.Join(t.TempDir(), "wrong")
	require.NoError(t, os.WriteFile(wrongPW, []byte("not-"+pw), 0o600))
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"system CAs do not know the test CA", func(c *Config) { c.Security.CAFile = "" }, "certificate"},
		{"wrong password", func(c *Config) { c.Security.PasswordFile = wrongPW }, "WRONGPASS"},
		{"wrong CA", func(c *Config) { c.Security.CAFile = otherCA }, "certificate"},
		{"no password", func(c *Config) { c.Security.PasswordFile = "" }, "--redis-password-file"},
		{"plaintext to the TLS port", func(c *Config) { c.URL = strings.Replace(c.URL, "rediss://", "redis://", 1); c.Security.CAFile = "" }, "redis unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			rdb, err := New(ctx, c)
			if err == nil {
				rdb.Close()
			}
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), pw)
		})
	}

	// skip_verify is refused unless --redis-insecure is given.
	c := good
	c.URL += "?skip_verify=true"
	c.Security.CAFile = ""
	_, err = New(ctx, c)
	require.ErrorIs(t, err, ErrSkipVerify)
	c.Security.Insecure = true
	rdb, err = New(ctx, c)
	require.NoError(t, err)
	rdb.Close()
}

// selfSignedCA writes a CA certificate that signed nothing the server has.
func selfSignedCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return p
}
