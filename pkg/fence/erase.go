package fence

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Erase deletes the record of (campaign, user), whatever its state (a
// user's erasure). It reports whether there was one.
func (f *Fence) Erase(ctx context.Context, campaign, user string) (bool, error) {
	key, ok, err := f.locate(ctx, campaign, user)
	if err != nil || !ok {
		return false, err
	}
	var n int64
	err = f.call(ctx, "erase", func(ctx context.Context) error {
		var err error
		n, err = f.rdb.HDel(ctx, key, user).Result()
		return err
	})
	return n == 1, err
}

// Campaigns lists, sorted, the campaigns that hold a record of user: it
// scans the buckets user falls in (one per campaign) on every primary. It
// is for an erasure that must find campaigns nothing else remembers; it
// reads every campaign's key names, so it is slow on a large Redis.
func (f *Fence) Campaigns(ctx context.Context, user string) ([]string, error) {
	if user == "" {
		return nil, ErrKey
	}
	l, ok, err := f.loadLayout(ctx, false)
	if err != nil || !ok {
		return nil, err
	}
	head := f.cfg.Prefix + ":f:{"
	tail := ":" + strconv.Itoa(l.Shard(user)) + "}:" + strconv.Itoa(l.Bucket(user))
	pattern := globEscape(head) + "*" + globEscape(tail)
	found := map[string]bool{}
	// Not f.call: a scan takes as long as the keyspace, not one call.
	if cc, ok := f.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			local := map[string]bool{}
			err := scanInto(ctx, c, pattern, head, tail, user, local)
			mu.Lock()
			defer mu.Unlock()
			for k := range local {
				found[k] = true
			}
			return err
		})
	} else {
		err = scanInto(ctx, f.rdb, pattern, head, tail, user, found)
	}
	if err != nil {
		return nil, wrap(ctx, "scan for a user's campaigns", err)
	}
	out := make([]string, 0, len(found))
	for c := range found {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// scanInto is Campaigns' scan of one node.
func scanInto(ctx context.Context, c redis.Cmdable, pattern, head, tail, user string, found map[string]bool) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if len(k) <= len(head)+len(tail) {
			continue
		}
		ok, err := c.HExists(ctx, k, user).Result()
		if err != nil {
			return fmt.Errorf("checking %s: %w", k, err)
		}
		if ok {
			found[k[len(head):len(k)-len(tail)]] = true
		}
	}
	return iter.Err()
}

// globEscape escapes the glob characters of SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
