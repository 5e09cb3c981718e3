package fence

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Layout is how the records of a campaign are spread over Redis hashes:
// each (campaign, shard, bucket) is one HASH whose fields are user ids.
// It must never change while fence data lives, because a user's record is
// found by recomputing its key: Establish stores it once, and the stored
// layout always wins over Config.
type Layout struct {
	// Shards is the number of slot groups of a campaign: every bucket of
	// one (campaign, shard) carries the hash tag {<campaign>:<shard>} and
	// so lives in one Redis Cluster slot. The shard of a user is Kafka's
	// default partition of its id, so with Shards equal to (or a divisor
	// of) the jobs topic's partition count, a batch from one partition is
	// one Lua call.
	Shards int
	// Buckets is the number of hashes per shard, chosen by a second,
	// independent hash of the user id, so that each stays small enough for
	// Redis's compact listpack encoding (hash-max-listpack-entries, 512 by
	// default): about 250 users per bucket, users / Shards / 250.
	Buckets int
}

// String is the stored form: "v2 shards=N buckets=B".
func (l Layout) String() string {
	return "v2 shards=" + strconv.Itoa(l.Shards) + " buckets=" + strconv.Itoa(l.Buckets)
}

// ErrLayout is returned when the stored layout cannot be read.
var ErrLayout = errors.New("fence: unrecognised layout (written by another version of sendonce?)")

// ParseLayout parses Layout.String.
func ParseLayout(s string) (Layout, error) {
	var l Layout
	if _, err := fmt.Sscanf(s, "v2 shards=%d buckets=%d", &l.Shards, &l.Buckets); err != nil || l.Shards < 1 || l.Buckets < 1 || l.String() != s {
		return Layout{}, fmt.Errorf("%w: %q", ErrLayout, s)
	}
	return l, nil
}

// Shard is Kafka's default partition of user among Shards partitions:
// toPositive(murmur2(user)) % Shards, as the Java client and franz-go's
// StickyKeyPartitioner compute it.
func (l Layout) Shard(user string) int {
	return int(murmur2(user)&0x7fffffff) % l.Shards
}

// Bucket is the hash of user within its shard: fnv-1a 32 % Buckets.
func (l Layout) Bucket(user string) int {
	return int(fnv1a(user) % uint32(l.Buckets))
}

// tag is the hash tag of (campaign, shard): every key of one Lua call
// shares it.
func (l Layout) tag(campaign string, shard int) string {
	return "{" + campaign + ":" + strconv.Itoa(shard) + "}"
}

// key is <prefix>:f:{<campaign>:<shard>}:<bucket>, and the tag in it.
func (l Layout) key(prefix, campaign, user string) (key, tag string) {
	tag = l.tag(campaign, l.Shard(user))
	return prefix + ":f:" + tag + ":" + strconv.Itoa(l.Bucket(user)), tag
}

// LayoutKey is the key that stores the layout: <prefix>:fence-layout.
func (f *Fence) LayoutKey() string { return f.cfg.Prefix + ":fence-layout" }

// configLayout is the layout Config asks for.
func (f *Fence) configLayout() Layout { return Layout{Shards: f.cfg.Shards, Buckets: f.cfg.Buckets} }

// Establish writes the layout from Config if none is stored (SET NX), else
// reads the stored one; the stored layout wins over Config. The answer is
// the layout in use: the caller may log that it differs from Config.
// Every other method establishes (writers) or reads (readers) the layout
// by itself on first use; calling Establish at start only makes it early
// and visible.
func (f *Fence) Establish(ctx context.Context) (Layout, error) {
	l, _, err := f.loadLayout(ctx, true)
	return l, err
}

// loadLayout returns the cached layout, or reads it, or (write) writes it.
// Without write and with no layout stored, it answers false: nothing was
// ever fenced under this prefix.
func (f *Fence) loadLayout(ctx context.Context, write bool) (Layout, bool, error) {
	if l := f.layout.Load(); l != nil {
		return *l, true, nil
	}
	f.layoutMu.Lock()
	defer f.layoutMu.Unlock()
	if l := f.layout.Load(); l != nil {
		return *l, true, nil
	}
	var v string
	err := f.call(ctx, "read layout", func(ctx context.Context) error {
		var err error
		v, err = f.rdb.Get(ctx, f.LayoutKey()).Result()
		if errors.Is(err, redis.Nil) {
			v, err = "", nil
		}
		if err != nil || v != "" || !write {
			return err
		}
		want := f.configLayout().String()
		ok, err := f.rdb.SetNX(ctx, f.LayoutKey(), want, 0).Result()
		if err != nil {
			return err
		}
		if ok {
			v = want
			return nil
		}
		v, err = f.rdb.Get(ctx, f.LayoutKey()).Result() // another sender was first
		return err
	})
	if err != nil {
		return Layout{}, false, err
	}
	if v == "" {
		return Layout{}, false, nil
	}
	l, err := ParseLayout(v)
	if err != nil {
		return Layout{}, false, fmt.Errorf("fence: reading %s: %w", f.LayoutKey(), err)
	}
	f.layout.Store(&l)
	return l, true, nil
}

// currentLayout is the cached layout, or Config's before one is loaded.
func (f *Fence) currentLayout() Layout {
	if l := f.layout.Load(); l != nil {
		return *l
	}
	return f.configLayout()
}

// murmur2 is Kafka's murmur2 (seed 0x9747b28c), ported from franz-go's
// pkg/kgo/partitioner.go (unexported there), itself from the Java client's
// Utils.murmur2. TestShardIsKafkaPartition checks it against franz-go's
// partitioner and Kafka's own test vectors.
func murmur2(s string) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(s))
	for len(s) >= 4 {
		k := uint32(s[3])<<24 + uint32(s[2])<<16 + uint32(s[1])<<8 + uint32(s[0])
		s = s[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(s) {
	case 3:
		h ^= uint32(s[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(s[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(s[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// fnv1a is 32-bit FNV-1a, without hash/fnv's allocation.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
