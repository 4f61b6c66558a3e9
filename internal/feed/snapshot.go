package feed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/cascade"
)

// Snapshot is the binary snapshot file: the whole revocation state of a
// list at Seq, for verifiers that cannot hold the JSON feed's token entries
// one by one. Its Filter answers for the tokens issued before Universe (see
// Batch.Filter); the exact entries answer for everything else.
type Snapshot struct {
	Epoch    string
	Seq      int64
	Built    int64 // unix seconds: when the list was read
	Universe int64 // unix seconds: the filter answers for tokens issued before
	// Expires is the latest expiry of the tokens the filter holds revoked
	// (unix seconds): once it is past, by more than a verifier's leeway,
	// the filter holds nothing a verifier would accept anyway.
	Expires int64
	Filter  *cascade.Filter
	// Tokens are the exact token entries: the revoked tokens outside the
	// universe, and those whose revocation takes effect after Built.
	Tokens   []RevokedToken
	Subjects []SubjectCutoff
	Keys     []RevokedKey
}

// MaxSnapshotSize bounds a snapshot file that DecodeSnapshot reads.
const MaxSnapshotSize = 64 << 20

// The snapshot file starts with this magic and format version.
const (
	snapshotMagic   = "WRITSNAP"
	snapshotVersion = 1
)

// Sizes of the binary format's parts, in bytes.
const (
	sectionHead  = 4              // the length of a section
	tokenRecord  = 16 + 8 + 8     // id, effective_at, expires_at
	stringHead   = 2              // the length of a string
	headFixed    = 8 + 8 + 8 + 8  // seq, built, universe, expires after the epoch
	maxStringLen = math.MaxUint16 // a string's length is written in 16 bits
	sectionMax   = math.MaxUint32 // a section's length is written in 32 bits
	sectionCount = 5              // head, filter, tokens, subjects, keys
	fixedSize    = len(snapshotMagic) + 1 + sectionCount*sectionHead
)

var errSnapshotString = errors.New("a string is 0 to 65535 bytes of UTF-8")

// AppendSnapshot appends the binary encoding of s to dst:
//
//	"WRITSNAP" 0x01
//	head:     u32 length, u16 length + epoch, i64 seq, i64 built, i64 universe, i64 expires
//	filter:   u32 length, the filter's encoding (cascade.Filter.AppendBinary)
//	tokens:   u32 length, then per entry 16 bytes of id, i64 effective_at, i64 expires_at
//	subjects: u32 length, then per entry u16 length + subject, i64 issued_before, i64 expires_at
//	keys:     u32 length, then per entry u16 length + kid, i64 expires_at
//
// Integers are big-endian, strings UTF-8. It fails for a snapshot without
// a filter, a string that is not UTF-8 or longer than 65535 bytes, or an
// encoding larger than MaxSnapshotSize: what it writes, DecodeSnapshot
// reads.
func AppendSnapshot(dst []byte, s *Snapshot) ([]byte, error) {
	if s.Filter == nil {
		return nil, errors.New("feed: a snapshot without a filter")
	}
	start := len(dst)
	dst = append(dst, snapshotMagic...)
	dst = append(dst, snapshotVersion)
	for _, section := range []func([]byte) ([]byte, error){
		func(dst []byte) ([]byte, error) {
			dst, err := appendString16(dst, s.Epoch)
			if err != nil {
				return nil, fmt.Errorf("feed: epoch: %w", err)
			}
			dst = binary.BigEndian.AppendUint64(dst, uint64(s.Seq))
			dst = binary.BigEndian.AppendUint64(dst, uint64(s.Built))
			dst = binary.BigEndian.AppendUint64(dst, uint64(s.Universe))
			return binary.BigEndian.AppendUint64(dst, uint64(s.Expires)), nil
		},
		s.Filter.AppendBinary,
		func(dst []byte) ([]byte, error) {
			for _, t := range s.Tokens {
				dst = append(dst, t.ID[:]...)
				dst = binary.BigEndian.AppendUint64(dst, uint64(t.EffectiveAt))
				dst = binary.BigEndian.AppendUint64(dst, uint64(t.ExpiresAt))
			}
			return dst, nil
		},
		func(dst []byte) ([]byte, error) {
			var err error
			for _, c := range s.Subjects {
				if dst, err = appendString16(dst, c.Subject); err != nil {
					return nil, fmt.Errorf("feed: subject: %w", err)
				}
				dst = binary.BigEndian.AppendUint64(dst, uint64(c.IssuedBefore))
				dst = binary.BigEndian.AppendUint64(dst, uint64(c.ExpiresAt))
			}
			return dst, nil
		},
		func(dst []byte) ([]byte, error) {
			var err error
			for _, k := range s.Keys {
				if dst, err = appendString16(dst, k.KID); err != nil {
					return nil, fmt.Errorf("feed: kid: %w", err)
				}
				dst = binary.BigEndian.AppendUint64(dst, uint64(k.ExpiresAt))
			}
			return dst, nil
		},
	} {
		// Room for the section's length, written once it is known.
		at := len(dst) + sectionHead
		var err error
		if dst, err = section(append(dst, 0, 0, 0, 0)); err != nil {
			return nil, err
		}
		n := len(dst) - at
		if n > sectionMax {
			return nil, fmt.Errorf("feed: %w: a snapshot section of %d bytes", ErrTooLarge, n)
		}
		binary.BigEndian.PutUint32(dst[at-sectionHead:], uint32(n))
	}
	if n := len(dst) - start; n > MaxSnapshotSize {
		return nil, fmt.Errorf("feed: %w: a snapshot of %d bytes, limit %d", ErrTooLarge, n, MaxSnapshotSize)
	}
	return dst, nil
}

func appendString16(dst []byte, s string) ([]byte, error) {
	if len(s) > maxStringLen || !utf8.ValidString(s) {
		return nil, errSnapshotString
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...), nil
}

// DecodeSnapshot reads a snapshot file that AppendSnapshot wrote, strictly:
// the magic and version, each section exactly filled by its entries, valid
// UTF-8 strings, a filter that cascade.Parse accepts, nothing after the
// last section. It allocates no more than the input's size allows. Errors
// wrap ErrMalformed or, for data larger than MaxSnapshotSize (not read),
// ErrTooLarge.
//
// Like Decode, it checks the file, not what it says: the caller checks
// the file's hash against a signed manifest, and the epoch and sequence.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	if len(data) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: a snapshot of %d bytes, limit %d", ErrTooLarge, len(data), MaxSnapshotSize)
	}
	if len(data) < fixedSize || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot file", ErrMalformed)
	}
	if v := data[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: snapshot format version %d, want %d", ErrMalformed, v, snapshotVersion)
	}
	r := reader{data: data[len(snapshotMagic)+1:]}
	var sections [sectionCount][]byte
	for i := range sections {
		if sections[i] = r.section(); sections[i] == nil {
			return nil, fmt.Errorf("%w: snapshot section %d: %w", ErrMalformed, i, errTruncated)
		}
	}
	if len(r.data) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the snapshot", ErrMalformed, len(r.data))
	}
	s := &Snapshot{}
	if err := s.decodeHead(sections[0]); err != nil {
		return nil, fmt.Errorf("%w: snapshot head: %w", ErrMalformed, err)
	}
	f, err := cascade.Parse(sections[1])
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot filter: %w", ErrMalformed, err)
	}
	s.Filter = f
	if s.Tokens, err = decodeTokens(sections[2]); err != nil {
		return nil, fmt.Errorf("%w: snapshot tokens: %w", ErrMalformed, err)
	}
	if s.Subjects, err = decodeSubjects(sections[3]); err != nil {
		return nil, fmt.Errorf("%w: snapshot subjects: %w", ErrMalformed, err)
	}
	if s.Keys, err = decodeKeys(sections[4]); err != nil {
		return nil, fmt.Errorf("%w: snapshot keys: %w", ErrMalformed, err)
	}
	return s, nil
}

var errTruncated = errors.New("truncated")

// reader takes the parts of a snapshot's bytes in order; a part that is not
// all there reads as nil (and ok false), and the reader stays where it was.
type reader struct{ data []byte }

func (r *reader) take(n int) []byte {
	if n > len(r.data) {
		return nil
	}
	b := r.data[:n:n]
	r.data = r.data[n:]
	return b
}

// section takes a u32 length and that many bytes; an empty section is a
// non-nil empty slice.
func (r *reader) section() []byte {
	h := r.take(sectionHead)
	if h == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(h)
	if uint64(n) > uint64(len(r.data)) {
		return nil
	}
	return r.take(int(n))
}

func (r *reader) int64() (int64, bool) {
	b := r.take(8)
	if b == nil {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

// bytes16 takes a u16 length and that many bytes of UTF-8.
func (r *reader) bytes16() ([]byte, error) {
	h := r.take(stringHead)
	if h == nil {
		return nil, errTruncated
	}
	b := r.take(int(binary.BigEndian.Uint16(h)))
	if b == nil {
		return nil, errTruncated
	}
	if !utf8.Valid(b) {
		return nil, errSnapshotString
	}
	return b, nil
}

func (s *Snapshot) decodeHead(data []byte) error {
	r := reader{data: data}
	epoch, err := r.bytes16()
	if err != nil {
		return fmt.Errorf("epoch: %w", err)
	}
	s.Epoch = string(epoch)
	if len(r.data) != headFixed {
		return errors.New("wrong length")
	}
	s.Seq, _ = r.int64()
	s.Built, _ = r.int64()
	s.Universe, _ = r.int64()
	s.Expires, _ = r.int64()
	return nil
}

func decodeTokens(data []byte) ([]RevokedToken, error) {
	if len(data)%tokenRecord != 0 {
		return nil, errors.New("length not a multiple of an entry's")
	}
	out := make([]RevokedToken, len(data)/tokenRecord)
	for i := range out {
		e := data[i*tokenRecord:]
		copy(out[i].ID[:], e)
		out[i].EffectiveAt = int64(binary.BigEndian.Uint64(e[16:]))
		out[i].ExpiresAt = int64(binary.BigEndian.Uint64(e[24:]))
	}
	return out, nil
}

// walk calls fn for each entry of a section of strings each followed by
// times int64s: first with fn nil, to count them and check their shape, so
// that the list is allocated once at its size, then to read them. The
// strings share one allocation, all, a copy of the section.
func walk(data []byte, times int, fn func(i int, s string, t [2]int64)) (int, error) {
	var all string
	if fn != nil {
		all = string(data)
	}
	r := reader{data: data}
	n := 0
	for len(r.data) > 0 {
		b, err := r.bytes16()
		if err != nil {
			return 0, fmt.Errorf("entry %d: %w", n, err)
		}
		end := len(data) - len(r.data)
		var t [2]int64
		for j := range times {
			var ok bool
			if t[j], ok = r.int64(); !ok {
				return 0, fmt.Errorf("entry %d: %w", n, errTruncated)
			}
		}
		if fn != nil {
			fn(n, all[end-len(b):end], t)
		}
		n++
	}
	return n, nil
}

func decodeSubjects(data []byte) ([]SubjectCutoff, error) {
	n, err := walk(data, 2, nil)
	if err != nil {
		return nil, err
	}
	out := make([]SubjectCutoff, n)
	_, err = walk(data, 2, func(i int, s string, t [2]int64) {
		out[i] = SubjectCutoff{Subject: s, IssuedBefore: t[0], ExpiresAt: t[1]}
	})
	return out, err
}

func decodeKeys(data []byte) ([]RevokedKey, error) {
	n, err := walk(data, 1, nil)
	if err != nil {
		return nil, err
	}
	out := make([]RevokedKey, n)
	_, err = walk(data, 1, func(i int, s string, t [2]int64) {
		out[i] = RevokedKey{KID: s, ExpiresAt: t[0]}
	})
	return out, err
}
