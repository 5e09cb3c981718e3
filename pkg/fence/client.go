package fence

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient returns a Redis client for redisURL (redis://, rediss:// or
// unix://) set up so that the per-call timeouts of this package (and of
// pkg/ratelimit) hold: go-redis ignores context deadlines on the wire
// unless ContextTimeoutEnabled is set, and then a Redis that accepts
// connections but never answers would block each call for its own read
// timeout (3s) times its retries. timeout also bounds dialing, reading and
// writing. Any client works with New; this one makes "Redis is down"
// surface within Config.Timeout.
func NewClient(redisURL string, timeout time.Duration) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("fence: parsing redis url: %w", err)
	}
	ClientOptions(opt, timeout)
	return redis.NewClient(opt), nil
}

// ClientOptions applies NewClient's settings to opt.
func ClientOptions(opt *redis.Options, timeout time.Duration) {
	opt.ContextTimeoutEnabled = true
	if timeout > 0 {
		opt.DialTimeout = timeout
		opt.ReadTimeout = timeout
		opt.WriteTimeout = timeout
	}
}
