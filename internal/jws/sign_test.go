package jws

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/writ-dev/writ/internal/alg"
	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/p256"
)

// opaque hides the concrete type of a key, as a hardware signer would.
type opaque struct{ crypto.Signer }

func testKeys(t *testing.T) map[alg.Algorithm]crypto.Signer {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[alg.Algorithm]crypto.Signer{alg.EdDSA: ed, alg.ES256: ec, alg.RS256: rs, alg.PS256: rs}
}

// verifyKey returns pub in the form Verify takes: an Ed25519 or P-256 key
// prepared (eddsa, p256), others as they are.
func verifyKey(t *testing.T, pub crypto.PublicKey) crypto.PublicKey {
	t.Helper()
	var (
		k   crypto.PublicKey
		err error
	)
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		k, err = eddsa.NewPublicKey(pub)
	case *ecdsa.PublicKey:
		k, err = p256.NewPublicKeyECDSA(pub)
	default:
		return pub
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAppendSignature(t *testing.T) {
	input := []byte("eyJhbGciOiJFZERTQSJ9.e30")
	for a, key := range testKeys(t) {
		for name, k := range map[string]crypto.Signer{"concrete": key, "opaque": opaque{key}} {
			t.Run(string(a)+"/"+name, func(t *testing.T) {
				sig, err := AppendSignature([]byte("x"), a, k, input)
				if err != nil {
					t.Fatal(err)
				}
				if sig[0] != 'x' {
					t.Fatal("dst not kept")
				}
				sig = sig[1:]
				if a == alg.ES256 && len(sig) != 64 {
					t.Fatalf("ES256 signature of %d bytes", len(sig))
				}
				pub := verifyKey(t, key.Public())
				if !Verify(a, pub, string(input), sig) {
					t.Fatal("signature does not verify")
				}
				if Verify(a, pub, string(input)+"x", sig) {
					t.Fatal("signature verifies another input")
				}
				if (a == alg.EdDSA || a == alg.ES256) && Verify(a, key.Public(), string(input), sig) {
					t.Fatalf("a %T, not prepared, verified", key.Public())
				}
			})
		}
	}
}

func TestAppendSignatureRefuses(t *testing.T) {
	keys := testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    alg.Algorithm
		key  crypto.Signer
	}{
		{"EdDSA with ECDSA", alg.EdDSA, keys[alg.ES256]},
		{"EdDSA with RSA", alg.EdDSA, opaque{keys[alg.RS256]}},
		{"ES256 with Ed25519", alg.ES256, keys[alg.EdDSA]},
		{"ES256 with P-384", alg.ES256, p384},
		{"ES256 with RSA", alg.ES256, keys[alg.RS256]},
		{"RS256 with ECDSA", alg.RS256, keys[alg.ES256]},
		{"PS256 with Ed25519", alg.PS256, opaque{keys[alg.EdDSA]}},
		{"EdDSA with a short Ed25519 key", alg.EdDSA, keys[alg.EdDSA].(ed25519.PrivateKey)[:32]},
		{"none", "none", keys[alg.EdDSA]},
		{"HS256", "HS256", keys[alg.RS256]},
		{"ES384", "ES384", p384},
		{"v4.public", alg.V4Public, keys[alg.EdDSA]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if sig, err := AppendSignature(nil, tc.a, tc.key, []byte("input")); err == nil {
				t.Errorf("AppendSignature(%s, %T) = %x, want an error", tc.a, tc.key, sig)
			}
		})
	}
}

// TestDERToP1363 converts to fixed width the DER (encoding/asn1's) of
// signatures with integers of every length that leading zeros and high
// bits make.
func TestDERToP1363(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2)) // fixed seed: reproducible
	for i := range 2000 {
		sig := make([]byte, 64)
		for j := range sig {
			sig[j] = byte(r.Uint32())
		}
		// Zero a prefix of r and of s, up to all of it.
		clear(sig[:i%33])
		clear(sig[32 : 32+i/33%33])
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			t.Fatal(err)
		}
		got, err := derToP1363([]byte("x"), der)
		if err != nil || !bytes.Equal(got, append([]byte("x"), sig...)) {
			t.Fatalf("derToP1363(%x) = %x, %v; want %x", der, got, err, sig)
		}
	}
}

func TestDERToP1363Malformed(t *testing.T) {
	for _, der := range [][]byte{
		nil,
		{0x30},
		{0x30, 0x00},
		{0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                                            // not a SEQUENCE
		{0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                                            // length beyond the end
		{0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},                                      // trailing data in the SEQUENCE
		{0x30, 0x03, 0x02, 0x01, 0x01},                                                              // one integer
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01},                                            // not an INTEGER
		{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},                                                  // empty INTEGER
		{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},                                            // negative
		append(append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, make([]byte, 32)...), 0x02, 0x01, 0x01), // 33-byte integer
	} {
		if got, err := derToP1363(nil, der); err == nil {
			t.Errorf("derToP1363(%x) = %x, want an error", der, got)
		}
	}
}
