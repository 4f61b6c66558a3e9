package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/jws"
)

// Helpers for the conformance vectors of jose_vectors_test.go.

// readVector decodes the JSON file testdata/vectors/<path> into v.
func readVector(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// jwsAlgorithms are the JWS algorithms of the token profile.
var jwsAlgorithms = []Algorithm{EdDSA, ES256, RS256, PS256}

// newVectorVerifier returns a verifier that accepts every JWS algorithm of
// the profile, with keys from ks.
func newVectorVerifier(t *testing.T, ks KeySource) *Verifier {
	t.Helper()
	v, err := New(Config{Issuer: "https://issuer.example", Audience: "api", Algorithms: jwsAlgorithms, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwsLayer runs Verify's size limit and its JWS layer (verifyJWS) on token,
// leaving out what only an access token has: typ and the claims.
func (v *Verifier) jwsLayer(ctx context.Context, token string) ([]byte, error) {
	if len(token) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	payload, _, err := v.verifyJWS(ctx, token, false)
	return payload, err
}

// verifySignature checks token at the signature layer alone, with key:
// jws.Parse, the header's alg against the key's, and jws.Verify. It is for
// examples whose header has no kid.
func verifySignature(t *testing.T, token string, key *Key) {
	t.Helper()
	tok, err := jws.Parse(token)
	if err != nil {
		t.Fatalf("jws.Parse: %v", err)
	}
	if Algorithm(tok.Header.Alg) != key.Algorithm() {
		t.Fatalf("header alg %q, key %q is %s", tok.Header.Alg, key.ID(), key.Algorithm())
	}
	if !jws.Verify(key.Algorithm(), key.verify, tok.SigningInput, tok.Signature) {
		t.Fatal("jws.Verify = false, want true")
	}
}

// privateJWKMembers are removed to publish the public half of a JWK.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicJWK returns the public half of jwk, with kid and alg set where jwk
// has none, as writ's publishing side always sets them.
func publicJWK(jwk map[string]any, kid, alg string) map[string]any {
	pub := map[string]any{"kid": kid, "alg": alg}
	for name, value := range jwk {
		pub[name] = value
	}
	for _, name := range privateJWKMembers {
		delete(pub, name)
	}
	return pub
}

// jwksOf encodes keys as a JWKS. A single key that is already a JWKS
// ({"keys":[…]}) is encoded as it is.
func jwksOf(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	var set any = map[string]any{"keys": keys}
	if _, ok := keys[0]["keys"]; ok && len(keys) == 1 {
		set = keys[0]
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sentinelName names the sentinel that err wraps.
func sentinelName(err error) string {
	if err == nil {
		return "accepted"
	}
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrKeySet", ErrKeySet}, {"ErrTooLarge", ErrTooLarge}, {"ErrMalformed", ErrMalformed}, {"ErrType", ErrType},
		{"ErrAlgorithm", ErrAlgorithm}, {"ErrUnknownKey", ErrUnknownKey}, {"ErrSignature", ErrSignature},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other: " + err.Error()
}

func formatCounts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
