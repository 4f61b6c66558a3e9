package eddsa

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

// pointVerify is Ed25519 verification with the key's point decoded once
// and nothing else kept: crypto/ed25519.Verify's steps with −A given. It
// is BenchmarkVerify's middle column, what the table of −A adds to.
func pointVerify(negA *edwards25519.Point, pub, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	var digest [sha512.Size]byte
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	h.Sum(digest[:0])
	k, _ := new(edwards25519.Scalar).SetUniformBytes(digest[:])
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	var R edwards25519.Point
	R.VarTimeDoubleScalarBaseMult(k, negA, s)
	return bytes.Equal(sig[:32], R.Bytes())
}

// BenchmarkVerify compares, on one signature of a 400-byte message (a
// token's signing input): crypto/ed25519.Verify (std), the same with the
// key's point decoded once (point), and Verify with its table (table).
// BenchmarkVerify/interleaved runs the three in turn in one loop and
// reports each one's ns per verification and the ratios to std, which
// compare like with like on a machine whose load changes.
func BenchmarkVerify(b *testing.B) {
	seed := sha512.Sum512([]byte("bench"))
	priv := ed25519.NewKeyFromSeed(seed[:32])
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte(strings.Repeat("e", 400))
	sig := ed25519.Sign(priv, msg)
	k, err := NewPublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	A, _ := new(edwards25519.Point).SetBytes(pub)
	negA := new(edwards25519.Point).Negate(A)
	impls := []struct {
		name   string
		verify func() bool
	}{
		{"std", func() bool { return ed25519.Verify(pub, msg, sig) }},
		{"point", func() bool { return pointVerify(negA, pub, msg, sig) }},
		{"table", func() bool { return k.Verify(msg, sig) }},
	}
	for _, impl := range impls {
		if !impl.verify() {
			b.Fatalf("%s: the signature does not verify", impl.name)
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				impl.verify()
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		b.ReportAllocs()
		var ns [3]time.Duration
		for i := 0; b.Loop(); i++ {
			for j := range impls {
				j = (i + j) % len(impls) // each takes turns to go first
				start := time.Now()
				impls[j].verify()
				ns[j] += time.Since(start)
			}
		}
		for j, impl := range impls {
			b.ReportMetric(float64(ns[j])/float64(b.N), impl.name+"-ns/verify")
		}
		b.ReportMetric(float64(ns[1])/float64(ns[0]), "point/std")
		b.ReportMetric(float64(ns[2])/float64(ns[0]), "table/std")
	})
}

// BenchmarkNewTable is the cost of a key's table, paid at its first
// verification.
func BenchmarkNewTable(b *testing.B) {
	seed := sha512.Sum512([]byte("bench"))
	A, _ := new(edwards25519.Point).SetBytes(ed25519.NewKeyFromSeed(seed[:32]).Public().(ed25519.PublicKey))
	b.ReportAllocs()
	for b.Loop() {
		newTable(A)
	}
}
