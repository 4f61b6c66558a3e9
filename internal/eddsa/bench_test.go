package eddsa

import (
	"crypto/ed25519"
	"crypto/sha512"
	"strings"
	"testing"

	"filippo.io/edwards25519"

	"github.com/writ-dev/writ/internal/interleave"
)

// BenchmarkVerify compares, on one signature of a 400-byte message (a
// token's signing input): crypto/ed25519.Verify (std), a key's first
// verifications, with its point decoded once (point), and its
// verifications once it has its table (table).
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
	for range TableAfter {
		k.Verify(msg, sig)
	}
	if k.tab.Load() == nil {
		b.Fatal("no table")
	}
	interleave.Compare(b,
		interleave.Impl{Name: "std", Verify: func() bool { return ed25519.Verify(pub, msg, sig) }},
		interleave.Impl{Name: "point", Verify: func() bool { return k.verify(msg, sig, nil) }},
		interleave.Impl{Name: "table", Verify: func() bool { return k.Verify(msg, sig) }},
	)
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
