// Package cascade is a filter cascade (CRLite: Larisch et al., IEEE S&P
// 2017) over 16-byte token ids: a compact set that answers exactly for
// every id it was built from. Built from the revoked ids R and the other
// ids of its universe S (the issuer's recorded, unexpired, unrevoked
// tokens), it contains every id of R and none of S; ids outside R ∪ S may
// read either way, so a reader consults it only for tokens of its universe.
//
// PLACEHOLDER: this first version holds R as a sorted list, exactly but
// at 16 bytes an id; the cascade of Bloom filters replaces it behind the
// same API.
package cascade

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ID is a token id, feed.TokenID's bytes.
type ID = [16]byte

// Filter is an immutable filter cascade. It is safe for concurrent use.
type Filter struct {
	ids []ID // sorted
}

// ErrOverlap: an id was given both as revoked and as not.
var ErrOverlap = errors.New("cascade: an id is both revoked and not")

// ErrMalformed: Parse refused its input.
var ErrMalformed = errors.New("cascade: malformed filter")

// Build returns a filter containing every id of revoked and none of
// others. Neither slice is kept; both may be reordered. An id in both
// is an error wrapping ErrOverlap; duplicates within one are allowed.
func Build(revoked, others []ID) (*Filter, error) {
	r := slices.Clone(revoked)
	slices.SortFunc(r, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	r = slices.Compact(r)
	f := &Filter{ids: r}
	for i := range others {
		if f.Contains(&others[i]) {
			return nil, fmt.Errorf("%w: %x", ErrOverlap, others[i])
		}
	}
	return f, nil
}

// Contains reports whether id is in the filter: true for every revoked id
// it was built from, false for every other id it was built from.
func (f *Filter) Contains(id *ID) bool {
	_, ok := slices.BinarySearchFunc(f.ids, *id, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// AppendBinary appends the filter's encoding to dst.
func (f *Filter) AppendBinary(dst []byte) ([]byte, error) {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.ids)))
	for _, id := range f.ids {
		dst = append(dst, id[:]...)
	}
	return dst, nil
}

// MaxSize bounds an encoding that Parse reads.
const MaxSize = 64 << 20

// Parse reads a filter that AppendBinary wrote, strictly: it refuses
// anything else with an error wrapping ErrMalformed, without allocating
// more than the input's size allows.
func Parse(data []byte) (*Filter, error) {
	if len(data) > MaxSize || len(data) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	n := binary.BigEndian.Uint32(data)
	if uint64(len(data)-4) != uint64(n)*16 {
		return nil, fmt.Errorf("%w: length", ErrMalformed)
	}
	f := &Filter{ids: make([]ID, n)}
	for i := range f.ids {
		copy(f.ids[i][:], data[4+16*i:])
		if i > 0 && bytes.Compare(f.ids[i-1][:], f.ids[i][:]) >= 0 {
			return nil, fmt.Errorf("%w: order", ErrMalformed)
		}
	}
	return f, nil
}
