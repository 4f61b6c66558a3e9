package eddsa

import (
	"crypto/ed25519"
	"crypto/sha512"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
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
	tab := k.tab.Load()
	if tab == nil {
		b.Fatal("no table")
	}
	impls := []struct {
		name   string
		verify func() bool
	}{
		{"std", func() bool { return ed25519.Verify(pub, msg, sig) }},
		{"point", func() bool { return k.verify(msg, sig, nil) }},
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
