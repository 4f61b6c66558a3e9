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
	"github.com/writ-dev/writ/internal/p256"
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

// warmKey returns pub prepared for jws.Verify after p256.TableAfter
// verifications of msg and sig (valid), so that it verifies with its
// table from then on. A key prepared afresh verifies without one.
func warmKey(t testing.TB, pub *ecdsa.PublicKey, msg, sig []byte) *p256.PublicKey {
	t.Helper()
	warm, err := p256.NewPublicKeyECDSA(pub)
	if err != nil {
		t.Fatal(err)
	}
	for range p256.TableAfter {
		if !jws.Verify(alg.ES256, warm, string(msg), sig) {
			t.Fatal("the valid signature failed")
		}
	}
	return warm
}

// coldKey returns pub freshly prepared for jws.Verify: without a table.
func coldKey(t testing.TB, pub *ecdsa.PublicKey) *p256.PublicKey {
	t.Helper()
	cold, err := p256.NewPublicKeyECDSA(pub)
	if err != nil {
		t.Fatal(err)
	}
	return cold
}

// agreeES256 checks that jws.Verify under both keys and the standard
// library (stdES256: r||s re-encoded with math/big and encoding/asn1, then
// ecdsa.VerifyASN1) agree on msg and sig, and returns the answer.
func agreeES256(t testing.TB, pub *ecdsa.PublicKey, cold, warm *p256.PublicKey, msg, sig []byte) bool {
	t.Helper()
	want := stdES256(pub, msg, sig)
	for name, k := range map[string]*p256.PublicKey{"cold": cold, "warm": warm} {
		if got := jws.Verify(alg.ES256, k, string(msg), sig); got != want {
			t.Fatalf("Verify(%s key, %q, %x) = %v, the standard library says %v", name, msg, sig, got, want)
		}
	}
	return want
}

// TestES256Agrees checks that jws.Verify and the standard library agree
// on the edge cases, under a key without its table and one with it.
func TestES256Agrees(t *testing.T) {
	pub, msg, sigs := es256Cases(t)
	warm := warmKey(t, pub, msg, sigs[0])
	accepted := 0
	for _, m := range [][]byte{msg, nil, []byte("x")} {
		for _, sig := range sigs {
			if agreeES256(t, pub, coldKey(t, pub), warm, m, sig) {
				accepted++
			}
		}
	}
	if accepted != 2 { // the valid signature, and (r, n−s)
		t.Errorf("%d signatures verified, want 2", accepted)
	}
	if jws.Verify(alg.ES256, pub, string(msg), sigs[0]) {
		t.Error("an *ecdsa.PublicKey, not prepared, verified")
	}
}

// FuzzES256 checks that jws.Verify and the standard library agree on any
// message and signature under a P-256 key, with and without its table.
func FuzzES256(f *testing.F) {
	pub, msg, sigs := es256Cases(f)
	for _, sig := range sigs {
		f.Add(msg, sig)
	}
	warm := warmKey(f, pub, msg, sigs[0])
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		agreeES256(t, pub, coldKey(t, pub), warm, msg, sig)
	})
}
