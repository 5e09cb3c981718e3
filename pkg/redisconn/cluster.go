package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// clusterSuffix marks a cluster scheme: redis+cluster://, rediss+cluster://.
const clusterSuffix = "+cluster"

// target is a parsed Redis URL.
type target struct {
	// u is the URL with its first host only and the scheme redis,
	// rediss or unix (the +cluster suffix cut).
	u *url.URL
	// hosts are every host:port of the authority, in order.
	hosts []string
	// cluster: --redis-cluster, a +cluster scheme or several hosts.
	cluster bool
}

// target parses c.URL. Its errors never hold the URL.
func (c Config) target() (target, error) {
	first, hosts, err := splitHosts(c.URL)
	if err != nil {
		return target{}, ErrURL
	}
	u, err := url.Parse(first)
	if err != nil {
		return target{}, ErrURL
	}
	scheme, plus := strings.CutSuffix(u.Scheme, clusterSuffix)
	switch {
	case scheme == "unix" && !plus:
	case scheme == "redis" || scheme == "rediss":
	default:
		return target{}, ErrURL
	}
	u.Scheme = scheme
	return target{u: u, hosts: hosts, cluster: plus || len(hosts) > 1 || c.Security.Cluster}, nil
}

// splitHosts cuts the authority of raw into its comma-separated hosts and
// returns raw with the first host only (which net/url parses, IPv6
// literals included).
func splitHosts(raw string) (first string, hosts []string, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", nil, ErrURL
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	auth, tail := rest[:end], rest[end:]
	user := ""
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		user, auth = auth[:at+1], auth[at+1:]
	}
	for _, h := range strings.Split(auth, ",") {
		if h = strings.TrimSpace(h); h == "" {
			if auth == "" { // unix:///path has no host
				break
			}
			return "", nil, ErrURL
		}
		hosts = append(hosts, h)
	}
	host := ""
	if len(hosts) > 0 {
		host = hosts[0]
	}
	if len(hosts) > 1 {
		for _, h := range hosts {
			if hh, p, err := net.SplitHostPort(h); err != nil || hh == "" || p == "" {
				return "", nil, ErrURL
			}
		}
	}
	return scheme + "://" + user + host + tail, hosts, nil
}

// ClusterOptions returns the go-redis cluster options of c: the hosts as
// seeds, plus the same CA, client certificate, password file, timeouts and
// skip_verify rule as Options.
func ClusterOptions(c Config) (*redis.ClusterOptions, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, err := c.target()
	if err != nil {
		return nil, err
	}
	// go-redis's form: the first host, the others as addr= parameters.
	// skip_verify is not one of its cluster options: it is applied here,
	// Validate having checked --redis-insecure.
	u := *t.u
	q := u.Query()
	skip := q.Get("skip_verify")
	q.Del("skip_verify")
	for _, h := range t.hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery, u.Path = q.Encode(), ""
	opt, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("parsing the Redis Cluster URL %s: %w", Redact(c.URL), err)
	}
	if opt.TLSConfig != nil && skip != "" && skip != "false" && skip != "0" {
		opt.TLSConfig.InsecureSkipVerify = true
	}
	// TLS: every node's certificate is checked against the first host's
	// name (go-redis's ServerName), as ElastiCache wants: its nodes may
	// announce IP addresses, and its certificate names the endpoints.
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

// ErrNotMasters is returned by ForEachMaster for a client that is neither
// a single Redis nor a cluster (a ring, a sentinel failover client).
var ErrNotMasters = errors.New("redisconn: cannot list the masters of this kind of Redis client")

// ForEachMaster calls fn on every master: each master node of a cluster
// (concurrently; the first error is returned), or the one server of a
// single client. Per-server facts (INFO, CONFIG GET, DBSIZE) must be read
// this way: a keyless command on a cluster client reaches one node only.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node *redis.Client) error) error {
	switch r := rdb.(type) {
	case *redis.ClusterClient:
		return r.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, r)
	default:
		return fmt.Errorf("%w: %T", ErrNotMasters, rdb)
	}
}
