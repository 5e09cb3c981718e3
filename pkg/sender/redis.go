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
// On a Redis Cluster every master is checked: one shard that may evict is
// enough to lose sent records. With --redis-eviction-check warn it logs
// instead (managed Redis where CONFIG is disabled: set the parameter
// group's maxmemory-policy to noeviction there).
func (s *Sender) checkRedisAtStart(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ev, where, err := s.eviction(cctx)
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
		problem = fmt.Errorf("%w: maxmemory-policy is %q%s; set it to noeviction (CONFIG SET maxmemory-policy noeviction, or the parameter group on ElastiCache), or Redis may drop sent records under memory pressure and a user can be sent twice", ErrEvictingRedis, ev.Policy, where)
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
	ev, where, err := s.eviction(cctx)
	s.observeEviction(ev, err)
	if err != nil || !s.evictionOK.Load() {
		return
	}
	if ev.Policy != fence.NoEviction {
		s.evictionOK.Store(false)
		s.log.Error("Redis maxmemory-policy changed: fence keys may be evicted and users sent twice; set it back to noeviction", "policy", ev.Policy, "where", where)
	}
}

// eviction reads the eviction settings of every master the fence writes
// to (each shard of a Redis Cluster, or the one server) and merges them
// (mergeEviction). where names the master whose policy is not noeviction,
// for the messages.
func (s *Sender) eviction(ctx context.Context) (ev fence.Eviction, where string, err error) {
	masters, err := s.fnc.EvictionByMaster(ctx)
	if err != nil {
		return fence.Eviction{EvictedKeys: -1}, "", err
	}
	return mergeEviction(masters)
}

// errNoMasters is returned by mergeEviction for a cluster with no master.
var errNoMasters = errors.New("the Redis Cluster has no master (is every slot assigned?)")

// mergeEviction is the eviction settings of several masters as one: the
// policy is noeviction only when every master's is (otherwise the first
// master's, by address, that is not, named in where); evicted_keys is the
// sum over the masters that report it (-1 when none does). A master that
// cannot be reached makes the whole reading ErrUnavailable; a policy that
// is not noeviction is a verdict even when another master refuses CONFIG
// GET (ErrConfigCommand, returned when no verdict was found).
func mergeEviction(masters []fence.MasterEviction) (ev fence.Eviction, where string, err error) {
	ev = fence.Eviction{Policy: fence.NoEviction, EvictedKeys: -1}
	if len(masters) == 0 {
		return ev, "", errNoMasters
	}
	cluster := len(masters) > 1
	var (
		cfgErr  error
		verdict bool // a master whose policy is not noeviction
	)
	for _, m := range masters {
		if m.EvictedKeys >= 0 && (m.Err == nil || errors.Is(m.Err, fence.ErrConfigCommand)) {
			ev.EvictedKeys = max(ev.EvictedKeys, 0) + m.EvictedKeys
		}
		switch {
		case m.Err != nil && errors.Is(m.Err, fence.ErrConfigCommand):
			if cfgErr == nil {
				cfgErr = m.Err
				if cluster {
					cfgErr = fmt.Errorf("master %s: %w", m.Addr, m.Err)
				}
			}
		case m.Err != nil:
			if cluster {
				return ev, "", fmt.Errorf("master %s: %w", m.Addr, m.Err)
			}
			return ev, "", m.Err
		case m.Policy != fence.NoEviction && !verdict:
			ev.Policy, verdict = m.Policy, true
			if cluster {
				where = fmt.Sprintf(" on master %s of the cluster (every master must be noeviction)", m.Addr)
			}
		}
	}
	switch {
	case verdict:
		return ev, where, nil
	case cfgErr != nil:
		ev.Policy = ""
		return ev, "", cfgErr
	}
	return ev, "", nil
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
