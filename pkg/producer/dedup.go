package producer

import (
	"hash/maphash"
	"math/bits"
)

// userSet remembers the user ids published in one run, compactly: a hash
// per user instead of the id, in an open-addressing table of 12-byte slots
// (a Go map of 128-bit hashes takes ~48 bytes a user, 480 MiB for 10M).
// The table is split into userShards shards by the top bits of a second
// hash, each grown on its own, so growing copies a sliver, not the set.
// At the loads kept (0.68 to 0.85) that is about 16 bytes a user: 10M users
// in ~160 MiB.
//
// A user is 106 bits of two independent 64-bit maphash values: 64 in the
// slot's lo, 32 in its hi, 10 in the shard. Two different ids collide with
// probability about n²/2^107, which for 10^8 users is 10^-16: no user is
// ever dropped as a false duplicate in practice.
type userSet struct {
	s1, s2 maphash.Seed
	shards [userShards]userShard
	n      int
}

const (
	userShardBits = 10
	userShards    = 1 << userShardBits
	// A shard grows by a quarter when it would be more than maxLoad full.
	maxLoadNum, maxLoadDen = 85, 100
)

// userShard is linear probing over parallel arrays; lo == 0 marks an empty
// slot (a hash of 0 is stored as 1).
type userShard struct {
	lo []uint64
	hi []uint32
	n  int
}

func newUserSet() *userSet {
	return &userSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed()}
}

// add records id and reports whether it was new.
func (u *userSet) add(id string) bool {
	lo, h2 := maphash.String(u.s1, id), maphash.String(u.s2, id)
	if lo == 0 {
		lo = 1
	}
	s := &u.shards[h2>>(64-userShardBits)]
	if (s.n+1)*maxLoadDen > len(s.lo)*maxLoadNum {
		s.grow()
	}
	if !s.insert(lo, uint32(h2)) {
		return false
	}
	u.n++
	return true
}

// insert puts (lo, hi) in its slot unless it is there already.
func (s *userShard) insert(lo uint64, hi uint32) bool {
	size := uint64(len(s.lo))
	i, _ := bits.Mul64(lo, size) // lo scaled to [0, size): any size works
	for {
		switch s.lo[i] {
		case 0:
			s.lo[i], s.hi[i] = lo, hi
			s.n++
			return true
		case lo:
			if s.hi[i] == hi {
				return false
			}
		}
		if i++; i == size {
			i = 0
		}
	}
}

func (s *userShard) grow() {
	size := max(16, len(s.lo)+len(s.lo)/4)
	old := *s
	*s = userShard{lo: make([]uint64, size), hi: make([]uint32, size)}
	for i, lo := range old.lo {
		if lo != 0 {
			s.insert(lo, old.hi[i])
		}
	}
}

func (u *userSet) len() int { return u.n }
