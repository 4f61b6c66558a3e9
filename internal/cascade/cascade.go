// Package cascade is a filter cascade (CRLite: Larisch et al., "CRLite: a
// Scalable System for Pushing All TLS Revocations to All Browsers", IEEE
// S&P 2017) over 16-byte token ids: a compact set that answers exactly for
// every id it was built from. Built from the revoked ids R and the other
// ids of its universe S (the issuer's recorded, unexpired, unrevoked
// tokens), it contains every id of R and none of S; ids outside R ∪ S may
// read either way, so a reader consults it only for tokens of its universe.
//
// The construction, the sizing and the reading follow the paper and
// Mozilla's implementations (github.com/mozilla/rust-cascade,
// github.com/mozilla/filter-cascade); the hashing and the encoding are
// writ's own, defined here so that another language can read a filter.
//
// # Construction
//
// Level 0 is a Bloom filter of R. The ids of S that it contains (its false
// positives) are level 1's set; the ids of R that level 1 contains are
// level 2's set, and so on, each level holding the false positives of the
// level above among the ids of the other side, until a level has none.
// [Filter.Contains] walks the levels from 0: an id absent from level i is
// revoked if i is odd and not revoked if i is even; an id present in every
// level is revoked if the number of levels is odd. With R empty there are
// no levels and nothing is revoked.
//
// Level 0 is sized for the false-positive rate p₀ = |R|/(√2·|S|) (the
// paper's choice with p = 1/2; 1/2 when |S| < √2·|R| or S is empty, and at
// least 2⁻³²), every deeper level for 1/2. A level for the rate p over n
// ids has k = round(log2(1/p)) bits per id (1 ≤ k ≤ 32) in an array of
// m = max(256, ⌈n·log2(1/p)/ln 2⌉) bits. A level below the top must leave
// fewer ids of the other side than the level above held; if it does not,
// Build builds it again with the next salt and twice the bits, at most
// 8 times, and gives up with [ErrSeparation] past 64 levels (neither
// happens with distinct random ids: the numbers of ids halve every two
// levels, so 1M revoked ids take about 30 levels). Build is deterministic:
// the same lists of ids give the same filter, in whatever order.
//
// # Hashing
//
// An id's bytes 0–7 and 8–15, read as little-endian unsigned 64-bit
// integers, are a and b. With fmix64, MurmurHash3's 64-bit finalizer
//
//	x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33
//	x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33
//
// and a level's salt s, an id hashes to
//
//	h1 = fmix64(fmix64(a ^ s) ^ b)
//	h2 = fmix64(h1 ^ a ^ 0x9e3779b97f4a7c15)
//
// (for a given salt, distinct ids give distinct pairs), and its k bits are
// the bit numbers ⌊gᵢ·m / 2⁶⁴⌋ for gᵢ = h1 + i·h2 mod 2⁶⁴, 0 ≤ i < k (double
// hashing, reduced to [0, m) by a 128-bit multiplication's high half). Bit
// number j of a level is bit j mod 8 (1 << (j mod 8)) of its byte ⌊j/8⌋.
// All arithmetic is on unsigned 64-bit integers, wrapping.
//
// # Encoding
//
// Big-endian integers:
//
//	"wrcf"          4 bytes, the magic
//	version         1 byte, 1
//	levels          1 byte, at most 64
//	then per level, from level 0:
//	  salt          8 bytes
//	  k             1 byte, 1 to 32
//	  m             4 bytes, the bit count, at least 256
//	  bits          ⌈m/8⌉ bytes; the bits past m in the last byte are 0
//
// and nothing after the last level; the whole is at most [MaxSize].
//
// # Size
//
// Measured with random ids (BenchmarkBuild): 4.3 bits per revoked id when
// |S| = |R| and 9.0 when |S| = 10·|R| (CRLite's "about a byte per
// revocation"), so 1M revoked ids take 0.54 MB and 1.13 MB; the exact
// list this package first held took 16 bytes per id and the JSON feed's
// token entries (internal/feed) take 49.
//
// # Ids outside the universe
//
// An id outside R ∪ S reads revoked when it falls in level 0 by chance and
// not in level 1, and so on: measured, 34% of random ids for |S| = |R|/2,
// 24% for |S| = 2·|R|, 5% for |S| = 10·|R|. A reader must know by other
// means that an id is of the filter's universe (a token the issuer had
// recorded when the filter was built) before it asks.
package cascade

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// ID is a token id, feed.TokenID's bytes.
type ID = [16]byte

// Filter is an immutable filter cascade. It is safe for concurrent use.
type Filter struct {
	levels []level
}

var _ encoding.BinaryAppender = (*Filter)(nil)

// level is one Bloom filter of the cascade.
type level struct {
	salt uint64
	k    uint64 // bits per id, 1 to maxK
	m    uint64 // bit count, minBits to math.MaxUint32
	bits []byte // ⌈m/8⌉ bytes, bit j at bits[j>>3] & (1 << (j&7))
}

const (
	magic       = "wrcf"
	version     = 1
	headerSize  = len(magic) + 2 // magic, version, level count
	levelHeader = 8 + 1 + 4      // salt, k, m
	maxLevels   = 64
	maxAttempts = 8
	maxK        = 32
	minBits     = 256
	// maxBits is the most bits a level can hold: what its 4-byte bit
	// count can say, and what fits in MaxSize.
	maxBits = min(math.MaxUint32, 8*MaxSize)
	golden  = 0x9e3779b97f4a7c15
)

// MaxSize bounds an encoding that Parse reads and that Build writes.
const MaxSize = 64 << 20

// Build returns a filter containing every id of revoked and none of
// others. Neither slice is kept; both may be reordered (their elements are
// not changed). An id in both is an error wrapping ErrOverlap; duplicates
// within one are allowed. A filter whose encoding would exceed MaxSize is
// an error wrapping ErrTooLarge (that takes about 59 million revoked ids
// with ten times as many others, and at least 11 million whatever the
// others).
func Build(revoked, others []ID) (*Filter, error) {
	f := &Filter{}
	size := headerSize
	// Level i holds in and must not hold out; its false positives among
	// out are moved to the front of out, and are the next level's in.
	in, out := revoked, others
	for i := 0; len(in) > 0; i++ {
		if i == maxLevels {
			return nil, separationError(in, out, fmt.Sprintf("more than %d levels", maxLevels))
		}
		lg := 1.0 // log2(1/p) for p = 1/2
		if i == 0 {
			lg = topLog2(len(revoked), len(others))
		}
		k := uint64(math.Round(lg))
		m := max(minBits, math.Ceil(float64(len(in))*lg/math.Ln2))
		var l level
		fp := 0
		for attempt := 0; ; attempt++ {
			if attempt == maxAttempts {
				return nil, separationError(in, out, fmt.Sprintf("level %d not smaller after %d attempts", i+1, maxAttempts))
			}
			if m > maxBits {
				return nil, fmt.Errorf("%w: level %d of %d ids needs %.0f bits", ErrTooLarge, i, len(in), m)
			}
			l = level{salt: fmix64(uint64(i)<<32 + uint64(attempt) + 1), k: k, m: uint64(m)}
			l.bits = make([]byte, (l.m+7)/8)
			for j := range in {
				l.add(&in[j])
			}
			fp = 0
			for j := range out {
				if l.has(halves(&out[j])) {
					out[fp], out[j] = out[j], out[fp]
					fp++
				}
			}
			// Below the top, out is the level above's set: it must shrink,
			// or the cascade would never end. It cannot when an id is on
			// both sides.
			if i == 0 || fp < len(out) {
				break
			}
			if attempt == 0 {
				if err := overlap(in, out); err != nil {
					return nil, err
				}
			}
			m *= 2
		}
		size += levelHeader + len(l.bits)
		if size > MaxSize {
			return nil, fmt.Errorf("%w: more than MaxSize (%d bytes) at level %d", ErrTooLarge, MaxSize, i)
		}
		f.levels = append(f.levels, l)
		in, out = out[:fp], in
	}
	return f, nil
}

// topLog2 is log2(1/p₀) for level 0 over r revoked ids and s others:
// p₀ = r/(√2·s), at most 1/2 and at least 2⁻³².
func topLog2(r, s int) float64 {
	if s == 0 {
		return 1
	}
	return min(maxK, max(1, math.Log2(float64(s)/float64(r))+0.5))
}

// separationError is Build's error when the cascade did not end: an
// overlap of in and out if there is one (an id on both sides is a false
// positive at every level), else ErrSeparation with why.
func separationError(in, out []ID, why string) error {
	if err := overlap(in, out); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrSeparation, why)
}

// overlap returns an error wrapping ErrOverlap naming an id of both a and
// b, or nil. It sorts both.
func overlap(a, b []ID) error {
	cmp := func(x, y ID) int { return bytes.Compare(x[:], y[:]) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	for len(a) > 0 && len(b) > 0 {
		switch c := cmp(a[0], b[0]); {
		case c == 0:
			return fmt.Errorf("%w: %x", ErrOverlap, a[0])
		case c < 0:
			a = a[1:]
		default:
			b = b[1:]
		}
	}
	return nil
}

// Contains reports whether id is in the filter: true for every revoked id
// it was built from, false for every other id it was built from (for other
// ids, see the package doc). It reads k bits of each level it walks, most
// often one or two levels, and does not allocate.
func (f *Filter) Contains(id *ID) bool {
	a, b := halves(id)
	for i := range f.levels {
		if !f.levels[i].has(a, b) {
			return i%2 == 1
		}
	}
	return len(f.levels)%2 == 1
}

// halves reads an id as the two integers a and b of the package doc.
func halves(id *ID) (a, b uint64) {
	return binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:])
}

// fmix64 is MurmurHash3's 64-bit finalizer.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hashes returns h1 and h2 of the package doc.
func (l *level) hashes(a, b uint64) (h1, h2 uint64) {
	h1 = fmix64(fmix64(a^l.salt) ^ b)
	return h1, fmix64(h1 ^ a ^ golden)
}

func (l *level) add(id *ID) {
	h, h2 := l.hashes(halves(id))
	for range l.k {
		j, _ := bits.Mul64(h, l.m)
		l.bits[j>>3] |= 1 << (j & 7)
		h += h2
	}
}

func (l *level) has(a, b uint64) bool {
	h, h2 := l.hashes(a, b)
	var miss byte
	for range l.k {
		j, _ := bits.Mul64(h, l.m)
		miss |= ^l.bits[j>>3] & (1 << (j & 7))
		h += h2
	}
	return miss == 0
}

// Size returns the length of the filter's encoding in bytes.
func (f *Filter) Size() int {
	n := headerSize
	for i := range f.levels {
		n += levelHeader + len(f.levels[i].bits)
	}
	return n
}

// AppendBinary appends the filter's encoding (the package doc's) to dst.
// It never fails.
func (f *Filter) AppendBinary(dst []byte) ([]byte, error) {
	dst = slices.Grow(dst, f.Size())
	dst = append(dst, magic...)
	dst = append(dst, version, byte(len(f.levels)))
	for _, l := range f.levels {
		dst = binary.BigEndian.AppendUint64(dst, l.salt)
		dst = append(dst, byte(l.k))
		dst = binary.BigEndian.AppendUint32(dst, uint32(l.m))
		dst = append(dst, l.bits...)
	}
	return dst, nil
}

// Parse reads a filter that AppendBinary wrote, strictly: it refuses
// anything else with an error wrapping ErrMalformed. It copies the bits
// once, into one allocation smaller than data, so the caller may reuse
// data; it allocates nothing before the header is checked.
func Parse(data []byte) (*Filter, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, above MaxSize (%d)", ErrMalformed, len(data), MaxSize)
	}
	if len(data) < headerSize || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a filter cascade", ErrMalformed)
	}
	if v := data[len(magic)]; v != version {
		return nil, fmt.Errorf("%w: version %d, not %d", ErrMalformed, v, version)
	}
	n := int(data[len(magic)+1])
	if n > maxLevels {
		return nil, fmt.Errorf("%w: %d levels, above %d", ErrMalformed, n, maxLevels)
	}
	rest := data[headerSize:]
	if len(rest) < n*levelHeader {
		return nil, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	f := &Filter{levels: make([]level, n)}
	buf := make([]byte, 0, len(rest)-n*levelHeader)
	for i := range f.levels {
		if len(rest) < levelHeader {
			return nil, fmt.Errorf("%w: level %d truncated", ErrMalformed, i)
		}
		l := level{salt: binary.BigEndian.Uint64(rest), k: uint64(rest[8]), m: uint64(binary.BigEndian.Uint32(rest[9:]))}
		rest = rest[levelHeader:]
		if l.k == 0 || l.k > maxK {
			return nil, fmt.Errorf("%w: level %d: %d bits per id, not 1 to %d", ErrMalformed, i, l.k, maxK)
		}
		if l.m < minBits {
			return nil, fmt.Errorf("%w: level %d: %d bits, below %d", ErrMalformed, i, l.m, minBits)
		}
		nb := (l.m + 7) / 8
		if uint64(len(rest)) < nb {
			return nil, fmt.Errorf("%w: level %d: %d bits in %d bytes", ErrMalformed, i, l.m, len(rest))
		}
		if pad := l.m % 8; pad != 0 && rest[nb-1]>>pad != 0 {
			return nil, fmt.Errorf("%w: level %d: padding bits set", ErrMalformed, i)
		}
		start := len(buf)
		buf = append(buf, rest[:nb]...)
		l.bits = buf[start:len(buf):len(buf)]
		rest = rest[nb:]
		f.levels[i] = l
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last level", ErrMalformed, len(rest))
	}
	return f, nil
}
