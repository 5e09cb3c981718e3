package fence

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// AbandonPolicy says what Claim does with a key left in the sending phase by
// an owner whose lease expired: the SES request may or may not have been
// made.
type AbandonPolicy string

// The policies.
const (
	// Hold marks the key ambiguous (terminal) and does not send again: a
	// possible miss, never a duplicate.
	Hold AbandonPolicy = "hold"
	// Resend takes the key over and sends again: never a miss, a possible
	// duplicate.
	Resend AbandonPolicy = "resend"
)

// Defaults of Config.
const (
	DefaultPrefix    = "sendonce"
	DefaultLease     = time.Minute
	DefaultRetention = 62 * 24 * time.Hour
	DefaultTimeout   = 2 * time.Second
	DefaultShards    = 12
	DefaultBuckets   = 64
)

// Config configures a Fence. The zero value is valid once Validate has filled
// in the defaults.
type Config struct {
	// Prefix starts every key: <prefix>:f:{<campaign>:<shard>}:<bucket>
	// (a hash whose fields are user ids) and <prefix>:fence-layout.
	// Default "sendonce".
	Prefix string
	// Lease is how long an in-flight claim is honoured before it counts as
	// abandoned. Default 1m.
	Lease time.Duration
	// Retention is the TTL of a bucket: every write renews it, so a record
	// lives at least Retention after it was written. It must outlive the
	// campaign and any replay of it. Default 62 days.
	Retention time.Duration
	// Timeout bounds each Redis call. Default 2s.
	Timeout time.Duration
	// OnAbandoned is the policy for abandoned sending keys. Default Hold.
	OnAbandoned AbandonPolicy
	// Shards and Buckets are the Layout asked for when none is stored yet
	// (Establish); a stored layout wins. Defaults 12 and 64. Set Shards to
	// the jobs topic's partition count (or a divisor of it) so that a batch
	// is one Lua call, and Buckets so that a bucket holds about 250 users
	// (users per campaign / Shards / 250): see scripts/bench/memory.go.
	Shards, Buckets int
	// ResolveAfter is how long an ambiguous record waits for an SES event
	// (Settle) before a Claim declares it not sent and wins it again
	// (Claim.Resolved). 0 keeps ambiguous final (Done).
	ResolveAfter time.Duration
}

// Upper bounds of Shards and Buckets: far beyond any sensible layout, low
// enough to catch a typo.
const (
	maxShards  = 16384
	maxBuckets = 1 << 20
)

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("fence: invalid config")

// Validate fills in the defaults and says what is wrong, in words.
func (c *Config) Validate() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OnAbandoned == "" {
		c.OnAbandoned = Hold
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Buckets == 0 {
		c.Buckets = DefaultBuckets
	}
	switch {
	case strings.ContainsAny(c.Prefix, " \t\r\n"):
		return fmt.Errorf("%w: prefix %q contains white space", ErrConfig, c.Prefix)
	case strings.ContainsAny(c.Prefix, "{}"):
		return fmt.Errorf("%w: prefix %q contains a brace: it would become the Redis Cluster hash tag of every key", ErrConfig, c.Prefix)
	case c.Lease < time.Millisecond:
		return fmt.Errorf("%w: lease must be at least 1ms (got %s)", ErrConfig, c.Lease)
	case c.Retention < 2*c.Lease:
		return fmt.Errorf("%w: retention (%s) must be at least twice the lease (%s)", ErrConfig, c.Retention, c.Lease)
	case c.Timeout < time.Millisecond:
		return fmt.Errorf("%w: timeout must be at least 1ms (got %s)", ErrConfig, c.Timeout)
	case c.OnAbandoned != Hold && c.OnAbandoned != Resend:
		return fmt.Errorf("%w: on-abandoned policy must be %q or %q (got %q)", ErrConfig, Hold, Resend, c.OnAbandoned)
	case c.Shards < 1 || c.Shards > maxShards:
		return fmt.Errorf("%w: shards must be 1 to %d (got %d); match the jobs topic's partition count", ErrConfig, maxShards, c.Shards)
	case c.Buckets < 1 || c.Buckets > maxBuckets:
		return fmt.Errorf("%w: buckets must be 1 to %d (got %d)", ErrConfig, maxBuckets, c.Buckets)
	case c.ResolveAfter < 0:
		return fmt.Errorf("%w: resolve-after must not be negative (got %s)", ErrConfig, c.ResolveAfter)
	}
	return nil
}

// ParseAbandonPolicy parses "hold" or "resend" (the --on-ambiguous flag).
func ParseAbandonPolicy(s string) (AbandonPolicy, error) {
	switch p := AbandonPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case Hold, Resend:
		return p, nil
	}
	return "", fmt.Errorf("%w: on-abandoned policy must be %q or %q (got %q)", ErrConfig, Hold, Resend, s)
}
