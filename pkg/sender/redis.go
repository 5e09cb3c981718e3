package sender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sendonce/sendonce/pkg/fence"
)

// ErrEvictingRedis is returned by Run when Redis may drop fence keys.
var ErrEvictingRedis = errors.New("redis may evict fence keys")

// checkRedisAtStart refuses to run on a Redis that may evict fence keys: a
// dropped sent record lets a replay or a redelivery send that user again.
// With --redis-eviction-check warn it logs instead (managed Redis where
// CONFIG is disabled: set the parameter group's maxmemory-policy to
// noeviction there).
func (s *Sender) checkRedisAtStart(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ev, err := s.fnc.Eviction(cctx)
	s.observeEviction(ev, err)
	var problem error
	switch {
	case errors.Is(err, fence.ErrConfigCommand):
		problem = fmt.Errorf("%w: cannot read maxmemory-policy (%v); if CONFIG is disabled (managed Redis), make sure the policy is noeviction and pass --redis-eviction-check warn", ErrEvictingRedis, err)
	case errors.Is(err, fence.ErrUnavailable):
		// Redis is away (a failover, a restart): the sender waits for it
		// like every step does; the check runs again every
		// --account-refresh.
		s.log.Warn("cannot check Redis's eviction policy yet: Redis is unreachable; checking again every --account-refresh", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("checking Redis (is REDIS_URL right and Redis up?): %w", err)
	case ev.Policy != fence.NoEviction:
		problem = fmt.Errorf("%w: maxmemory-policy is %q; set it to noeviction (CONFIG SET maxmemory-policy noeviction, or the parameter group on ElastiCache), or Redis may drop sent records under memory pressure and a user can be sent twice", ErrEvictingRedis, ev.Policy)
	}
	if problem == nil {
		s.evictionOK.Store(true)
		return nil
	}
	if s.cfg.EvictionCheck == EvictionWarn {
		s.log.Warn("running anyway (--redis-eviction-check warn)", "err", problem)
		return nil
	}
	return problem
}

// checkRedis is the periodic check: it keeps the metrics current and says
// once when the policy changes for the worse.
func (s *Sender) checkRedis(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ev, err := s.fnc.Eviction(cctx)
	s.observeEviction(ev, err)
	if err != nil || !s.evictionOK.Load() {
		return
	}
	if ev.Policy != fence.NoEviction {
		s.evictionOK.Store(false)
		s.log.Error("Redis maxmemory-policy changed: fence keys may be evicted and users sent twice; set it back to noeviction", "policy", ev.Policy)
	}
}

func (s *Sender) observeEviction(ev fence.Eviction, err error) {
	if ev.EvictedKeys >= 0 && (err == nil || errors.Is(err, fence.ErrConfigCommand)) {
		s.m.evictedKeys.Set(float64(ev.EvictedKeys))
	}
	switch {
	case err == nil && ev.Policy == fence.NoEviction:
		s.m.noEviction.Set(1)
	case err == nil:
		s.m.noEviction.Set(0)
	}
}
