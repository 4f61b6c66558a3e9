package permission

import "math/bits"

// The loops of Allows, a word of eight bytes at a time: the verifier
// runs them over every scope of a token, and most scopes are decided in
// their first bytes.

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

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := word(a, i) ^ word(b, i); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// indexSpace returns the index of the first ' ' of s at or after from, or
// len(s) when there is none.
func indexSpace(s string, from int) int {
	i := from
	for ; i+8 <= len(s); i += 8 {
		// A byte of w is zero where s holds a space; the lowest byte that
		// the test flags is the first zero byte (a borrow only flags bytes
		// above a zero one).
		w := word(s, i) ^ spaces
		if m := (w - ones) &^ w & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s) && s[i] != ' '; i++ {
	}
	return i
}
