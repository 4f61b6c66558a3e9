package revoked

import (
	"encoding/binary"
	"math/bits"
)

// slot is one entry of jtiSet: 20 bytes.
type slot struct {
	id  TokenID
	exp uint32 // unix seconds when the entry may go; 0 marks an empty slot
}

// jtiSet is an open-addressing hash set of revoked jtis with linear probing,
// sized to a load of about 0.7: some 29 bytes per entry, where a Go map of
// [16]byte costs about 38 and more for its growth steps. It is not safe for
// concurrent use; Snapshot guards it.
type jtiSet struct {
	slots []slot
	n     int
}

const (
	targetLoad = 0.70
	maxLoad    = 0.85
)

func (s *jtiSet) index(id *TokenID) int {
	// Multiply-shift maps the key's first 64 bits onto [0, len) without a
	// power-of-two table size, so memory tracks the entry count closely.
	hi, _ := bits.Mul64(binary.LittleEndian.Uint64(id[:8]), uint64(len(s.slots)))
	return int(hi)
}

func (s *jtiSet) contains(id TokenID) bool {
	if len(s.slots) == 0 {
		return false
	}
	for i := s.index(&id); ; {
		sl := &s.slots[i]
		if sl.exp == 0 {
			return false
		}
		if sl.id == id {
			return true
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// reserve makes room for n more entries without further resizing.
func (s *jtiSet) reserve(n int) {
	if float64(s.n+n) > maxLoad*float64(len(s.slots)) {
		s.rebuild(s.n+n, 0)
	}
}

// add inserts id, or extends its expiry if present.
func (s *jtiSet) add(id TokenID, exp uint32) {
	if float64(s.n+1) > maxLoad*float64(len(s.slots)) {
		// Grow by half again, so that a stream of single adds costs
		// amortised constant time.
		s.rebuild(s.n+s.n/2+1, 0)
	}
	for i := s.index(&id); ; {
		sl := &s.slots[i]
		if sl.exp == 0 {
			*sl = slot{id: id, exp: exp}
			s.n++
			return
		}
		if sl.id == id {
			sl.exp = max(sl.exp, exp)
			return
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// rebuild resizes the table for n entries and drops entries that expired
// before the unix time cutoff.
func (s *jtiSet) rebuild(n int, cutoff uint32) {
	old := s.slots
	size := int(float64(max(n, 8)) / targetLoad)
	*s = jtiSet{slots: make([]slot, size)}
	for _, sl := range old {
		if sl.exp != 0 && sl.exp >= cutoff {
			s.add(sl.id, sl.exp)
		}
	}
}

// prune drops entries that expired before cutoff and shrinks the table.
func (s *jtiSet) prune(cutoff uint32) {
	live := 0
	for _, sl := range s.slots {
		if sl.exp != 0 && sl.exp >= cutoff {
			live++
		}
	}
	if live < s.n {
		s.rebuild(live, cutoff)
	}
}
