package verifier_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/verifier"
)

// Fuzz targets for the verifier's parsers. Seeds come from the fixed,
// test-only keys of fixedKeys, so that every run starts from the same corpus.

// verifySentinels are the sentinels Verify may return (ErrScope and
// ErrKeySet are not among them; ErrRevoked only from a checker).
var verifySentinels = []error{
	verifier.ErrTooLarge, verifier.ErrMalformed, verifier.ErrType, verifier.ErrAlgorithm,
	verifier.ErrUnknownKey, verifier.ErrSignature, verifier.ErrExpired, verifier.ErrNotYetValid,
	verifier.ErrIssuer, verifier.ErrAudience, verifier.ErrClientIP,
}

// fuzzClient is the client address FuzzVerify also verifies from.
var fuzzClient = netip.MustParseAddr("10.1.2.3")

func FuzzVerify(f *testing.F) {
	fx := fixedKeys()
	ed := fx.ed.jwt(nil, nil)
	for _, seed := range []string{
		ed,
		fx.ed.jwt(nil, set("aud", []string{"x", testAudience})),
		fx.ed.jwt(set("typ", "application/at+jwt"), del("nbf", "scope")),
		fx.pk.paseto(nil),
		fx.pk.signPASETO(claimsJSON(true, nil), `{"kid":"`+fx.pk.kid+`","x":[1,{"y":null}]}`),
		fx.ed.jwt(set("alg", "none"), nil),
		fx.ed.jwt(set("typ", "JWT"), nil),
		fx.ed.jwt(set("kid", fx.es.kid), nil),
		fx.ed.jwt(set("kid", fx.pk.kid), nil),
		fx.ed.jwt(set("crit", []string{"exp"}), nil),
		fx.ed.jwt(nil, set("exp", testNow.Add(-31e9))),
		fx.ed.jwt(nil, set("exp", "soon")),
		fx.ed.jwt(nil, set("EXP", 1)),
		fx.ed.signJWT(fx.ed.header(nil), appendMember(claimsJSON(false, nil), `"\u0065xp":1`)),
		fx.other.jwt(nil, nil),
		signingKey{fx.ed.kid, verifier.V4Public, fx.ed.priv}.paseto(nil),
		fx.pk.signPASETO(claimsJSON(true, nil), ""),
		ed + "==",
		strings.Replace(ed, ".", ".\n", 1),
		"v4.local.AAAA", "v3.public.AAAA.AAAA", "a.b", "a.b.c.d", "", ".",
		fx.ed.jwt(nil, set("allowed_ips", []string{"10.0.0.0/8", "2001:db8::/32"})),
		fx.pk.paseto(set("allowed_ips", []string{"192.0.2.0/24"})),
		fx.ed.jwt(nil, set("allowed_ips", []string{"10.1.2.3/8", "::ffff:10.0.0.0/104", "fe80::%1/64"})),
		fx.ed.jwt(nil, set("allowed_ips", []any{"0.0.0.0/0", 7, nil, []string{"::/0"}})),
		fx.ed.jwt(nil, set("allowed_ips", make([]string, 40))),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		rc := &fakeChecker{}
		v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Revocation = rc })
		c, err := v.Verify(context.Background(), token)
		// A verifier with a token cache gives the same verdict, first from
		// a full verification, then from its cache.
		cv := newVerifier(t, fx.keys, func(c *verifier.Config) { c.CacheSize = 4 })
		for range 2 {
			cc, cerr := cv.Verify(context.Background(), token)
			if (cerr == nil) != (err == nil) || !slices.Equal(matchedSentinels(cerr), matchedSentinels(err)) ||
				err == nil && cc.ID != c.ID {
				t.Fatalf("with a cache: %v, %v; without: %v, %v", cc, cerr, c, err)
			}
		}
		checkFrom(t, newVerifier(t, fx.keys, nil), token, err)
		if err != nil {
			if c != nil {
				t.Fatalf("claims with error %v", err)
			}
			if m := matchedSentinels(err); len(m) != 1 || !slices.Contains(verifySentinels, m[0]) {
				t.Fatalf("error %q wraps %v, want exactly one sentinel of Verify", err, m)
			}
			if rc.calls.Load() != 0 {
				t.Fatalf("revocation checked for a token rejected with %v", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") || len(token) >= 64 && strings.Contains(err.Error(), token) {
				t.Fatalf("error message %q", err)
			}
			return
		}
		checkAccepted(t, fx, token, c)
		if rc.calls.Load() != 1 {
			t.Fatalf("revocation checked %d times for an accepted token", rc.calls.Load())
		}
	})
}

// checkFrom checks that v verifies token from fuzzClient as Verify did
// without an address (err), but for a token bound to networks, which only
// VerifyFrom may accept, and only from inside them.
func checkFrom(t *testing.T, v *verifier.Verifier, token string, err error) {
	t.Helper()
	c, ferr := v.VerifyFrom(context.Background(), token, fuzzClient)
	switch {
	case !errors.Is(err, verifier.ErrClientIP):
		if !slices.Equal(matchedSentinels(ferr), matchedSentinels(err)) {
			t.Fatalf("from %v: %v; without an address: %v", fuzzClient, ferr, err)
		}
	case ferr == nil:
		if len(c.AllowedIPs) == 0 || !c.AllowsAddr(fuzzClient) {
			t.Fatalf("accepted from %v with networks %v", fuzzClient, c.AllowedIPs)
		}
	case !errors.Is(ferr, verifier.ErrClientIP) || !strings.Contains(ferr.Error(), "is outside"):
		t.Fatalf("refused from %v with %v, want ErrClientIP", fuzzClient, ferr)
	}
}

// checkAccepted checks what an accepted token must be: claims that pass
// every check of the profile, from a key in the set, encoded canonically.
func checkAccepted(t *testing.T, fx *fixture, token string, c *verifier.Claims) {
	t.Helper()
	leeway := verifier.DefaultLeeway
	switch {
	case c == nil:
		t.Fatal("no claims and no error")
	case c.Issuer != testIssuer || !slices.Contains(c.Audience, testAudience):
		t.Fatalf("accepted iss %q aud %q", c.Issuer, c.Audience)
	case !testNow.Before(c.ExpiresAt.Add(leeway)) || c.IssuedAt.After(testNow.Add(leeway)) || c.NotBefore.After(testNow.Add(leeway)):
		t.Fatalf("accepted times exp %v iat %v nbf %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
	case c.Subject == "" || c.ID == "":
		t.Fatalf("accepted claims without sub or jti: %+v", c)
	case len(token) > verifier.MaxTokenSize:
		t.Fatalf("accepted a token of %d bytes", len(token))
	}
	k, err := fx.keys.LookupKey(context.Background(), c.KeyID)
	if err != nil || k.Algorithm() != c.Algorithm {
		t.Fatalf("accepted with key %q (%s): %v", c.KeyID, c.Algorithm, err)
	}
	// Every part is canonical base64url: one accepted encoding per token.
	parts := strings.Split(strings.TrimPrefix(token, "v4.public."), ".")
	if c.Algorithm == verifier.V4Public != strings.HasPrefix(token, "v4.public.") {
		t.Fatalf("token %q accepted as %s", token, c.Algorithm)
	}
	for _, p := range parts {
		raw, err := b64.Decode(p)
		if err != nil || b64.Encode(raw) != p {
			t.Fatalf("accepted part %q is not canonical base64url", p)
		}
	}
}

func FuzzParseJWKS(f *testing.F) {
	fx := fixedKeys()
	ed := jwkJSON(fx.ed.kid, verifier.EdDSA, fx.ed.priv.Public())
	es := jwkJSON(fx.es.kid, verifier.ES256, fx.es.priv.Public())
	// A fixed 2048-bit modulus: ParseJWKS checks sizes, not primes.
	n := new(big.Int).Lsh(big.NewInt(1), 2047)
	example, err := os.ReadFile("testdata/example-jwks.json")
	if err != nil {
		f.Fatal(err)
	}
	rs := map[string]any{"kty": "RSA", "kid": "rs-1", "alg": verifier.RS256, "use": "sig", "n": b64.Encode(n.Or(n, big.NewInt(12345)).Bytes()), "e": "AQAB"}
	for _, seed := range [][]byte{
		jwksJSON(ed), jwksJSON(es), jwksJSON(rs), jwksJSON(ed, es, rs),
		example,
		jwksJSON(ed, map[string]any{"kty": "oct", "k": "c2VjcmV0"}),
		jwksJSON(map[string]any{"kty": "EC", "crv": "P-256", "kid": "x", "x": "AA", "y": "AA", "key_ops": []string{"verify"}}),
		jwksJSON(map[string]any{"kty": "EC", "crv": "P-384", "kid": fx.ed.kid}, ed, map[string]any{"kid": 1, "use": "enc"}),
		jwksJSON(ed, map[string]any{"kty": "RSA", "kid": "small", "alg": verifier.RS256, "n": "AQAB", "e": "AQAB"}),
		[]byte(`{"keys":[]}`), []byte(`{}`), []byte(`[]`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := verifier.ParseJWKS(data)
		if err != nil {
			checkKeySetError(t, ks, err)
			return
		}
		checkIgnoredKeys(t, ks)
		var keys []map[string]any
		for _, k := range ks.Keys() {
			if !slices.Contains([]verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256}, k.Algorithm()) {
				t.Fatalf("JWKS key %q with algorithm %q", k.ID(), k.Algorithm())
			}
			keys = append(keys, jwkJSON(k.ID(), k.Algorithm(), k.Public()))
		}
		checkRoundTrip(t, ks, verifier.ParseJWKS, jwksJSON(keys...))
	})
}

func FuzzParsePASERKSet(f *testing.F) {
	fx := fixedKeys()
	pub := fx.pk.priv.Public().(ed25519.PublicKey)
	other := fx.other.priv.Public().(ed25519.PublicKey)
	for _, seed := range [][]byte{
		jwksJSON(paserkEntry(fx.pk.kid, pub)),
		jwksJSON(paserkEntry(fx.pk.kid, pub), paserkEntry(pasetoKID(other), other)),
		jwksJSON(paserkEntry(pasetoKID(other), pub)),
		jwksJSON(map[string]any{"kid": fx.pk.kid, "paserk": "k4.secret.AAAA"}),
		jwksJSON(paserkEntry(fx.pk.kid, pub), map[string]any{"kid": "x", "paserk": "k3.public.AAAA"}, map[string]any{"kid": 1}),
		[]byte(`{"keys":[]}`), []byte(`{"keys":[{}]}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := verifier.ParsePASERKSet(data)
		if err != nil {
			checkKeySetError(t, ks, err)
			return
		}
		checkIgnoredKeys(t, ks)
		var entries []map[string]any
		for _, k := range ks.Keys() {
			pub, ok := k.Public().(ed25519.PublicKey)
			if k.Algorithm() != verifier.V4Public || !ok || k.ID() != pasetoKID(pub) {
				t.Fatalf("PASERK key %q: %s %T", k.ID(), k.Algorithm(), k.Public())
			}
			entries = append(entries, paserkEntry(k.ID(), pub))
		}
		checkRoundTrip(t, ks, verifier.ParsePASERKSet, jwksJSON(entries...))
	})
}

func checkKeySetError(t *testing.T, ks *verifier.KeySet, err error) {
	t.Helper()
	if ks != nil {
		t.Fatalf("a key set with error %v", err)
	}
	if m := matchedSentinels(err); len(m) != 1 || m[0] != verifier.ErrKeySet {
		t.Fatalf("error %v wraps %v, want ErrKeySet alone", err, m)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error message spans lines: %q", err)
	}
}

// checkIgnoredKeys checks what a parsed set reports of the keys it
// ignored: in the order of the set, within MaxKeys with the usable ones,
// each with a kid that a token could carry or none, and a reason that wraps
// exactly one reason sentinel and no other sentinel, on one line.
func checkIgnoredKeys(t *testing.T, ks *verifier.KeySet) {
	t.Helper()
	ignored := ks.Ignored()
	if ks.Len()+len(ignored) > verifier.MaxKeys {
		t.Fatalf("%d usable and %d ignored keys", ks.Len(), len(ignored))
	}
	for i, k := range ignored {
		if k.Index < i || i > 0 && k.Index <= ignored[i-1].Index || k.Index >= verifier.MaxKeys {
			t.Fatalf("ignored keys out of order: %v", ignored)
		}
		if len(k.ID) > verifier.MaxKeyID {
			t.Fatalf("ignored key %d has a kid of %d bytes", k.Index, len(k.ID))
		}
		n := 0
		for _, r := range reasonSentinels {
			if errors.Is(k.Reason, r) {
				n++
			}
		}
		if n != 1 || len(matchedSentinels(k.Reason)) != 0 {
			t.Fatalf("ignored key %d: reason %v wraps %d reason sentinels and %v", k.Index, k.Reason, n, matchedSentinels(k.Reason))
		}
		if strings.ContainsAny(k.String(), "\r\n") {
			t.Fatalf("ignored key %d: description spans lines: %q", k.Index, k)
		}
	}
}

// checkRoundTrip parses encoded, the set ks encoded again, and checks
// that it holds the same keys.
func checkRoundTrip(t *testing.T, ks *verifier.KeySet, parse func([]byte) (*verifier.KeySet, error), encoded []byte) {
	t.Helper()
	if ks.Len() < 1 || ks.Len() > verifier.MaxKeys {
		t.Fatalf("a set of %d keys", ks.Len())
	}
	again, err := parse(encoded)
	if err != nil {
		t.Fatalf("the set encoded again, %s, is refused: %v", encoded, err)
	}
	if ign := again.Ignored(); ign != nil {
		t.Fatalf("the usable keys encoded again, %s, have ignored keys: %v", encoded, ign)
	}
	a, b := ks.Keys(), again.Keys()
	if len(a) != len(b) {
		t.Fatalf("%d keys, %d after a round trip", len(a), len(b))
	}
	for i := range a {
		if a[i].ID() != b[i].ID() || a[i].Algorithm() != b[i].Algorithm() ||
			!a[i].Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b[i].Public()) {
			t.Fatalf("key %q changed in a round trip", a[i].ID())
		}
	}
}
