// Package redisconn builds the one Redis client every binary and subcommand
// uses (the fence, the shared rate limit, fence-restore, redrive), so that
// TLS, authentication and timeouts cannot differ between them. It never
// prints a Redis URL with its password.
//
// A Redis Cluster (ElastiCache in cluster mode) is selected by
// --redis-cluster (SENDONCE_REDIS_CLUSTER), by the scheme redis+cluster://
// or rediss+cluster://, or by a URL naming several hosts
// (redis://h1:6379,h2:6379): New then returns go-redis's ClusterClient,
// with the same TLS, password file, timeouts and ping at start. The hosts
// are seeds: the client learns the other nodes from CLUSTER SLOTS.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sendonce/sendonce/pkg/secret"
)

// Security holds the settings beside the URL: TLS, the password, and
// whether the URL names a Redis Cluster.
type Security struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate
	// (rediss:// only; empty: the system's CAs).
	CAFile string
	// CertFile and KeyFile are a client certificate and key (mTLS).
	CertFile, KeyFile string
	// PasswordFile holds the password (AUTH), instead of the URL's.
	PasswordFile string
	// Insecure allows ?skip_verify=true in a rediss:// URL.
	Insecure bool
	// Cluster makes the client a cluster client even for a redis:// URL
	// with one host (a cluster's configuration endpoint).
	Cluster bool
}

// RegisterFlags binds the --redis-* security flags.
func (s *Security) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.CAFile, "redis-ca-file", "", "PEM file of the CAs that sign the Redis server's certificate (rediss:// only)")
	fs.StringVar(&s.CertFile, "redis-cert-file", "", "PEM client certificate for mTLS to Redis (rediss:// only)")
	fs.StringVar(&s.KeyFile, "redis-key-file", "", "PEM client key for mTLS to Redis (rediss:// only)")
	fs.StringVar(&s.PasswordFile, "redis-password-file", "", "file holding the Redis password (instead of one in the URL)")
	fs.BoolVar(&s.Insecure, "redis-insecure", false, "allow skip_verify=true in a rediss:// URL (never in production)")
	fs.BoolVar(&s.Cluster, "redis-cluster", false, "--redis-url is a Redis Cluster (ElastiCache cluster mode): its configuration endpoint or seed hosts (a redis+cluster:// URL, or one with several comma-separated hosts, implies it)")
}

// Config says how to build a client.
type Config struct {
	URL      string
	Security Security
	// Timeout bounds dialing and each call (go-redis honours the context
	// deadline only with ContextTimeoutEnabled, which New sets).
	Timeout time.Duration
	// PoolSize is the connection pool size (0: go-redis's default).
	PoolSize int
	// Log receives go-redis's own log lines (UseLogger); nil: unchanged.
	Log *slog.Logger
}

// Errors returned by Validate and Options.
var (
	// ErrURL is returned for a URL that is not redis://, rediss:// or
	// unix://. The URL itself is not in the message: it may hold a password.
	ErrURL = errors.New("invalid Redis URL: want redis://[user@]host:port/db, rediss:// for TLS, unix://, or for a cluster redis+cluster://host:port[,host:port...] (rediss+cluster:// for TLS) (the URL is not printed: it may hold a password)")
	// ErrSkipVerify is returned for skip_verify=true without --redis-insecure.
	ErrSkipVerify = errors.New("the Redis URL turns certificate verification off (skip_verify): give --redis-ca-file with the server's CA instead, or --redis-insecure for a test")
	// ErrTLSFlags is returned for TLS files with a redis:// URL.
	ErrTLSFlags = errors.New("--redis-ca-file, --redis-cert-file and --redis-key-file need a rediss:// URL")
	// ErrClusterURL is returned for a cluster URL that names a database
	// other than 0 or a unix socket: a cluster has database 0 only and is
	// reached over TCP.
	ErrClusterURL = errors.New("invalid Redis Cluster URL: a cluster has database 0 only and no unix socket: want redis+cluster://host:port[,host:port...] or rediss+cluster:// for TLS")
)

// Validate says what is wrong, in words, without reading files.
func (c Config) Validate() error {
	t, err := c.target()
	if err != nil {
		return err
	}
	u := t.u
	if t.cluster && (len(t.hosts) == 0 || u.Scheme == "unix" || (u.Path != "" && u.Path != "/" && u.Path != "/0")) {
		return ErrClusterURL
	}
	s := c.Security
	if u.Scheme != "rediss" && (s.CAFile != "" || s.CertFile != "" || s.KeyFile != "") {
		return ErrTLSFlags
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return errors.New("redis mTLS needs both --redis-cert-file and --redis-key-file")
	}
	if sv := u.Query().Get("skip_verify"); sv != "" && sv != "false" && sv != "0" && !s.Insecure {
		return ErrSkipVerify
	}
	_, hasPW := u.User.Password()
	if hasPW && s.PasswordFile != "" {
		return errors.New("the Redis password is given twice: in the URL and in --redis-password-file; keep the file")
	}
	if u.User.Username() != "" && !hasPW && s.PasswordFile == "" {
		return fmt.Errorf("the Redis URL names user %q but no password: set --redis-password-file", u.User.Username())
	}
	return nil
}

// IsCluster reports whether c names a Redis Cluster: --redis-cluster, a
// +cluster scheme, or several hosts. An invalid URL is not a cluster.
func (c Config) IsCluster() bool {
	t, err := c.target()
	return err == nil && t.cluster
}

// Options returns the go-redis options of c: the URL's, plus the CA, the
// client certificate, the password file and the timeouts. Files are read
// here, so a missing one fails at start with its flag named. A cluster
// has ClusterOptions instead.
func Options(c Config) (*redis.Options, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.IsCluster() {
		return nil, errors.New("redisconn: the URL names a Redis Cluster: use ClusterOptions")
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		// go-redis's messages name the part that is wrong (scheme, db,
		// option), never the password.
		return nil, fmt.Errorf("parsing the Redis URL %s: %w", Redact(c.URL), err)
	}
	if err := c.Security.apply(opt.TLSConfig, &opt.Password); err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true
	if c.Timeout > 0 {
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = c.Timeout, c.Timeout, c.Timeout
	}
	if c.PoolSize > 0 {
		opt.PoolSize = c.PoolSize
	}
	return opt, nil
}

// apply sets the CA, the client certificate (when the URL is rediss://,
// tlsConf not nil) and the password from the files of s.
func (s Security) apply(tlsConf *tls.Config, password *string) error {
	if tlsConf != nil {
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return fmt.Errorf("--redis-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--redis-ca-file %s holds no PEM certificate", s.CAFile)
			}
			tlsConf.RootCAs = pool
		}
		if s.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
			if err != nil {
				return fmt.Errorf("--redis-cert-file/--redis-key-file: %w", err)
			}
			tlsConf.Certificates = []tls.Certificate{cert}
		}
	}
	if s.PasswordFile != "" {
		pw, err := secret.ReadFile(s.PasswordFile)
		if err != nil {
			return fmt.Errorf("--redis-password-file: %w", err)
		}
		*password = pw
	}
	return nil
}

// New builds the client and pings Redis once (every master of a cluster),
// so that a wrong address, CA or password fails at start with what to
// check. It is a *redis.Client, or a *redis.ClusterClient when c names a
// cluster (IsCluster).
func New(ctx context.Context, c Config) (redis.UniversalClient, error) {
	var rdb redis.UniversalClient
	if c.IsCluster() {
		opt, err := ClusterOptions(c)
		if err != nil {
			return nil, err
		}
		UseLogger(c.Log)
		rdb = redis.NewClusterClient(opt)
	} else {
		opt, err := Options(c)
		if err != nil {
			return nil, err
		}
		UseLogger(c.Log)
		rdb = redis.NewClient(opt)
	}
	if err := Ping(ctx, rdb, c); err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// Ping checks that Redis answers, within c.Timeout (2s when unset): on a
// cluster, every master, so that a shard that cannot be reached (a node
// address the client cannot dial, a CA that does not sign its
// certificate) fails at start rather than on the first key of its slots.
func Ping(ctx context.Context, rdb redis.UniversalClient, c Config) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := ForEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		if err := node.Ping(ctx).Err(); err != nil {
			if _, ok := rdb.(*redis.ClusterClient); ok {
				return fmt.Errorf("cluster node %s: %w", node.Options().Addr, err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		if c.IsCluster() {
			return fmt.Errorf("redis unreachable at %s: check --redis-url (REDIS_URL) and --redis-cluster (a cluster's configuration endpoint or seed hosts; every node it announces must be reachable), and for TLS the rediss:// scheme and --redis-ca-file, and the password (--redis-password-file): %w", Redact(c.URL), err)
		}
		return fmt.Errorf("redis unreachable at %s: check --redis-url (REDIS_URL), and for TLS the rediss:// scheme and --redis-ca-file, and the password (--redis-password-file): %w", Redact(c.URL), err)
	}
	return nil
}

// Redact returns the URL with its password replaced, for messages and
// logs. A URL that does not parse is not shown at all.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		return u.Redacted()
	}
	// Several hosts with an IPv6 literal: net/url refuses them.
	first, hosts, err := splitHosts(raw)
	if err != nil || len(hosts) < 2 {
		return "(unparsable Redis URL, not shown)"
	}
	if u, err = url.Parse(first); err != nil {
		return "(unparsable Redis URL, not shown)"
	}
	u.Host = strings.Join(hosts, ",")
	return u.Redacted()
}
