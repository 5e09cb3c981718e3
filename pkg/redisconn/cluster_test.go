package redisconn

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClusterSelection: which URLs and flags give a cluster client, and
// which cluster URLs are refused, in words, without the password.
func TestClusterSelection(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		cluster bool
		err     error  // errors.Is
		msg     string // or a substring
	}{
		{name: "single", cfg: Config{URL: "redis://127.0.0.1:6379/0"}},
		{name: "single tls", cfg: Config{URL: "rediss://h:6380/0"}},
		{name: "unix", cfg: Config{URL: "unix:///run/redis.sock"}},
		{name: "cluster scheme", cfg: Config{URL: "redis+cluster://h1:7000,h2:7001,h3:7002"}, cluster: true},
		{name: "cluster scheme one seed", cfg: Config{URL: "redis+cluster://cfg.example:6379"}, cluster: true},
		{name: "cluster scheme tls", cfg: Config{URL: "rediss+cluster://cfg.example:6379", Security: Security{CAFile: "ca.pem"}}, cluster: true},
		{name: "several hosts", cfg: Config{URL: "redis://h1:7000,h2:7001"}, cluster: true},
		{name: "several hosts ipv6", cfg: Config{URL: "redis://[::1]:7000,[::1]:7001/0"}, cluster: true},
		{name: "flag with one host", cfg: Config{URL: "rediss://cfg.example:6379", Security: Security{Cluster: true}}, cluster: true},
		{name: "db 0 allowed", cfg: Config{URL: "redis+cluster://h1:7000,h2:7001/0"}, cluster: true},
		{name: "cluster db 3", cfg: Config{URL: "redis+cluster://h1:7000/3"}, err: ErrClusterURL},
		{name: "several hosts db 3", cfg: Config{URL: "redis://h1:7000,h2:7001/3"}, err: ErrClusterURL},
		{name: "flag with db 2", cfg: Config{URL: "redis://h:1/2", Security: Security{Cluster: true}}, err: ErrClusterURL},
		{name: "flag with unix", cfg: Config{URL: "unix:///run/redis.sock", Security: Security{Cluster: true}}, err: ErrClusterURL},
		{name: "unix+cluster", cfg: Config{URL: "unix+cluster:///run/redis.sock"}, err: ErrURL},
		{name: "cluster without host", cfg: Config{URL: "redis+cluster:///0"}, err: ErrClusterURL},
		{name: "empty host in list", cfg: Config{URL: "redis+cluster://h1:7000,,h2:7001"}, err: ErrURL},
		{name: "host without port in list", cfg: Config{URL: "redis://u:s3cret@h1:7000,h2"}, err: ErrURL},
		{name: "bad scheme", cfg: Config{URL: "http+cluster://h:1"}, err: ErrURL},
		{name: "ca without tls", cfg: Config{URL: "redis+cluster://h:1", Security: Security{CAFile: "ca.pem"}}, err: ErrTLSFlags},
		{name: "skip_verify refused", cfg: Config{URL: "rediss+cluster://h:1?skip_verify=true"}, err: ErrSkipVerify},
		{name: "skip_verify with --redis-insecure", cfg: Config{URL: "rediss+cluster://h:1?skip_verify=true", Security: Security{Insecure: true}}, cluster: true},
		{name: "password twice", cfg: Config{URL: "redis+cluster://:s3cret@h1:1,h2:2", Security: Security{PasswordFile: "pw"}}, msg: "given twice"},
		{name: "user without password", cfg: Config{URL: "rediss+cluster://u@h1:1,h2:2"}, msg: "--redis-password-file"},
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
				require.Equal(t, tt.cluster, tt.cfg.IsCluster())
			}
			if err != nil {
				require.NotContains(t, err.Error(), "s3cret")
				require.False(t, tt.cfg.IsCluster() && tt.err == ErrURL, "an invalid URL is no cluster")
			}
		})
	}
}

// TestClusterOptions: the seeds, the password file, TLS files, timeouts
// and skip_verify reach go-redis's cluster options as they reach the
// single client's.
func TestClusterOptions(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))

	tests := []struct {
		name  string
		cfg   Config
		addrs []string
		check func(t *testing.T, c Config)
	}{
		{
			name:  "three seeds, password file, timeouts, pool",
			cfg:   Config{URL: "redis+cluster://u@h1:7000,h2:7001,h3:7002/0", Security: Security{PasswordFile: pw}, Timeout: 3 * time.Second, PoolSize: 9},
			addrs: []string{"h1:7000", "h2:7001", "h3:7002"},
			check: func(t *testing.T, c Config) {
				opt, err := ClusterOptions(c)
				require.NoError(t, err)
				require.Equal(t, "u", opt.Username)
				require.Equal(t, "s3cret", opt.Password)
				require.Nil(t, opt.TLSConfig)
				require.True(t, opt.ContextTimeoutEnabled)
				require.Equal(t, 3*time.Second, opt.ReadTimeout)
				require.Equal(t, 3*time.Second, opt.DialTimeout)
				require.Equal(t, 9, opt.PoolSize)
			},
		},
		{
			name:  "configuration endpoint with --redis-cluster, tls, skip_verify allowed",
			cfg:   Config{URL: "rediss://cfg.example:6379?skip_verify=true&max_redirects=5", Security: Security{Cluster: true, Insecure: true}},
			addrs: []string{"cfg.example:6379"},
			check: func(t *testing.T, c Config) {
				opt, err := ClusterOptions(c)
				require.NoError(t, err)
				require.NotNil(t, opt.TLSConfig)
				require.True(t, opt.TLSConfig.InsecureSkipVerify)
				require.Equal(t, "cfg.example", opt.TLSConfig.ServerName)
				require.Equal(t, 5, opt.MaxRedirects)
			},
		},
		{
			name:  "tls with a CA that is not PEM fails naming the flag",
			cfg:   Config{URL: "rediss+cluster://h1:7000,h2:7001", Security: Security{CAFile: pw}},
			addrs: []string{"h1:7000", "h2:7001"},
			check: func(t *testing.T, c Config) {
				_, err := ClusterOptions(c)
				require.ErrorContains(t, err, "--redis-ca-file")
				require.NotContains(t, err.Error(), "s3cret")
			},
		},
		{
			name:  "unknown option named, password not",
			cfg:   Config{URL: "redis+cluster://:s3cret@h1:7000,h2:7001?nonsense=1"},
			addrs: []string{"h1:7000", "h2:7001"},
			check: func(t *testing.T, c Config) {
				_, err := ClusterOptions(c)
				require.ErrorContains(t, err, "nonsense")
				require.NotContains(t, err.Error(), "s3cret")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, tt.cfg)
			if opt, err := ClusterOptions(tt.cfg); err == nil {
				require.Equal(t, tt.addrs, opt.Addrs)
			}
			_, err := Options(tt.cfg)
			require.Error(t, err, "a cluster config has no single-client options")
		})
	}
}

// TestClusterFlag: --redis-cluster is a bool beside the other --redis-*
// flags.
func TestClusterFlag(t *testing.T) {
	var s Security
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	s.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--redis-cluster"}))
	require.True(t, s.Cluster)
	require.True(t, Config{URL: "redis://cfg:6379", Security: s}.IsCluster())
}

func TestRedactCluster(t *testing.T) {
	require.Equal(t, "redis+cluster://u:xxxxx@h1:1,h2:2/0", Redact("redis+cluster://u:s3cret@h1:1,h2:2/0"))
	require.Equal(t, "redis://:xxxxx@[::1]:1,[::1]:2", Redact("redis://:s3cret@[::1]:1,[::1]:2"))
	require.NotContains(t, Redact("redis://:s3cret@[::1]:1,[::1"), "s3cret")
}

// TestClusterUnreachableFailsAtStart: a cluster URL nobody answers on
// fails New, naming --redis-cluster, without the
// password.
func TestClusterUnreachableFailsAtStart(t *testing.T) {
	_, err := New(context.Background(), Config{URL: "redis+cluster://:s3cret@127.0.0.1:1,127.0.0.1:2", Timeout: 300 * time.Millisecond})
	require.Error(t, err)
	require.ErrorContains(t, err, "redis unreachable at redis+cluster://:xxxxx@127.0.0.1:1,127.0.0.1:2")
	require.ErrorContains(t, err, "--redis-cluster")
	require.NotContains(t, err.Error(), "s3cret")
}
