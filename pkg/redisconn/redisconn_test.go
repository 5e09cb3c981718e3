package redisconn

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  error  // errors.Is
		msg  string // or a substring
	}{
		{name: "plain", cfg: Config{URL: "redis://127.0.0.1:6379/0"}},
		{name: "tls with ca", cfg: Config{URL: "rediss://u@h:6380/0", Security: Security{CAFile: "ca.pem", PasswordFile: "pw"}}},
		{name: "unix", cfg: Config{URL: "unix:///run/redis.sock"}},
		{name: "bad scheme", cfg: Config{URL: "http://h:1"}, err: ErrURL},
		{name: "ca without tls", cfg: Config{URL: "redis://h:1/0", Security: Security{CAFile: "ca.pem"}}, err: ErrTLSFlags},
		{name: "cert without key", cfg: Config{URL: "rediss://h:1/0", Security: Security{CertFile: "c.pem"}}, msg: "--redis-key-file"},
		{name: "skip_verify refused", cfg: Config{URL: "rediss://h:1/0?skip_verify=true"}, err: ErrSkipVerify},
		{name: "skip_verify with --redis-insecure", cfg: Config{URL: "rediss://h:1/0?skip_verify=true", Security: Security{Insecure: true}}},
		{name: "user without password", cfg: Config{URL: "rediss://u@h:1/0"}, msg: "--redis-password-file"},
		{name: "password twice", cfg: Config{URL: "redis://:s3cret@h:1/0", Security: Security{PasswordFile: "pw"}}, msg: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.err != nil:
				require.ErrorIs(t, err, tt.err)
			case tt.msg != "":
				require.ErrorContains(t, err, tt.msg)
			default:
				require.NoError(t, err)
			}
			if err != nil {
				require.NotContains(t, err.Error(), "s3cret")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	require.Equal(t, "redis://:xxxxx@h:1/0", Redact("redis://:s3cret@h:1/0"))
	require.Equal(t, "rediss://u:xxxxx@h:1/0", Redact("rediss://u:s3cret@h:1/0"))
	require.Equal(t, "redis://h:1/0", Redact("redis://h:1/0"))
	require.NotContains(t, Redact("redis://u:s3cret@h:bad port/0"), "s3cret")
}

// TestErrorsNeverHoldThePassword: a URL with a password that does not
// parse, and one whose server does not answer, give errors without it.
func TestErrorsNeverHoldThePassword(t *testing.T) {
	for _, u := range []string{"redis://u:s3cret@h:bad port/0", "redis://u:s3cret@127.0.0.1:1/0", "redis://u:s3cret@127.0.0.1:1/x"} {
		_, err := New(context.Background(), Config{URL: u, Timeout: 200 * time.Millisecond})
		require.Error(t, err, u)
		require.NotContains(t, err.Error(), "s3cret", u)
	}
}

// TestNewReadsThePasswordFileAndPings: the password comes from the file
// (trailing newline dropped), and a wrong one fails at start, saying what
// to check.
func TestNewReadsThePasswordFileAndPings(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("s3cret")
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(good, []byte("s3cret\n"), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte("b4dpassw0rd"), 0o600))

	rdb, err := New(context.Background(), Config{URL: "redis://" + mr.Addr() + "/0", Security: Security{PasswordFile: good}, Timeout: time.Second, PoolSize: 7})
	require.NoError(t, err)
	single, ok := rdb.(*redis.Client)
	require.True(t, ok, "one host, no --redis-cluster: a single client, got %T", rdb)
	require.Equal(t, 7, single.Options().PoolSize)
	require.True(t, single.Options().ContextTimeoutEnabled)
	require.NoError(t, rdb.Set(context.Background(), "k", "v", 0).Err())
	rdb.Close()

	_, err = New(context.Background(), Config{URL: "redis://" + mr.Addr() + "/0", Security: Security{PasswordFile: bad}, Timeout: time.Second})
	require.ErrorContains(t, err, "--redis-password-file")
	require.NotContains(t, err.Error(), "b4dpassw0rd")

	_, err = New(context.Background(), Config{URL: "redis://" + mr.Addr() + "/0", Security: Security{PasswordFile: filepath.Join(dir, "missing")}})
	require.ErrorContains(t, err, "--redis-password-file")
}

// TestGoRedisLogsThroughSlog: go-redis's own lines (a failed dial) reach
// the service's slog logger, tagged component=redis.
func TestGoRedisLogsThroughSlog(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	_, err := New(context.Background(), Config{URL: "redis://127.0.0.1:1/0", Timeout: 200 * time.Millisecond, Log: log})
	require.Error(t, err)
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), `"component":"redis"`) }, 5*time.Second, 20*time.Millisecond, "go-redis log lines go through slog: %s", buf.String())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
