package userrow

import (
	"encoding/binary"
	"slices"
)

// LoginSet holds 64-bit fingerprints of Login IDs (case-insensitive, as the
// store keys users), sorted. It says which users a chunk of an import writes,
// so that a later import of the tenant can tell whether it must wait for the
// chunk: two sets that do not intersect share no user; a false intersection
// (two IDs with one fingerprint) only makes a chunk wait, never lets one
// overtake. The fingerprint is FNV-1a, stable across processes and releases:
// sets are stored.
type LoginSet []uint64

// LoginFingerprint returns the fingerprint of a Login ID.
func LoginFingerprint(login string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range len(login) {
		c := login[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// NewLoginSet returns the set of the given fingerprints (sorted, without
// repeats); it reuses fps.
func NewLoginSet(fps []uint64) LoginSet {
	slices.Sort(fps)
	return LoginSet(slices.Compact(fps))
}

// Intersects reports whether the sets share a fingerprint: a merge of the
// two sorted lists.
func (s LoginSet) Intersects(o LoginSet) bool {
	i, j := 0, 0
	for i < len(s) && j < len(o) {
		switch {
		case s[i] == o[j]:
			return true
		case s[i] < o[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// Encode returns the stored form: 8 bytes a fingerprint, little-endian.
func (s LoginSet) Encode() []byte {
	b := make([]byte, 8*len(s))
	for i, x := range s {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

// DecodeLoginSet reads the stored form.
func DecodeLoginSet(b []byte) LoginSet {
	s := make(LoginSet, len(b)/8)
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return s
}
