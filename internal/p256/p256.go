// Package p256 verifies ECDSA signatures on P-256 (FIPS 186-5 §6.4.2, the
// ES256 of RFC 7518 §3.4) under public keys prepared once for many
// signatures, with the group arithmetic of filippo.io/nistec (the standard
// library's own implementation, published as a module).
//
// A verifier checks thousands of tokens under a handful of keys, so what
// depends on the key alone is done once per key rather than per signature.
// NewPublicKey decodes and checks the key's point Q (which
// crypto/ecdsa.VerifyASN1 repeats on every call); a key's first
// verifications then compute R = [u₁]G + [u₂]Q as VerifyASN1 does (a
// fixed-base multiplication and a variable-base one of 256 doublings), at
// about 0.94 of its cost. Once a key has verified TableAfter signatures it
// gets a table of multiples of Q (52 rows of 16 points, 78 KiB), built in
// about the time of five verifications, and [u₂]Q costs at most 52
// additions of table points and no doubling from then on: a verification
// costs about 0.55 of VerifyASN1's. A key that verifies a few tokens, as in
// a function's cold start, never pays for a table.
//
// Verify accepts exactly the signatures that crypto/ecdsa.VerifyASN1
// accepts for the same r and s: the same checks (r and s in [1, n−1], the
// hash's leftmost 256 bits reduced mod n, R not the point at infinity, x(R)
// mod n equal to r) on the same group element. The scalars mod n are
// computed here (s⁻¹ by the binary extended Euclidean algorithm, two
// Montgomery multiplications) with no allocation. The package's tests hold
// both ways of computing R to that on edge cases (R at infinity, x(R) of n
// or more), Wycheproof's vectors, random keys and by differential fuzz
// targets. Everything here is public data: the scalar arithmetic runs in
// variable time, and the table is read in variable time.
package p256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"

	"filippo.io/nistec"

	"github.com/writ-dev/writ/internal/lazy"
)

// PublicKey is a P-256 public key prepared for verifying many signatures.
// It is safe for concurrent use.
type PublicKey struct {
	q   *nistec.P256Point // Q, a point of the curve other than the identity
	tab lazy.Value[table] // multiples of Q, once TableAfter signatures verified
}

// TableAfter is the number of signatures a key verifies, the last of
// which builds its table (signatures refused count nothing). The table
// costs about five verifications and saves about 0.4 of each one after, so
// it pays for itself after about 13 more. Building it once a key has spent
// about that much without it (ski rental: 16, near 13) makes a key that
// stops early cost at most about twice what the best choice in hindsight
// would have, and one that verifies a single token pay nothing.
const TableAfter = 16

// SignatureSize is the size of a signature: r then s, 32 bytes each,
// big-endian (RFC 7518 §3.4).
const SignatureSize = 64

// NewPublicKey prepares the public key whose point is encoded uncompressed
// (SEC 1 §2.3.3: 0x04, then x and y of 32 bytes each). It refuses, as
// crypto/ecdsa.ParseUncompressedPublicKey does, any other encoding, a
// coordinate of p or more, and a point not on the curve; the point at
// infinity has no such encoding.
func NewPublicKey(uncompressed []byte) (*PublicKey, error) {
	if len(uncompressed) != 65 || uncompressed[0] != 4 {
		return nil, errors.New("p256: public key not an uncompressed point")
	}
	q, err := nistec.NewP256Point().SetBytes(uncompressed)
	if err != nil {
		return nil, errors.New("p256: public key not a point of the curve")
	}
	return &PublicKey{q: q}, nil
}

// NewPublicKeyECDSA prepares pub, which must be on elliptic.P256(). It
// refuses the keys under which crypto/ecdsa.VerifyASN1 verifies nothing:
// a coordinate negative or of p or more, a point not on the curve.
func NewPublicKeyECDSA(pub *ecdsa.PublicKey) (*PublicKey, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, errors.New("p256: not a P-256 public key")
	}
	//lint:ignore SA1019 only compared with nil: Bytes panics on a nil coordinate
	if pub.X == nil || pub.Y == nil {
		return nil, errors.New("p256: public key without coordinates")
	}
	b, err := pub.Bytes()
	if err != nil {
		return nil, errors.New("p256: public key not a point of the curve")
	}
	return NewPublicKey(b)
}

// Verify reports whether sig, r‖s, is a valid signature of hash by k, as
// crypto/ecdsa.VerifyASN1 does for the same r and s. hash is the message's
// SHA-256 for ES256; a longer one counts by its leftmost 32 bytes.
//
// Only verifications that succeed count towards the key's table: a
// client that sends made-up signatures under every key of a set makes
// none of them build one.
func (k *PublicKey) Verify(hash, sig []byte) bool {
	t := k.tab.Load()
	ok := k.verify(hash, sig, t)
	if ok && t == nil {
		k.tab.Count(TableAfter, func() *table { return newTable(k.q, window) })
	}
	return ok
}

// verify is Verify with the key's table t, or without one when t is nil.
func (k *PublicKey) verify(hash, sig []byte, t *table) bool {
	if len(sig) != SignatureSize {
		return false
	}
	var r, s scalar
	r.setBytes((*[32]byte)(sig[:32]))
	s.setBytes((*[32]byte)(sig[32:]))
	if r.isZero() || s.isZero() || !r.lessThanN() || !s.lessThanN() {
		return false
	}
	// e: the hash's leftmost 256 bits, as an integer reduced mod n (a
	// shorter hash is the integer it encodes), as crypto/ecdsa's
	// hashToNat makes it.
	var eb [32]byte
	if len(hash) >= len(eb) {
		copy(eb[:], hash)
	} else {
		copy(eb[len(eb)-len(hash):], hash)
	}
	var e scalar
	e.setBytes(&eb)
	e.reduce()
	// w = s⁻¹, in Montgomery form (w·R) so that u₁ = e·w and u₂ = r·w
	// come out of one Montgomery multiplication each in plain form.
	var w, u1, u2 scalar
	w.invert(&s)
	w.mul(&w, &rr)
	u1.mul(&e, &w)
	u2.mul(&r, &w)

	R, err := k.sum(&u1, &u2, t)
	if err != nil {
		return false // unreachable: the scalars are 32 bytes
	}
	x, err := R.BytesX()
	if err != nil {
		return false // R is the point at infinity
	}
	var v scalar
	v.setBytes((*[32]byte)(x))
	v.reduce()
	return v == r
}

// sum returns R = [u1]G + [u2]Q, with the table t of Q, or without one
// when t is nil. Its only error is nistec's for a scalar that is not 32
// bytes, which bytes rules out.
func (k *PublicKey) sum(u1, u2 *scalar, t *table) (*nistec.P256Point, error) {
	p2 := nistec.NewP256Point()
	if t == nil {
		u2b := u2.bytes()
		if _, err := p2.ScalarMult(k.q, u2b[:]); err != nil {
			return nil, err
		}
	} else {
		t.mult(p2, u2)
	}
	u1b := u1.bytes()
	R, err := nistec.NewP256Point().ScalarBaseMult(u1b[:])
	if err != nil {
		return nil, err
	}
	return R.Add(R, p2), nil
}
