package feed

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jsonx"
)

// The members of a payload, by their index in memberNames.
const (
	memberIss = iota
	memberIat
	memberEpoch
	memberSince
	memberSeq
	memberNextUpdate
	memberTokens
	memberSubjects
	memberKeys
)

var memberNames = [...]string{"iss", "iat", "epoch", "since", "seq", "next_update", "tokens", "subjects", "keys"}

// Decode reads a payload strictly: one JSON object (internal/jsonx: member
// names compared exactly, never case-folded, none twice, valid UTF-8,
// nothing after it) holding every member that AppendHead and AppendEntries
// write, each of its type; other members are ignored. Numbers must be
// integers of 64 bits, written without fraction or exponent; token entries
// are [id, effective_at, expires_at] with a 22-character base64url id,
// subject entries [subject, issued_before, expires_at], key entries [kid,
// expires_at]. The batch carries the head's Seq and Epoch, and its AsOf is
// the head's IssuedAt. Errors wrap ErrMalformed or ErrTooLarge.
//
// Decode checks the payload, not what it says: the caller checks the
// issuer, the sequence numbers and the signing time.
func Decode(payload []byte) (*Head, *Batch, error) {
	if len(payload) > MaxSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxSize)
	}
	h, b := &Head{}, &Batch{}
	err := object(payload, memberNames[:], func(member int, v jsonx.Value) error {
		var err error
		switch member {
		case memberIss:
			h.Issuer, err = v.Str()
		case memberIat:
			h.IssuedAt, err = integer(v)
		case memberEpoch:
			h.Epoch, err = v.Str()
		case memberSince:
			h.Since, err = integer(v)
		case memberSeq:
			h.Seq, err = integer(v)
		case memberNextUpdate:
			h.NextUpdate, err = integer(v)
		case memberTokens:
			b.Tokens, err = tokens(v)
		case memberSubjects:
			b.Subjects, err = subjects(v)
		case memberKeys:
			b.Keys, err = keys(v)
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	b.Seq, b.Epoch, b.AsOf = h.Seq, h.Epoch, time.Unix(h.IssuedAt, 0)
	return h, b, nil
}

// object reads the JSON object data strictly (jsonx.Members), calling
// read with the index in names of each member named there, and returns an
// error naming the first member of names missing; other members are
// ignored.
func object(data []byte, names []string, read func(member int, v jsonx.Value) error) error {
	var seen uint64
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		for i, n := range names {
			if string(name) == n {
				seen |= 1 << i
				if err := read(i, v); err != nil {
					return fmt.Errorf("member %q: %w", name, err)
				}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, n := range names {
		if seen&(1<<i) == 0 {
			return fmt.Errorf("no %q", n)
		}
	}
	return nil
}

// tokens reads the token entries.
func tokens(v jsonx.Value) ([]RevokedToken, error) {
	if v.Kind != jsonx.Array {
		return nil, jsonx.ErrType
	}
	// An entry takes at least 31 bytes (["<22>",0,0] and a comma); most
	// take 49: room for a list of the usual entries, grown if need be.
	out := make([]RevokedToken, 0, len(v.Raw())/48)
	err := entries(v, 3, func(e *[3]jsonx.Value) error {
		var t RevokedToken
		id, err := e[0].Bytes()
		if err != nil || len(id) != 22 {
			return errTokenID
		}
		if n, err := b64.DecodeInto(t.ID[:], unsafe.String(unsafe.SliceData(id), len(id))); err != nil || n != len(t.ID) {
			return errTokenID
		}
		if t.EffectiveAt, err = integer(e[1]); err != nil {
			return err
		}
		if t.ExpiresAt, err = integer(e[2]); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

var errTokenID = errors.New("a token id is 22 base64url characters")

// subjects reads the subject entries.
func subjects(v jsonx.Value) ([]SubjectCutoff, error) {
	out := make([]SubjectCutoff, 0, count(v))
	err := entries(v, 3, func(e *[3]jsonx.Value) error {
		var c SubjectCutoff
		var err error
		if c.Subject, err = e[0].Str(); err != nil {
			return err
		}
		if c.IssuedBefore, err = integer(e[1]); err != nil {
			return err
		}
		if c.ExpiresAt, err = integer(e[2]); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// keys reads the key entries.
func keys(v jsonx.Value) ([]RevokedKey, error) {
	out := make([]RevokedKey, 0, count(v))
	err := entries(v, 2, func(e *[3]jsonx.Value) error {
		var k RevokedKey
		var err error
		if k.KID, err = e[0].Str(); err != nil {
			return err
		}
		if k.ExpiresAt, err = integer(e[1]); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

// count returns the number of elements of the array v (0 for anything
// else), so that a list is allocated once at its size: appending to it
// would allocate about twice over, many times the payload for a document
// of tiny entries.
func count(v jsonx.Value) int {
	n := 0
	if v.Kind == jsonx.Array {
		v.Elements(func(jsonx.Value) error { n++; return nil })
	}
	return n
}

// entries calls fn with the values of each element of the array v, each an
// array of exactly n values (n <= 3), and says which element is wrong.
func entries(v jsonx.Value, n int, fn func(*[3]jsonx.Value) error) error {
	if v.Kind != jsonx.Array {
		return jsonx.ErrType
	}
	i := 0
	var e [3]jsonx.Value
	return v.Elements(func(entry jsonx.Value) error {
		got := 0
		err := entry.Elements(func(x jsonx.Value) error {
			if got == n {
				return errShape
			}
			e[got] = x
			got++
			return nil
		})
		if err == nil && got != n {
			err = errShape
		}
		if err == nil {
			err = fn(&e)
		}
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		i++
		return nil
	})
}

var errShape = errors.New("wrong number of values in an entry")

// integer reads a number that is an integer of 64 bits, written without
// fraction or exponent, as AppendEntries writes it.
func integer(v jsonx.Value) (int64, error) {
	raw := v.Raw()
	if v.Kind != jsonx.Number {
		return 0, errInteger
	}
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) == 0 || len(raw) > 19 {
		return 0, errInteger
	}
	var u uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errInteger
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow 64 bits
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), nil // -(1<<63) wraps to math.MinInt64, as it should
	case !neg && u <= math.MaxInt64:
		return int64(u), nil
	}
	return 0, errInteger
}

var errInteger = errors.New("want an integer of 64 bits")
