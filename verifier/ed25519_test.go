package verifier_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/p256"
	"github.com/writ-dev/writ/verifier"
)

// TestUndecodableEd25519Key: an Ed25519 key whose bytes decode to no point
// of the curve (here y = 2) is kept in the set, as before the verifier
// decoded keys once, and verifies no token: crypto/ed25519.Verify rejects
// every signature under such a key, and Verify answers ErrSignature.
func TestUndecodableEd25519Key(t *testing.T) {
	bad := ed25519.PublicKey(append([]byte{2}, make([]byte, 31)...))
	signer := fixedEd25519(9) // signs the tokens that name the bad key
	pid := pasetoKID(bad)
	sets := map[string]func() (*verifier.KeySet, error){
		"NewKey": func() (*verifier.KeySet, error) {
			jk, err := verifier.NewKey("bad", verifier.EdDSA, bad)
			if err != nil {
				return nil, err
			}
			pk, err := verifier.NewKey(pid, verifier.V4Public, bad)
			if err != nil {
				return nil, err
			}
			return verifier.NewKeySet(jk, pk)
		},
		"ParseJWKS and ParsePASERKSet": func() (*verifier.KeySet, error) {
			jwks, err := verifier.ParseJWKS(jwksJSON(jwkJSON("bad", verifier.EdDSA, bad)))
			if err != nil {
				return nil, err
			}
			paserks, err := verifier.ParsePASERKSet(jwksJSON(paserkEntry(pid, bad)))
			if err != nil {
				return nil, err
			}
			if len(jwks.Ignored()) != 0 || len(paserks.Ignored()) != 0 {
				t.Errorf("ignored: %v, %v", jwks.Ignored(), paserks.Ignored())
			}
			return verifier.MergeKeySets(jwks, paserks)
		},
	}
	for name, newSet := range sets {
		t.Run(name, func(t *testing.T) {
			ks, err := newSet()
			if err != nil {
				t.Fatal(err)
			}
			if ks.Len() != 2 {
				t.Fatalf("%d keys, want 2", ks.Len())
			}
			v := newVerifier(t, ks, nil)
			for _, tok := range []string{
				signingKey{"bad", verifier.EdDSA, signer}.jwt(nil, nil),
				signingKey{pid, verifier.V4Public, signer}.paseto(nil),
			} {
				_, err := v.Verify(context.Background(), tok)
				checkSentinel(t, err, verifier.ErrSignature)
			}
		})
	}
}

// TestKeysBuildTables verifies tokens under fresh Ed25519 keys (EdDSA and
// v4.public) and a fresh P-256 key (ES256) well past the verification that
// builds each key's table (internal/eddsa, internal/p256): valid tokens
// verify and forged ones fail with ErrSignature before, at and after it.
func TestKeysBuildTables(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, mustKeySet(fx.ed, fx.pk, fx.es), nil) // keys of their own: no table yet
	forger, esForger := fixedEd25519(2), fixedP256(2)
	tokens := []struct{ valid, forged string }{
		{fx.ed.jwt(nil, nil), signingKey{fx.ed.kid, verifier.EdDSA, forger}.jwt(nil, nil)},
		{fx.pk.paseto(nil), signingKey{fx.pk.kid, verifier.V4Public, forger}.paseto(nil)},
		{fx.es.jwt(nil, nil), signingKey{fx.es.kid, verifier.ES256, esForger}.jwt(nil, nil)},
	}
	for i := range 3 * max(eddsa.TableAfter, p256.TableAfter) {
		for _, tok := range tokens {
			if _, err := v.Verify(context.Background(), tok.valid); err != nil {
				t.Fatalf("verification %d: %v", i, err)
			}
			_, err := v.Verify(context.Background(), tok.forged)
			checkSentinel(t, err, verifier.ErrSignature)
		}
	}
}
