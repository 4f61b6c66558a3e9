package jws_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/writ-dev/writ/internal/alg"
	"github.com/writ-dev/writ/internal/jws"
)

// es256Cases returns a P-256 key, a message and r||s signatures around a
// valid one: r or s zero, n, n−1, n+1, with high bits, all ones, and of
// wrong lengths.
func es256Cases(t testing.TB) (*ecdsa.PublicKey, []byte, [][]byte) {
	t.Helper()
	d := sha256.Sum256([]byte("writ es256 cases"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9")
	h := sha256.Sum256(msg)
	der, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &parsed); err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	ints := []*big.Int{
		big.NewInt(0), big.NewInt(1), new(big.Int).Sub(n, big.NewInt(1)), n, new(big.Int).Add(n, big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 255), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)),
		new(big.Int).Add(parsed.R, n), new(big.Int).Add(parsed.S, n), new(big.Int).Sub(n, parsed.S), // −s: valid for ECDSA, checked alike
	}
	sig := func(r, s *big.Int) []byte {
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	valid := sig(parsed.R, parsed.S)
	sigs := [][]byte{valid}
	for _, v := range ints {
		if v.BitLen() > 256 {
			continue
		}
		sigs = append(sigs, sig(v, parsed.S), sig(parsed.R, v))
	}
	for i := range 64 {
		s := append([]byte(nil), valid...)
		s[i] ^= 0x80
		sigs = append(sigs, s)
	}
	sigs = append(sigs, nil, valid[:63], append(append([]byte(nil), valid...), 0), append([]byte{0}, valid...), der)
	return &priv.PublicKey, msg, sigs
}

// TestES256Agrees checks that jws.Verify and the standard library
// (stdES256: r||s re-encoded with math/big and encoding/asn1, then
// ecdsa.VerifyASN1) agree on the edge cases.
func TestES256Agrees(t *testing.T) {
	pub, msg, sigs := es256Cases(t)
	accepted := 0
	for _, m := range [][]byte{msg, nil, []byte("x")} {
		for _, sig := range sigs {
			got, want := jws.Verify(alg.ES256, pub, string(m), sig), stdES256(pub, m, sig)
			if got != want {
				t.Errorf("Verify(%q, %x) = %v, the standard library says %v", m, sig, got, want)
			}
			if got {
				accepted++
			}
		}
	}
	if accepted != 2 { // the valid signature, and (r, n−s)
		t.Errorf("%d signatures verified, want 2", accepted)
	}
}

// FuzzES256 checks that jws.Verify and the standard library agree on any
// message and signature under a P-256 key.
func FuzzES256(f *testing.F) {
	pub, msg, sigs := es256Cases(f)
	for _, sig := range sigs {
		f.Add(msg, sig)
	}
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		if got, want := jws.Verify(alg.ES256, pub, string(msg), sig), stdES256(pub, msg, sig); got != want {
			t.Fatalf("Verify(%q, %x) = %v, the standard library says %v", msg, sig, got, want)
		}
	})
}
