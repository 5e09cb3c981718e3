package producer

import "hash/maphash"

// userSet remembers the user ids published in one run, compactly: a 128-bit
// hash per user (two independent 64-bit maphash values) instead of the id.
// About 30 bytes per user, so 1M users take ~30 MiB. Two different ids
// collide with probability about n²/2^129, which for 10^8 users is 10^-23:
// no user is ever dropped as a false duplicate in practice.
type userSet struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]struct{}
}

func newUserSet() *userSet {
	return &userSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: make(map[[2]uint64]struct{}, 1024)}
}

// add records id and reports whether it was new.
func (u *userSet) add(id string) bool {
	k := [2]uint64{maphash.String(u.s1, id), maphash.String(u.s2, id)}
	if _, ok := u.m[k]; ok {
		return false
	}
	u.m[k] = struct{}{}
	return true
}

func (u *userSet) len() int { return len(u.m) }
