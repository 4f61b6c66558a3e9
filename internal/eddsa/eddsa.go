// Package eddsa verifies Ed25519 signatures (RFC 8032 §5.1.7) under public
// keys prepared once for many signatures, with the group arithmetic of
// filippo.io/edwards25519 (the standard library's own implementation,
// published as a module).
//
// A verifier checks thousands of tokens under a handful of keys, so what
// depends on the key alone is done once per key rather than per signature.
// NewPublicKey decodes the key's point A (a field exponentiation, which
// crypto/ed25519.Verify repeats on every call); a key's first
// verifications then compute R' = [k](−A) + [s]B in 256 doublings, as
// ed25519.Verify does, but with VarTimeMultiScalarMult rather than its
// VarTimeDoubleScalarBaseMult: that one's first call in a process builds a
// table of B with 64 field inversions, about ten verifications' time,
// which a cold start would pay for its one token. Once a key has verified
// TableAfter signatures it gets a table of multiples of −A (32 rows of 8
// points, 30 KiB, as the standard library keeps for B), built in about the
// time of three verifications, and R' costs 4 doublings and at most 128
// additions of table points from then on. A key that verifies a single
// token, as in a function's cold start, never pays for a table.
//
// Verify accepts exactly the signatures that crypto/ed25519.Verify accepts:
// the same checks in the same form (a 64-byte signature, a canonical s, the
// challenge over the key's bytes as given, R' encoded and compared with R
// byte for byte), on the same group element. The package's tests hold both
// ways of computing R' to that on the standard library's edge cases,
// Wycheproof's and RFC 8032's vectors, and by a differential fuzz target.
// Everything here is public data: the arithmetic runs in variable time, as
// ed25519.Verify's does.
package eddsa

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"sync"

	"filippo.io/edwards25519"

	"github.com/writ-dev/writ/internal/lazy"
)

// PublicKey is an Ed25519 public key prepared for verifying many
// signatures. It is safe for concurrent use.
type PublicKey struct {
	enc   [ed25519.PublicKeySize]byte // the key as given: hashed into each challenge
	valid bool                        // whether enc decodes to a point
	negA  edwards25519.Point          // −A, when valid
	tab   lazy.Value[table]           // multiples of −A, once TableAfter signatures verified
}

// TableAfter is the number of signatures a key verifies, the last of
// which builds its table (signatures refused count nothing). The table
// costs about three verifications and saves about half of each one after,
// so it pays for itself within a few more.
const TableAfter = 8

// NewPublicKey prepares pub, which must be ed25519.PublicKeySize bytes.
//
// A key whose bytes decode to no point of the curve is returned all the
// same, and verifies no signature: crypto/ed25519.Verify rejects every
// signature under such a key, and so does Verify.
func NewPublicKey(pub ed25519.PublicKey) (*PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("eddsa: public key of the wrong length")
	}
	k := &PublicKey{}
	copy(k.enc[:], pub)
	// SetBytes accepts what crypto/ed25519 accepts: the same decoding,
	// non-canonical encodings of y included.
	if A, err := new(edwards25519.Point).SetBytes(pub); err == nil {
		k.negA.Negate(A)
		k.valid = true
	}
	return k, nil
}

// Verify reports whether sig is a valid Ed25519 signature of msg by k, as
// crypto/ed25519.Verify does.
//
// Only verifications that succeed count towards the key's table: a
// client that sends made-up signatures under every key of a set makes
// none of them build one.
func (k *PublicKey) Verify(msg, sig []byte) bool {
	t := k.tab.Load()
	ok := k.verify(msg, sig, t)
	if ok && t == nil {
		k.tab.Count(TableAfter, func() *table { return newTable(&k.negA) })
	}
	return ok
}

// verify is Verify with the key's table t, or without one when t is nil.
func (k *PublicKey) verify(msg, sig []byte, t *table) bool {
	if !k.valid || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	// k = SHA-512(R ‖ A ‖ M) mod L, over the key's bytes as given.
	var digest [sha512.Size]byte
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.enc[:])
	h.Write(msg)
	h.Sum(digest[:0])
	c, err := new(edwards25519.Scalar).SetUniformBytes(digest[:])
	if err != nil {
		return false // unreachable: the digest is 64 bytes
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	// [s]B = R + [k]A, so R' = [k](−A) + [s]B must encode as R.
	var R edwards25519.Point
	if t == nil {
		R.VarTimeMultiScalarMult([]*edwards25519.Scalar{c, s}, []*edwards25519.Point{&k.negA, generator})
	} else if !sumOfMultiples(&R, baseTable(), s, t, c) {
		return false // unreachable: the tables hold points of the curve
	}
	return bytes.Equal(sig[:32], R.Bytes())
}

// generator is the base point B. VarTimeMultiScalarMult and newTable only
// read it.
var generator = edwards25519.NewGeneratorPoint()

// baseTable returns the table of the base point B, built once per process.
var baseTable = sync.OnceValue(func() *table { return newTable(generator) })
