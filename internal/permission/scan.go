package permission

import "math/bits"

// The loop of Allows, a word of eight bytes at a time: the verifier runs
// it over every scope of a token, and most scopes are decided in their
// first bytes.

const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	spaces = 0x2020202020202020
)

// word returns the eight bytes of s from i, little-endian: one load.
func word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// part returns, for the scope of the space-separated scopes that begins
// at start, where it parts from resource (the index in scopes of the
// first byte they differ in, or where either ends) and where it ends (the
// index of the next ' ' at or after parted, or len(scopes)). Resources
// hold no space, so the scope parts from resource by its end at the
// latest.
func part(scopes string, start int, resource string) (parted, end int) {
	n := min(len(scopes)-start, len(resource))
	k := 0
	for ; k+8 <= n; k += 8 {
		if x := word(scopes, start+k) ^ word(resource, k); x != 0 {
			k += bits.TrailingZeros64(x) / 8
			break
		}
	}
	for ; k < n && scopes[start+k] == resource[k]; k++ {
	}
	parted = start + k
	i := parted
	for ; i+8 <= len(scopes); i += 8 {
		// A byte of w is zero where scopes holds a space; the lowest byte
		// that the test flags is the first zero byte (a borrow only flags
		// bytes above a zero one).
		w := word(scopes, i) ^ spaces
		if m := (w - ones) &^ w & highs; m != 0 {
			return parted, i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(scopes) && scopes[i] != ' '; i++ {
	}
	return parted, i
}
