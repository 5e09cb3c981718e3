package fence

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// MasterEviction is one master's Eviction, or why it could not be read
// (Err as Eviction returns it: ErrUnavailable, ErrConfigCommand, ...).
type MasterEviction struct {
	// Addr is the master's host:port ("" when the client does not say).
	Addr string
	Eviction
	Err error
}

// EvictionByMaster reads Eviction on every master the fence writes to,
// sorted by address: each master of a Redis Cluster, or the one server.
// On a cluster client, Eviction alone reaches one random node (INFO and
// CONFIG GET have no key), so a shard that may evict would go unseen. The
// error is for the cluster's topology (no master known); each master's
// own reading error is in its Err.
func (f *Fence) EvictionByMaster(ctx context.Context) ([]MasterEviction, error) {
	cl, ok := f.rdb.(*redis.ClusterClient)
	if !ok {
		m := MasterEviction{}
		if c, ok := f.rdb.(*redis.Client); ok {
			m.Addr = c.Options().Addr
		}
		m.Eviction, m.Err = f.Eviction(ctx)
		return []MasterEviction{m}, nil
	}
	var (
		mu  sync.Mutex
		out []MasterEviction
	)
	err := f.call(ctx, "list cluster masters", func(ctx context.Context) error {
		return cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			nf := &Fence{rdb: node, cfg: f.cfg, now: f.now, redisClock: f.redisClock}
			m := MasterEviction{Addr: node.Options().Addr}
			m.Eviction, m.Err = nf.Eviction(ctx)
			mu.Lock()
			out = append(out, m)
			mu.Unlock()
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b MasterEviction) int { return cmp.Compare(a.Addr, b.Addr) })
	return out, nil
}
