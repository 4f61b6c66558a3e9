package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/verifier"
)

// TestParsePublishedSets parses the key sets that writ's keyring publishes
// for each JWT algorithm, and checks each key against the keyring.
func TestParsePublishedSets(t *testing.T) {
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			env := newWritEnv(t, alg)
			recs, err := env.ring.Published(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			jwks, err := verifier.ParseJWKS(env.jwks(t))
			if err != nil {
				t.Fatal(err)
			}
			paserks, err := verifier.ParsePASERKSet(env.paserkSet(t))
			if err != nil {
				t.Fatal(err)
			}
			if jwks.Len() != 2 || paserks.Len() != 2 {
				t.Fatalf("%d JWKS keys and %d PASERK keys, want 2 and 2", jwks.Len(), paserks.Len())
			}
			merged, err := verifier.MergeKeySets(jwks, paserks)
			if err != nil || merged.Len() != len(recs) {
				t.Fatalf("MergeKeySets: %d keys, %v; want %d", merged.Len(), err, len(recs))
			}
			for _, rec := range recs {
				k, err := merged.LookupKey(context.Background(), rec.ID)
				if err != nil {
					t.Fatalf("key %s: %v", rec.ID, err)
				}
				if k.ID() != rec.ID || k.Algorithm() != rec.Algorithm || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(rec.Public) {
					t.Errorf("key %s: parsed %s %s, keyring %s", rec.ID, k.ID(), k.Algorithm(), rec.Algorithm)
				}
			}
		})
	}
}

// keysetCase is a key set and the number of usable keys in it; -1 means
// it must be refused with ErrKeySet.
type keysetCase struct {
	name string
	set  []byte
	want int
}

func runKeysetCases(t *testing.T, parse func([]byte) (*verifier.KeySet, error), cases []keysetCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := parse(tc.set)
			if tc.want < 0 {
				if ks != nil {
					t.Errorf("a refused set came with %d keys", ks.Len())
				}
				checkSentinel(t, err, verifier.ErrKeySet)
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Errorf("message spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v, want %d keys", err, tc.want)
			}
			if ks.Len() != tc.want {
				t.Fatalf("%d keys, want %d", ks.Len(), tc.want)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	fx := testKeys()
	ed := func() map[string]any { return jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public()) }
	es := func() map[string]any { return jwkJSON("es-1", verifier.ES256, fx.es.priv.Public()) }
	rs := func() map[string]any { return jwkJSON("rs-1", verifier.RS256, fx.rs.priv.Public()) }
	with := func(k map[string]any, mods ...func(map[string]any)) map[string]any {
		both(mods...)(k)
		return k
	}
	// An EC point off the curve: y+1.
	off := es()
	y, _ := b64.Decode(off["y"].(string))
	y[31] ^= 1
	off["y"] = b64.Encode(y)
	// RSA moduli of given bit lengths (not products of primes: ParseJWKS
	// checks sizes only).
	modulus := func(bits int) string {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		return b64.Encode(n.Or(n, big.NewInt(1)).Bytes())
	}
	rsaBits := func(bits int) map[string]any {
		return map[string]any{"kty": "RSA", "kid": fmt.Sprint("rsa-", bits), "alg": verifier.RS256, "n": modulus(bits), "e": "AQAB"}
	}
	cases := []keysetCase{
		{"Ed25519", jwksJSON(ed()), 1},
		{"P-256", jwksJSON(es()), 1},
		{"RSA", jwksJSON(rs()), 1},
		{"every kind", jwksJSON(ed(), es(), rs(), jwkJSON("ps-1", verifier.PS256, fx.ps.priv.Public())), 4},
		{"Ed25519 without alg", jwksJSON(with(ed(), del("alg"))), 1},
		{"P-256 without alg", jwksJSON(with(es(), del("alg"))), 1},
		{"without use", jwksJSON(with(ed(), del("use"))), 1},
		{"key_ops verify", jwksJSON(with(ed(), set("key_ops", []string{"verify"}))), 1},
		{"key_ops sign and verify", jwksJSON(with(ed(), set("key_ops", []string{"sign", "verify"}))), 1},
		{"other top-level members", []byte(`{"x":1,"keys":[` + mustJSON(ed()) + `]}`), 1},
		{"unknown key members", jwksJSON(with(ed(), set("x5t", "abc"), set("ext", true))), 1},
		{"RSA of 2048 bits", jwksJSON(rsaBits(2048)), 1},
		{"RSA of 8192 bits", jwksJSON(rsaBits(8192)), 1},
		{"example set", readFile(t, "testdata/example-jwks.json"), 1},

		// Ignored keys (TestParseJWKSIgnoresUnusableKeys): the set is
		// refused only when none is left.
		{"skips use enc", jwksJSON(ed(), with(es(), set("use", "enc"))), 1},
		{"skips key_ops without verify", jwksJSON(ed(), with(es(), set("key_ops", []string{"encrypt", "wrapKey"}))), 1},
		{"skips empty key_ops", jwksJSON(ed(), with(es(), set("key_ops", []string{}))), 1},
		{"skips unknown kty", jwksJSON(ed(), map[string]any{"kty": "XYZ", "kid": "x"}), 1},
		{"skips kty in lower case", jwksJSON(ed(), with(es(), set("kty", "ec"))), 1},
		{"skips X25519", jwksJSON(ed(), with(ed(), set("crv", "X25519"), set("kid", "x"), del("alg"))), 1},
		{"skips Ed448", jwksJSON(ed(), with(ed(), set("crv", "Ed448"), set("kid", "x"), del("alg"))), 1},
		{"skips P-384", jwksJSON(ed(), with(es(), set("crv", "P-384"), del("alg"))), 1},
		{"skips secp256k1", jwksJSON(ed(), with(es(), set("crv", "secp256k1"), set("alg", "ES256K"))), 1},
		{"skips RSA without alg", jwksJSON(ed(), with(rs(), del("alg"))), 1},
		{"skips RSA with RS512", jwksJSON(ed(), with(rs(), set("alg", "RS512"))), 1},
		{"skips OKP with alg ES256", jwksJSON(with(ed(), set("kid", "x"), set("alg", verifier.ES256)), es()), 1},
		{"skips EC with alg EdDSA", jwksJSON(ed(), with(es(), set("alg", verifier.EdDSA))), 1},
		{"no usable key", jwksJSON(with(ed(), set("use", "enc")), map[string]any{"kty": "XYZ"}), -1},
		{"no key", jwksJSON(), -1},

		{"Ed25519 d", jwksJSON(with(ed(), set("d", b64.Encode(make([]byte, 32))))), -1},
		{"EC d", jwksJSON(with(es(), set("d", b64.Encode(make([]byte, 32))))), -1},
		{"oct k", jwksJSON(ed(), map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}), -1},
		{"private member in a skipped key", jwksJSON(ed(), with(es(), set("use", "enc"), set("d", "AA"))), -1},
		{"private member null", jwksJSON(with(ed(), set("d", nil))), -1},
		{"EC point not on the curve", jwksJSON(off), -1},
		{"EC point at zero", jwksJSON(with(es(), set("x", b64.Encode(make([]byte, 32))), set("y", b64.Encode(make([]byte, 32))))), -1},
		{"EC x of 31 bytes", jwksJSON(with(es(), set("x", b64.Encode(make([]byte, 31))))), -1},
		{"EC x of 33 bytes", jwksJSON(with(es(), set("x", b64.Encode(make([]byte, 33))))), -1},
		{"EC without y", jwksJSON(with(es(), del("y"))), -1},
		{"Ed25519 x of 31 bytes", jwksJSON(with(ed(), set("x", b64.Encode(make([]byte, 31))))), -1},
		{"Ed25519 x of 33 bytes", jwksJSON(with(ed(), set("x", b64.Encode(make([]byte, 33))))), -1},
		{"Ed25519 without x", jwksJSON(with(ed(), del("x"))), -1},
		{"Ed25519 x padded", jwksJSON(with(ed(), set("x", ed()["x"].(string)+"="))), -1},
		{"Ed25519 x with trailing bits", jwksJSON(with(ed(), set("x", withTrailingBits(ed()["x"].(string))))), -1},
		{"Ed25519 x in standard base64", jwksJSON(with(ed(), set("x", strings.NewReplacer("-", "+", "_", "/").Replace(ed()["x"].(string))+"+"))), -1},
		{"Ed25519 x a number", jwksJSON(with(ed(), set("x", 1))), -1},
		{"RSA of 1024 bits", jwksJSON(rsaBits(1024)), -1},
		{"RSA of 2047 bits", jwksJSON(rsaBits(2047)), -1},
		{"RSA of 8200 bits", jwksJSON(rsaBits(8200)), -1},
		{"RSA n with a leading zero", jwksJSON(with(rs(), set("n", "AA"+rs()["n"].(string)))), -1},
		{"RSA e = 1", jwksJSON(with(rs(), set("e", "AQ"))), -1},
		{"RSA e even", jwksJSON(with(rs(), set("e", "AQAA"))), -1},
		{"RSA e of 5 bytes", jwksJSON(with(rs(), set("e", "AQAAAAE"))), -1},
		{"RSA without n", jwksJSON(with(rs(), del("n"))), -1},
		{"duplicate kid", jwksJSON(ed(), with(es(), set("kid", "ed-1"))), -1},
		{"same key twice", jwksJSON(ed(), ed()), -1},
		{"missing kid", jwksJSON(with(ed(), del("kid"))), -1},
		{"empty kid", jwksJSON(with(ed(), set("kid", ""))), -1},
		{"kid of 129 bytes", jwksJSON(with(ed(), set("kid", strings.Repeat("k", 129)))), -1},
		{"kid a number", jwksJSON(with(ed(), set("kid", 1))), -1},
		{"kty a number", jwksJSON(with(ed(), set("kty", 1))), -1},
		{"key_ops a string", jwksJSON(with(ed(), set("key_ops", "verify"))), -1},
		{"key_ops with a number", jwksJSON(with(ed(), set("key_ops", []any{"verify", 1}))), -1},
		{"duplicate member in a key", []byte(`{"keys":[` + appendMember(mustJSON(ed()), `"x":"`+ed()["x"].(string)+`"`) + `]}`), -1},
		{"duplicate keys member", []byte(`{"keys":[],"keys":[` + mustJSON(ed()) + `]}`), -1},
		{"keys not an array", []byte(`{"keys":` + mustJSON(ed()) + `}`), -1},
		{"a key not an object", []byte(`{"keys":[` + mustJSON(ed()) + `,"x"]}`), -1},
		{"no keys member", []byte(`{"Keys":[` + mustJSON(ed()) + `]}`), -1},
		{"a bare key", []byte(mustJSON(ed())), -1},
		{"an array", []byte(`[` + mustJSON(ed()) + `]`), -1},
		{"empty", nil, -1},
		{"not JSON", []byte("keys"), -1},
		{"trailing data", append(jwksJSON(ed()), '}'), -1},
		{"more than MaxKeys keys", jwksJSON(manyKeys(verifier.MaxKeys+1, func(i int) map[string]any { return with(ed(), set("kid", fmt.Sprint(i))) })...), -1},
		{"MaxKeys keys", jwksJSON(manyKeys(verifier.MaxKeys, func(i int) map[string]any { return with(ed(), set("kid", fmt.Sprint(i))) })...), verifier.MaxKeys},
		{"MaxKeySetSize bytes", padSet(jwksJSON(ed()), verifier.MaxKeySetSize), 1},
		{"MaxKeySetSize+1 bytes", padSet(jwksJSON(ed()), verifier.MaxKeySetSize+1), -1},
	}
	runKeysetCases(t, verifier.ParseJWKS, cases)
}

// TestParseJWKSKeepsSecretsOut checks that an error about private key
// material does not quote it.
func TestParseJWKSKeepsSecretsOut(t *testing.T) {
	fx := fixedKeys()
	secret := b64.Encode(fx.ed.priv.(ed25519.PrivateKey).Seed())
	k := jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())
	k["d"] = secret
	_, err := verifier.ParseJWKS(jwksJSON(k))
	if !errors.Is(err, verifier.ErrKeySet) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:12]) {
		t.Fatalf("error %v", err)
	}
}

// reasonSentinels are the reasons a key set parser gives for ignoring a key.
var reasonSentinels = []error{verifier.ErrKeyUnsupported, verifier.ErrKeyMalformed, verifier.ErrKeyWeak}

// ignoredCase is a key that a set parser must ignore, the kid it is
// reported under ("" for none) and the reason it must give.
type ignoredCase struct {
	name   string
	key    any // a map, or raw JSON text for members a map cannot order
	kid    string
	reason error
}

// checkIgnored parses a set of tc's key followed by good, a usable key,
// and checks that the usable key alone is in the set, that tc's key is
// reported by Ignored, and that verify accepts the usable key's token and
// refuses one naming the ignored kid as an unknown key.
func checkIgnored(t *testing.T, parse func([]byte) (*verifier.KeySet, error), tc ignoredCase, good map[string]any, verify func(ks *verifier.KeySet, kid string) error) {
	t.Helper()
	key, ok := tc.key.(string)
	if !ok {
		key = mustJSON(tc.key)
	}
	ks, err := parse([]byte(`{"keys":[` + key + "," + mustJSON(good) + `]}`))
	if err != nil {
		t.Fatalf("set refused: %v", err)
	}
	if ks.Len() != 1 {
		t.Fatalf("%d keys, want the usable one", ks.Len())
	}
	ign := ks.Ignored()
	if len(ign) != 1 || ign[0].Index != 0 || ign[0].ID != tc.kid {
		t.Fatalf("Ignored() = %v, want key 0 with kid %q", ign, tc.kid)
	}
	reason := ign[0].Reason
	if !errors.Is(reason, tc.reason) || errors.Is(reason, verifier.ErrKeySet) {
		t.Errorf("reason %v, want %v", reason, tc.reason)
	}
	for _, other := range reasonSentinels {
		if other != tc.reason && errors.Is(reason, other) {
			t.Errorf("reason %v also wraps %v", reason, other)
		}
	}
	if msg := ign[0].String(); strings.ContainsAny(msg, "\r\n") || len(msg) > 300 {
		t.Errorf("description %q: not one short line", msg)
	}
	if err := verify(ks, good["kid"].(string)); err != nil {
		t.Errorf("token of the usable key: %v", err)
	}
	if tc.kid != "" {
		if err := verify(ks, tc.kid); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Errorf("token naming the ignored kid: %v, want ErrUnknownKey", err)
		}
	}
}

// TestParseJWKSIgnoresUnusableKeys: a key the verifier cannot use, beside
// a usable one, is ignored with its reason (RFC 7517 §5): the usable key's
// tokens verify, and a token naming the ignored kid is from an unknown key.
func TestParseJWKSIgnoresUnusableKeys(t *testing.T) {
	fx := testKeys()
	es := func(mods ...func(map[string]any)) map[string]any {
		k := jwkJSON("es-1", verifier.ES256, fx.es.priv.Public())
		both(mods...)(k)
		return k
	}
	rs := func(mods ...func(map[string]any)) map[string]any {
		k := jwkJSON("rs-1", verifier.RS256, fx.rs.priv.Public())
		both(mods...)(k)
		return k
	}
	rsaN := func(n *big.Int) func(map[string]any) { return set("n", b64.Encode(n.Bytes())) }
	bits := func(b int) *big.Int {
		n := new(big.Int).Lsh(big.NewInt(1), uint(b-1))
		return n.Or(n, big.NewInt(1))
	}
	weak, _ := rocaModuli()
	y, _ := b64.Decode(es()["y"].(string))
	y[31] ^= 1
	long := strings.Repeat("k", verifier.MaxKeyID+1)
	x := es()["x"].(string)
	unsupported, malformed, weakKey := verifier.ErrKeyUnsupported, verifier.ErrKeyMalformed, verifier.ErrKeyWeak
	cases := []ignoredCase{
		{"use enc", es(set("use", "enc")), "es-1", unsupported},
		{"key_ops without verify", es(set("key_ops", []string{"encrypt"})), "es-1", unsupported},
		{"empty key_ops", es(set("key_ops", []string{})), "es-1", unsupported},
		{"unknown kty", map[string]any{"kty": "XYZ", "kid": "x"}, "x", unsupported},
		{"kty in lower case", es(set("kty", "ec")), "es-1", unsupported},
		{"P-384", es(set("crv", "P-384"), del("alg")), "es-1", unsupported},
		{"secp256k1", es(set("crv", "secp256k1"), set("alg", "ES256K")), "es-1", unsupported},
		{"X25519", map[string]any{"kty": "OKP", "crv": "X25519", "kid": "x", "x": x}, "x", unsupported},
		{"alg ES384 on P-256", es(set("alg", "ES384")), "es-1", unsupported},
		{"alg EdDSA on P-256", es(set("alg", verifier.EdDSA)), "es-1", unsupported},
		{"alg HS256 on RSA", rs(set("alg", "HS256")), "rs-1", unsupported},
		{"RSA with RS512", rs(set("alg", "RS512")), "rs-1", unsupported},
		{"RSA without alg", rs(del("alg")), "rs-1", unsupported},
		{"RSA of 8200 bits", rs(rsaN(bits(8200))), "rs-1", unsupported},
		{"kid of 129 bytes", es(set("kid", long)), "", unsupported},

		{"no kid", es(del("kid")), "", malformed},
		{"empty kid", es(set("kid", "")), "", malformed},
		{"kid a number", es(set("kid", 1)), "", malformed},
		{"no kty", es(del("kty")), "es-1", malformed},
		{"kty a number", es(set("kty", 1)), "es-1", malformed},
		{"key_ops a string", es(set("key_ops", "verify")), "es-1", malformed},
		{"key_ops with a number", es(set("key_ops", []any{"verify", 1})), "es-1", malformed},
		{"EC point not on the curve", es(set("y", b64.Encode(y))), "es-1", malformed},
		{"EC point at zero", es(set("x", b64.Encode(make([]byte, 32))), set("y", b64.Encode(make([]byte, 32)))), "es-1", malformed},
		{"EC x of 31 bytes", es(set("x", b64.Encode(make([]byte, 31)))), "es-1", malformed},
		{"EC without y", es(del("y")), "es-1", malformed},
		{"EC x padded", es(set("x", x+"=")), "es-1", malformed},
		{"EC x in standard base64", es(set("x", strings.NewReplacer("-", "+", "_", "/").Replace(x)+"+")), "es-1", malformed},
		{"EC x a number", es(set("x", 1)), "es-1", malformed},
		{"RSA n with a leading zero", rs(set("n", "AA"+rs()["n"].(string))), "rs-1", malformed},
		{"RSA without n", rs(del("n")), "rs-1", malformed},
		{"RSA e = 1", rs(set("e", "AQ")), "rs-1", malformed},
		{"RSA e even", rs(set("e", "AQAA")), "rs-1", malformed},
		{"RSA e of 5 bytes", rs(set("e", "AQAAAAE")), "rs-1", malformed},

		{"RSA of 1024 bits", rs(rsaN(bits(1024))), "rs-1", weakKey},
		{"RSA of 2047 bits", rs(rsaN(bits(2047))), "rs-1", weakKey},
		{"RSA with the ROCA fingerprint", rs(rsaN(weak)), "rs-1", weakKey},
	}
	good := jwkJSON(fx.ed.kid, verifier.EdDSA, fx.ed.priv.Public())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkIgnored(t, verifier.ParseJWKS, tc, good, func(ks *verifier.KeySet, kid string) error {
				_, err := newVerifier(t, ks, nil).Verify(context.Background(), fx.ed.jwt(set("kid", kid), nil))
				return err
			})
		})
	}
}

// TestParseJWKSRefusesWhole: what no key of a set may be, however usable
// its other keys: private key material anywhere (even in a key ignored for
// another reason, after a member of the wrong type), and two usable keys
// under one kid. A kid shared by a usable key and an ignored one names the
// usable key.
func TestParseJWKSRefusesWhole(t *testing.T) {
	fx := testKeys()
	ed := func(mods ...func(map[string]any)) map[string]any {
		k := jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())
		both(mods...)(k)
		return k
	}
	es := func(mods ...func(map[string]any)) map[string]any {
		k := jwkJSON("es-1", verifier.ES256, fx.es.priv.Public())
		both(mods...)(k)
		return k
	}
	for _, tc := range []struct {
		name string
		set  []byte
	}{
		{"d in an ignored key", jwksJSON(ed(), es(set("use", "enc"), set("d", "AA")))},
		{"d after a member of the wrong type", jwksJSON(ed(), es(set("crv", 1), set("d", "AA")))},
		{"d in a key of an unknown type", jwksJSON(ed(), map[string]any{"kty": "XYZ", "d": "AA"})},
		{"k in the last key, after an ignored one", jwksJSON(es(set("use", "enc")), ed(), map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"})},
		{"p in a key without kid", jwksJSON(ed(), map[string]any{"kty": "RSA", "p": "AQ"})},
		{"two usable keys under one kid", jwksJSON(ed(), es(set("kid", "ed-1")))},
		{"duplicate member in an ignored key", []byte(`{"keys":[` + mustJSON(ed()) + `,` + appendMember(mustJSON(es(set("use", "enc"))), `"use":"sig"`) + `]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := verifier.ParseJWKS(tc.set)
			if ks != nil {
				t.Fatalf("a refused set came with %d keys", ks.Len())
			}
			checkSentinel(t, err, verifier.ErrKeySet)
			for _, r := range reasonSentinels {
				if errors.Is(err, r) {
					t.Errorf("set error %v wraps %v", err, r)
				}
			}
		})
	}

	ks, err := verifier.ParseJWKS(jwksJSON(es(set("kid", "ed-1"), set("use", "enc")), ed()))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ks.LookupKey(context.Background(), "ed-1"); err != nil || k.Algorithm() != verifier.EdDSA {
		t.Errorf("kid of a usable and an ignored key: %v, %v; want the usable key", k, err)
	}
}

// TestParseJWKSNoUsableKey: a set whose keys are all ignored is refused,
// naming the first reasons.
func TestParseJWKSNoUsableKey(t *testing.T) {
	keys := manyKeys(5, func(i int) map[string]any {
		return map[string]any{"kty": "XYZ", "kid": fmt.Sprint("k", i)}
	})
	ks, err := verifier.ParseJWKS(jwksJSON(keys...))
	if ks != nil {
		t.Fatalf("a set of %d keys", ks.Len())
	}
	checkSentinel(t, err, verifier.ErrKeySet)
	want := `no usable key: key 0 (kid "k0"): key not supported: key type "XYZ"; key 1 (kid "k1"): key not supported: key type "XYZ"; key 2 (kid "k2"): key not supported: key type "XYZ"; and 2 more`
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q, want it to end %q", err, want)
	}
	// A value of a megabyte is quoted by its start only.
	_, err = verifier.ParseJWKS(jwksJSON(map[string]any{"kty": strings.Repeat("X", 1<<19), "kid": "k"}))
	if checkSentinel(t, err, verifier.ErrKeySet); len(err.Error()) > 200 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}

// TestKeySetIgnoredIsACopy: Ignored returns the set's list in a new slice,
// and sets built from keys have none.
func TestKeySetIgnoredIsACopy(t *testing.T) {
	fx := fixedKeys()
	ks, err := verifier.ParseJWKS(jwksJSON(map[string]any{"kty": "XYZ", "kid": "x"}, jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())))
	if err != nil {
		t.Fatal(err)
	}
	ks.Ignored()[0].ID = "changed"
	if got := ks.Ignored(); len(got) != 1 || got[0].ID != "x" {
		t.Errorf("Ignored() = %v after a caller changed its copy", got)
	}
	merged, err := verifier.MergeKeySets(ks)
	if err != nil || merged.Ignored() != nil || fx.keys.Ignored() != nil {
		t.Errorf("sets built from keys report ignored keys: %v, %v, %v", merged.Ignored(), fx.keys.Ignored(), err)
	}
}

func manyKeys(n int, key func(i int) map[string]any) []map[string]any {
	keys := make([]map[string]any, n)
	for i := range keys {
		keys[i] = key(i)
	}
	return keys
}

// padSet pads a JSON set with trailing spaces to n bytes.
func padSet(set []byte, n int) []byte {
	return append(set, []byte(strings.Repeat(" ", n-len(set)))...)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParsePASERKSet(t *testing.T) {
	fx := fixedKeys()
	pub := fx.pk.priv.Public().(ed25519.PublicKey)
	other := fx.other.priv.Public().(ed25519.PublicKey)
	entry := func(mods ...func(map[string]any)) map[string]any {
		e := paserkEntry(fx.pk.kid, pub)
		both(mods...)(e)
		return e
	}
	otherPID := pasetoKID(other)
	runKeysetCases(t, verifier.ParsePASERKSet, []keysetCase{
		{"one key", jwksJSON(entry()), 1},
		{"two keys", jwksJSON(entry(), paserkEntry(otherPID, other)), 2},
		{"other members ignored", jwksJSON(entry(set("x", 1))), 1},
		{"kid not the key's k4.pid", jwksJSON(entry(set("kid", otherPID))), -1},
		{"kid a JWK thumbprint", jwksJSON(entry(set("kid", "ed-1"))), -1},
		{"kid missing", jwksJSON(entry(del("kid"))), -1},
		{"kid a number", jwksJSON(entry(set("kid", 1))), -1},
		{"paserk missing", jwksJSON(entry(del("paserk"))), -1},
		{"paserk k3.public", jwksJSON(entry(set("paserk", "k3.public."+b64.Encode(pub)))), -1},
		{"paserk k4.secret", jwksJSON(entry(set("paserk", "k4.secret."+b64.Encode(fx.pk.priv.(ed25519.PrivateKey))))), -1},
		{"paserk k4.pid", jwksJSON(entry(set("paserk", fx.pk.kid))), -1},
		{"paserk of 31 bytes", jwksJSON(entry(set("paserk", "k4.public."+b64.Encode(pub[:31])))), -1},
		{"paserk padded", jwksJSON(entry(set("paserk", "k4.public."+b64.Encode(pub)+"="))), -1},
		{"paserk with trailing bits", jwksJSON(entry(set("paserk", "k4.public."+withTrailingBits(b64.Encode(pub))))), -1},
		{"same key twice", jwksJSON(entry(), entry()), -1},
		{"duplicate member", []byte(`{"keys":[` + appendMember(mustJSON(entry()), `"kid":"`+fx.pk.kid+`"`) + `]}`), -1},
		{"a JWKS", jwksJSON(jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())), -1},
		{"no key", jwksJSON(), -1},
		{"not JSON", []byte("k4.public."), -1},
		{"MaxKeySetSize+1 bytes", padSet(jwksJSON(entry()), verifier.MaxKeySetSize+1), -1},
	})
}

// TestParsePASERKSetIgnoresUnusableEntries: ParsePASERKSet follows
// ParseJWKS's rules. An entry it cannot use, beside a usable one, is
// ignored with its reason; a PASERK of a secret or symmetric key, bare or
// wrapped, refuses the whole set.
func TestParsePASERKSetIgnoresUnusableEntries(t *testing.T) {
	fx := fixedKeys()
	pub := fx.pk.priv.Public().(ed25519.PublicKey)
	other := fx.other.priv.Public().(ed25519.PublicKey)
	otherPID := pasetoKID(other)
	thirdPID := pasetoKID(fixedEd25519(9).Public().(ed25519.PublicKey))
	entry := func(mods ...func(map[string]any)) map[string]any {
		e := paserkEntry(otherPID, other)
		both(mods...)(e)
		return e
	}
	unsupported, malformed := verifier.ErrKeyUnsupported, verifier.ErrKeyMalformed
	cases := []ignoredCase{
		{"k3.public", entry(set("paserk", "k3.public."+b64.Encode(make([]byte, 49)))), otherPID, unsupported},
		{"k2.public", entry(set("paserk", "k2.public."+b64.Encode(other))), otherPID, unsupported},
		{"k4.pid", entry(set("paserk", otherPID)), otherPID, unsupported},
		{"a future type", entry(set("paserk", "k4.frob."+b64.Encode(other))), otherPID, unsupported},
		{"kid of 129 bytes", entry(set("kid", strings.Repeat("k", verifier.MaxKeyID+1))), "", unsupported},
		{"kid not the key's k4.pid", entry(set("kid", thirdPID)), thirdPID, malformed},
		{"kid a JWK thumbprint", entry(set("kid", "ed-1")), "ed-1", malformed},
		{"kid missing", entry(del("kid")), "", malformed},
		{"kid a number", entry(set("kid", 1)), "", malformed},
		{"paserk missing", entry(del("paserk")), otherPID, malformed},
		{"paserk a number", entry(set("paserk", 4)), otherPID, malformed},
		{"paserk not a PASERK", entry(set("paserk", b64.Encode(other))), otherPID, malformed},
		{"paserk of 31 bytes", entry(set("paserk", "k4.public."+b64.Encode(other[:31]))), otherPID, malformed},
		{"paserk padded", entry(set("paserk", "k4.public."+b64.Encode(other)+"=")), otherPID, malformed},
		{"paserk with trailing bits", entry(set("paserk", "k4.public."+withTrailingBits(b64.Encode(other)))), otherPID, malformed},
		{"a JWK", jwkJSON(otherPID, verifier.EdDSA, other), otherPID, malformed},
	}
	good := paserkEntry(fx.pk.kid, pub)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkIgnored(t, verifier.ParsePASERKSet, tc, good, func(ks *verifier.KeySet, kid string) error {
				tok := fx.pk.signPASETO(claimsJSON(true, nil), mustJSON(map[string]string{"kid": kid}))
				if kid != fx.pk.kid {
					tok = fx.other.signPASETO(claimsJSON(true, nil), mustJSON(map[string]string{"kid": kid}))
				}
				_, err := newVerifier(t, ks, nil).Verify(context.Background(), tok)
				return err
			})
		})
	}

	secret := b64.Encode(fx.pk.priv.(ed25519.PrivateKey))
	for _, pk := range []string{
		"k4.secret." + secret, "k4.local." + b64.Encode(make([]byte, 32)), "k3.secret." + b64.Encode(make([]byte, 48)),
		"k4.secret-wrap.pie." + secret, "k4.local-pw." + secret, "k4.seal." + secret, "k1.local." + secret, "k4.secret",
	} {
		t.Run(strings.Join(strings.SplitN(pk, ".", 3)[:2], "."), func(t *testing.T) {
			ks, err := verifier.ParsePASERKSet(jwksJSON(good, entry(set("paserk", pk))))
			if ks != nil {
				t.Fatalf("a set with a secret came with %d keys", ks.Len())
			}
			checkSentinel(t, err, verifier.ErrKeySet)
			if strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestMergeKeySets(t *testing.T) {
	fx := fixedKeys()
	a := mustKeySet(fx.ed)
	b := mustKeySet(fx.es, fx.pk)
	m, err := verifier.MergeKeySets(a, b)
	if err != nil || m.Len() != 3 {
		t.Fatalf("MergeKeySets = %v, %v", m, err)
	}
	var ids []string
	for _, k := range m.Keys() {
		ids = append(ids, k.ID())
	}
	if want := fmt.Sprint([]string{fx.ed.kid, fx.es.kid, fx.pk.kid}); fmt.Sprint(ids) != want {
		t.Errorf("Keys() = %v, want %v (ordered by id)", ids, want)
	}
	_, err = verifier.MergeKeySets(a, mustKeySet(fx.es), a)
	checkSentinel(t, err, verifier.ErrKeySet)
	// Same id, different key.
	_, err = verifier.MergeKeySets(a, mustKeySet(fx.other))
	checkSentinel(t, err, verifier.ErrKeySet)
}

func TestKeySetLookup(t *testing.T) {
	fx := fixedKeys()
	for _, kid := range []string{"", "nope", "ED-1", "ed-1 ", fx.pk.kid + "x"} {
		k, err := fx.keys.LookupKey(context.Background(), kid)
		if k != nil {
			t.Errorf("LookupKey(%q) = %v", kid, k)
		}
		checkSentinel(t, err, verifier.ErrUnknownKey)
	}
	k, err := fx.keys.LookupKey(context.Background(), "es-1")
	if err != nil || k.ID() != "es-1" || k.Algorithm() != verifier.ES256 {
		t.Fatalf("LookupKey(es-1) = %v, %v", k, err)
	}
}

func TestNewKey(t *testing.T) {
	fx := testKeys()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), nil)
	if err != nil {
		t.Fatal(err)
	}
	small := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 1023), E: 65537}
	edPub := fx.ed.priv.Public()
	esPub, err := fx.es.priv.Public().(*ecdsa.PublicKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	x, y := new(big.Int).SetBytes(esPub[1:33]), new(big.Int).SetBytes(esPub[33:])
	//lint:ignore SA1019 the raw coordinates are the only way to make a key off the curve
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: new(big.Int).Add(y, big.NewInt(1))}
	for _, tc := range []struct {
		name string
		id   string
		alg  verifier.Algorithm
		pub  any
		ok   bool
	}{
		{"EdDSA", "k", verifier.EdDSA, edPub, true},
		{"ES256", "k", verifier.ES256, fx.es.priv.Public(), true},
		{"RS256", "k", verifier.RS256, fx.rs.priv.Public(), true},
		{"PS256", "k", verifier.PS256, fx.rs.priv.Public(), true},
		{"v4.public with its k4.pid", fx.pk.kid, verifier.V4Public, fx.pk.priv.Public(), true},
		{"v4.public with another id", "k", verifier.V4Public, fx.pk.priv.Public(), false},
		{"v4.public with another key's k4.pid", fx.pk.kid, verifier.V4Public, edPub, false},
		{"EdDSA with a P-256 key", "k", verifier.EdDSA, fx.es.priv.Public(), false},
		{"EdDSA with a short key", "k", verifier.EdDSA, ed25519.PublicKey(make([]byte, 31)), false},
		{"EdDSA with a private key", "k", verifier.EdDSA, fx.ed.priv, false},
		{"ES256 with a P-384 key", "k", verifier.ES256, p384.Public(), false},
		{"ES256 with an Ed25519 key", "k", verifier.ES256, edPub, false},
		{"ES256 with a point off the curve", "k", verifier.ES256, offCurve, false},
		{"ES256 with no coordinates", "k", verifier.ES256, &ecdsa.PublicKey{Curve: elliptic.P256()}, false},
		{"RS256 with a P-256 key", "k", verifier.RS256, fx.es.priv.Public(), false},
		{"RS256 with 1024 bits", "k", verifier.RS256, small, false},
		{"ES256 with a nil key", "k", verifier.ES256, (*ecdsa.PublicKey)(nil), false},
		{"RS256 with a nil key", "k", verifier.RS256, (*rsa.PublicKey)(nil), false},
		{"PS256 with no modulus", "k", verifier.PS256, &rsa.PublicKey{E: 65537}, false},
		{"HS256", "k", "HS256", []byte("secret"), false},
		{"none", "k", "none", edPub, false},
		{"no id", "", verifier.EdDSA, edPub, false},
		{"id of 128 bytes", strings.Repeat("k", 128), verifier.EdDSA, edPub, true},
		{"id of 129 bytes", strings.Repeat("k", 129), verifier.EdDSA, edPub, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := verifier.NewKey(tc.id, tc.alg, tc.pub)
			if !tc.ok {
				if k != nil {
					t.Errorf("NewKey = %v", k)
				}
				checkSentinel(t, err, verifier.ErrKeySet)
				return
			}
			if err != nil || k.ID() != tc.id || k.Algorithm() != tc.alg || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) {
				t.Fatalf("NewKey = %v, %v", k, err)
			}
		})
	}
}

func TestReadKeySetFiles(t *testing.T) {
	fx := fixedKeys()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwksPath := write("jwks.json", jwksJSON(jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())))
	paserkPath := write("paserk.json", jwksJSON(paserkEntry(fx.pk.kid, fx.pk.priv.Public().(ed25519.PublicKey))))
	if ks, err := verifier.ReadJWKSFile(jwksPath); err != nil || ks.Len() != 1 {
		t.Errorf("ReadJWKSFile = %v, %v", ks, err)
	}
	if ks, err := verifier.ReadPASERKFile(paserkPath); err != nil || ks.Len() != 1 {
		t.Errorf("ReadPASERKFile = %v, %v", ks, err)
	}
	missing := filepath.Join(dir, "missing.json")
	for name, read := range map[string]func(string) (*verifier.KeySet, error){"ReadJWKSFile": verifier.ReadJWKSFile, "ReadPASERKFile": verifier.ReadPASERKFile} {
		ks, err := read(missing)
		if ks != nil || !errors.Is(err, verifier.ErrKeySet) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s(missing) = %v, %v; want ErrKeySet and ErrNotExist", name, ks, err)
		}
		if _, err := read(dir); !errors.Is(err, verifier.ErrKeySet) {
			t.Errorf("%s(a directory) = %v", name, err)
		}
	}
	big := write("big.json", padSet(jwksJSON(jwkJSON("ed-1", verifier.EdDSA, fx.ed.priv.Public())), 2*verifier.MaxKeySetSize))
	if _, err := verifier.ReadJWKSFile(big); !errors.Is(err, verifier.ErrKeySet) {
		t.Errorf("ReadJWKSFile(2 MiB) = %v", err)
	}
	if _, err := verifier.ReadJWKSFile(paserkPath); !errors.Is(err, verifier.ErrKeySet) {
		t.Errorf("ReadJWKSFile(a PASERK set) = %v", err)
	}
}

// rocaModuli returns a 2048-bit number with the ROCA fingerprint (a power
// of 65537 modulo each small prime of Infineon's generator) and one that
// is one residue off.
func rocaModuli() (weak, near *big.Int) {
	primes := []int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
		73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}
	m := big.NewInt(1)
	for _, p := range primes {
		m.Mul(m, big.NewInt(p))
	}
	// 2048 bits, ≡ 65537 (mod M): residues up to 166 modulo the primes.
	weak = new(big.Int).Lsh(big.NewInt(1), 2047)
	weak.Sub(weak, new(big.Int).Mod(weak, m)).Add(weak, m).Add(weak, big.NewInt(65537))
	// The same, but 2 modulo 11, where 65537 ≡ 10 generates only {1, 10}.
	m11 := new(big.Int).Div(m, big.NewInt(11))
	c := new(big.Int).ModInverse(m11, big.NewInt(11)) // c·M/11 ≡ 1 (mod 11)
	c.Mul(c, big.NewInt(3))                           // 65537 + 3 ≡ 10 + 3 ≡ 2 (mod 11)
	near = new(big.Int).Add(weak, c.Mul(c, m11))
	return weak, near
}

// TestNewKeyRefusesROCA: an RSA modulus with the ROCA fingerprint is
// refused; one residue off, it is accepted. (Wycheproof's jwk/7, a real
// such key, is in TestWycheproofJOSE.)
func TestNewKeyRefusesROCA(t *testing.T) {
	weak, near := rocaModuli()
	for _, tc := range []struct {
		name string
		n    *big.Int
		ok   bool
	}{
		{"ROCA fingerprint", weak, false},
		{"one residue off", near, true},
	} {
		pub := &rsa.PublicKey{N: tc.n, E: 65537}
		_, err := verifier.NewKey("k", verifier.RS256, pub)
		if tc.ok && err != nil {
			t.Errorf("%s (%d bits): %v", tc.name, tc.n.BitLen(), err)
		}
		if !tc.ok {
			if !errors.Is(err, verifier.ErrKeySet) || !errors.Is(err, verifier.ErrKeyWeak) || !strings.Contains(err.Error(), "ROCA") {
				t.Errorf("%s: %v, want the ROCA refusal (ErrKeySet, ErrKeyWeak)", tc.name, err)
			}
		}
	}
}
