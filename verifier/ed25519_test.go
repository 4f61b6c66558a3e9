package verifier_test

import (
	"context"
	"crypto/ed25519"
	"testing"

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
