package p256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/interleave"
)

// benchKey returns a P-256 key, the SHA-256 of a 400-byte message (a
// token's signing input), and its signature as r‖s and as ASN.1.
func benchKey(b *testing.B) (*ecdsa.PrivateKey, []byte, []byte, []byte) {
	d := sha256.Sum256([]byte("bench"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.Sum256([]byte(strings.Repeat("e", 400)))
	der, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		b.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, SignatureSize)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return priv, h[:], sig, der
}

// BenchmarkVerify compares, on one signature of a 400-byte message's
// SHA-256: crypto/ecdsa.VerifyASN1 of the ASN.1 signature (std), a key's
// first verifications, with its point decoded once (point), and its
// verifications once it has its table (table).
// BenchmarkVerify/interleaved runs the three in turn in one loop and
// reports each one's ns per verification and the ratios to std, which
// compare like with like on a machine whose load changes.
func BenchmarkVerify(b *testing.B) {
	priv, hash, sig, der := benchKey(b)
	k, err := NewPublicKeyECDSA(&priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	for range TableAfter {
		k.Verify(hash, sig)
	}
	if k.tab.Load() == nil {
		b.Fatal("no table")
	}
	interleave.Compare(b,
		interleave.Impl{Name: "std", Verify: func() bool { return ecdsa.VerifyASN1(&priv.PublicKey, hash, der) }},
		interleave.Impl{Name: "point", Verify: func() bool { return k.verify(hash, sig, nil) }},
		interleave.Impl{Name: "table", Verify: func() bool { return k.Verify(hash, sig) }},
	)
}

// BenchmarkWindow measures the table's window: for each width, a
// verification with a table of that width, and the table's cost and size.
func BenchmarkWindow(b *testing.B) {
	priv, hash, sig, _ := benchKey(b)
	k, err := NewPublicKeyECDSA(&priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range []int{4, 5, 6} {
		t := newTable(k.q, w)
		if !k.verify(hash, sig, t) {
			b.Fatalf("w=%d: the signature does not verify", w)
		}
		b.Run(fmt.Sprintf("w=%d/verify", w), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k.verify(hash, sig, t)
			}
			b.ReportMetric(float64(len(t.pts)*96)/1024, "KiB/key")
		})
		b.Run(fmt.Sprintf("w=%d/newTable", w), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				newTable(k.q, w)
			}
		})
	}
}

// BenchmarkInvert compares s⁻¹ mod n here (binary extended Euclid) with
// math/big's ModInverse, the standard library's other way.
func BenchmarkInvert(b *testing.B) {
	_, _, sig, _ := benchKey(b)
	var s scalar
	s.setBytes((*[32]byte)(sig[32:]))
	sb := new(big.Int).SetBytes(sig[32:])
	order := elliptic.P256().Params().N
	b.Run("impl=binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w scalar
			w.invert(&s)
		}
	})
	b.Run("impl=big", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			new(big.Int).ModInverse(sb, order)
		}
	})
}
