package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// Shared helpers of the verifier_test package: fixed keys, a clock, token
// builders that can produce any hostile variant, a real writ keyring and
// issuer in a temporary database, and sentinel assertions.

const (
	testIssuer   = "https://issuer.test"
	testAudience = "api"
	testJTI      = "AAECAwQFBgcICQoLDA0ODw" // 128 bits, base64url
)

// testNow is the time on every test verifier's clock.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testClock() time.Time { return testNow }

// allAlgorithms are the algorithms a verifier can accept.
var allAlgorithms = []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256, verifier.V4Public}

// sentinels are the errors of verifier/errors.go.
var sentinels = []error{
	verifier.ErrTooLarge, verifier.ErrMalformed, verifier.ErrType, verifier.ErrAlgorithm,
	verifier.ErrUnknownKey, verifier.ErrSignature, verifier.ErrExpired, verifier.ErrNotYetValid,
	verifier.ErrIssuer, verifier.ErrAudience, verifier.ErrScope, verifier.ErrPermission, verifier.ErrRevoked, verifier.ErrKeySet,
	verifier.ErrClientIP,
}

// matchedSentinels returns the sentinels that err wraps.
func matchedSentinels(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkSentinel fails unless err wraps want and no other sentinel; a nil
// want expects no error.
func checkSentinel(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if m := matchedSentinels(err); len(m) != 1 {
		t.Fatalf("error %v wraps %d sentinels %v, want only %v", err, len(m), m, want)
	}
}

// signingKey is a private key with the kid and algorithm it is published
// under.
type signingKey struct {
	kid  string
	alg  verifier.Algorithm
	priv crypto.Signer
}

// verifierKey is k's public half as a verifier key.
func (k signingKey) verifierKey() *verifier.Key {
	vk, err := verifier.NewKey(k.kid, k.alg, k.priv.Public())
	if err != nil {
		panic(err)
	}
	return vk
}

// fixture holds the test keys: one per algorithm, and the key set of all
// of them. FOR TESTS ONLY: the Ed25519 and P-256 keys come from fixed
// seeds, so that fuzz seeds are the same on every run.
type fixture struct {
	ed, es, rs, ps, pk signingKey
	// other is an Ed25519 key that is in no key set.
	other signingKey
	keys  *verifier.KeySet
}

// fixedEd25519 returns the test-only Ed25519 key made from seed byte b.
func fixedEd25519(b byte) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte{'w', 'r', 'i', 't', '-', 't', 'e', 's', 't', '-', 'o', 'n', 'l', 'y', b})
	return ed25519.NewKeyFromSeed(seed[:])
}

// fixedP256 returns the test-only P-256 key made from seed byte b.
func fixedP256(b byte) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte{'w', 'r', 'i', 't', '-', 'p', '2', '5', '6', '-', 't', 'e', 's', 't', b})
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		panic(err)
	}
	return k
}

// fixedKeys returns the keys that need no generation: Ed25519, P-256 and
// the PASETO key, with their key set.
var fixedKeys = sync.OnceValue(func() *fixture {
	pk := fixedEd25519(3)
	f := &fixture{
		ed:    signingKey{"ed-1", verifier.EdDSA, fixedEd25519(1)},
		es:    signingKey{"es-1", verifier.ES256, fixedP256(1)},
		pk:    signingKey{pasetoKID(pk.Public().(ed25519.PublicKey)), verifier.V4Public, pk},
		other: signingKey{"ed-1", verifier.EdDSA, fixedEd25519(2)},
	}
	f.keys = mustKeySet(f.ed, f.es, f.pk)
	return f
})

// testKeys adds two RSA keys, generated once per test binary, to fixedKeys.
var testKeys = sync.OnceValue(func() *fixture {
	f := *fixedKeys()
	for _, k := range []*signingKey{&f.rs, &f.ps} {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		k.priv = priv
	}
	f.rs.kid, f.rs.alg = "rs-1", verifier.RS256
	f.ps.kid, f.ps.alg = "ps-1", verifier.PS256
	f.keys = mustKeySet(f.ed, f.es, f.rs, f.ps, f.pk)
	return &f
})

// pasetoKID returns the k4.pid of pub.
func pasetoKID(pub ed25519.PublicKey) string {
	pid, err := keys.KeyID(verifier.V4Public, pub)
	if err != nil {
		panic(err)
	}
	return pid
}

func mustKeySet(ks ...signingKey) *verifier.KeySet {
	var vks []*verifier.Key
	for _, k := range ks {
		vks = append(vks, k.verifierKey())
	}
	s, err := verifier.NewKeySet(vks...)
	if err != nil {
		panic(err)
	}
	return s
}

// newVerifier returns a verifier on the test clock that accepts every
// algorithm, with the test key set; mod adjusts its Config.
func newVerifier(t testing.TB, ks verifier.KeySource, mod func(*verifier.Config)) *verifier.Verifier {
	t.Helper()
	cfg := verifier.Config{Issuer: testIssuer, Audience: testAudience, Algorithms: allAlgorithms, Keys: ks, Now: testClock}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signature signs input with priv as alg does.
func signature(priv crypto.Signer, alg verifier.Algorithm, input string) []byte {
	h := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case verifier.EdDSA, verifier.V4Public: // a PASETO key is an Ed25519 key
		sig = ed25519.Sign(priv.(ed25519.PrivateKey), []byte(input))
	case verifier.ES256:
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			panic(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case verifier.RS256:
		sig, err = rsa.SignPKCS1v15(nil, priv.(*rsa.PrivateKey), crypto.SHA256, h[:])
	case verifier.PS256:
		sig, err = rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		panic("signature: algorithm " + string(alg))
	}
	if err != nil {
		panic(err)
	}
	return sig
}

// signEncoded completes a compact JWS whose header and payload are already
// encoded, however oddly: the signature covers exactly what is given.
func (k signingKey) signEncoded(header, payload string) string {
	input := header + "." + payload
	return input + "." + b64.Encode(signature(k.priv, k.alg, input))
}

// signJWT returns a compact JWS of the JSON texts header and claims.
func (k signingKey) signJWT(header, claims string) string {
	return k.signEncoded(b64.Encode([]byte(header)), b64.Encode([]byte(claims)))
}

// header returns the JSON header {"alg","kid","typ":"at+jwt"} of k,
// changed by mod.
func (k signingKey) header(mod func(h map[string]any)) string {
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	if mod != nil {
		mod(h)
	}
	return mustJSON(h)
}

// jwt returns a token signed by k with its header and the claims of
// claimsJSON(false, cmod), the header changed by hmod.
func (k signingKey) jwt(hmod, cmod func(map[string]any)) string {
	return k.signJWT(k.header(hmod), claimsJSON(false, cmod))
}

// paseto returns a v4.public token of claims with the footer {"kid": k.kid}.
func (k signingKey) paseto(cmod func(map[string]any)) string {
	return k.signPASETO(claimsJSON(true, cmod), mustJSON(map[string]string{"kid": k.kid}))
}

// signPASETO signs message and footer as v4.public (PASETO spec, written
// again here rather than taken from internal/paseto).
func (k signingKey) signPASETO(message, footer string) string {
	const h = "v4.public."
	pae := func(pieces ...string) []byte {
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(pieces)))
		for _, p := range pieces {
			out = binary.LittleEndian.AppendUint64(out, uint64(len(p)))
			out = append(out, p...)
		}
		return out
	}
	sig := ed25519.Sign(k.priv.(ed25519.PrivateKey), pae(h, message, footer, ""))
	tok := h + b64.Encode(append([]byte(message), sig...))
	if footer != "" {
		tok += "." + b64.Encode([]byte(footer))
	}
	return tok
}

// claimsJSON returns the JSON claims of a valid token, changed by mod.
// Values that are time.Time are written as NumericDate, or as RFC 3339
// strings when rfc3339 is set (PASETO); everything else as it is.
func claimsJSON(rfc3339 bool, mod func(c map[string]any)) string {
	c := map[string]any{
		"iss": testIssuer, "sub": "alice", "aud": testAudience,
		"exp": testNow.Add(time.Hour), "iat": testNow.Add(-time.Minute), "nbf": testNow.Add(-time.Minute),
		"jti": testJTI, "scope": "read:all write", "client_id": "ci-deploy",
	}
	if mod != nil {
		mod(c)
	}
	for name, v := range c {
		if t, ok := v.(time.Time); ok {
			if rfc3339 {
				c[name] = t.UTC().Format(time.RFC3339)
			} else {
				c[name] = t.Unix()
			}
		}
	}
	return mustJSON(c)
}

// set returns a claims or header modifier that sets name to value.
func set(name string, value any) func(map[string]any) {
	return func(m map[string]any) { m[name] = value }
}

// del returns a modifier that removes names.
func del(names ...string) func(map[string]any) {
	return func(m map[string]any) {
		for _, n := range names {
			delete(m, n)
		}
	}
}

// both applies each modifier in turn.
func both(mods ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, mod := range mods {
			mod(m)
		}
	}
}

// appendMember adds raw member text (`"name":value`) at the end of a JSON
// object, for duplicates that a map cannot hold.
func appendMember(object, member string) string {
	return strings.TrimSuffix(object, "}") + "," + member + "}"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// withTrailingBits returns enc, a canonical unpadded base64url string whose
// length is not a multiple of 4, with its unused low bits set: it decodes to
// the same bytes under a lenient decoder.
func withTrailingBits(enc string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(enc)%4 == 0 {
		panic("withTrailingBits: no trailing bits in " + enc)
	}
	last := strings.IndexByte(alphabet, enc[len(enc)-1])
	return enc[:len(enc)-1] + string(alphabet[last|1])
}

// padTo returns claims JSON padded with spaces until its length modulo 3 is
// rem, so that its encoding has trailing bits (rem 1 or 2) or none (0).
func padTo(json string, rem int) string {
	for len(json)%3 != rem {
		json = strings.TrimSuffix(json, "}") + " }"
	}
	return json
}

// writEnv is writ's keyring and issuer over a temporary SQLite database,
// on the test clock.
type writEnv struct {
	db     *sqlite.DB
	ring   *keys.Ring
	issuer *issuer.Issuer
}

// newWritEnv creates a database with an active and a next key per format,
// jwtAlg for JWT.
func newWritEnv(t testing.TB, jwtAlg verifier.Algorithm) *writEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Ensure(ctx, jwtAlg); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: ring, Store: db, Now: testClock, UnsafeDatabaseNow: testClock})
	if err != nil {
		t.Fatal(err)
	}
	return &writEnv{db: db, ring: ring, issuer: iss}
}

// issue issues a token for req, with the test audience when it has none.
func (e *writEnv) issue(t testing.TB, req issuer.Request) *issuer.Token {
	t.Helper()
	if req.Audience == nil {
		req.Audience = []string{testAudience}
	}
	tok, err := e.issuer.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwks and paserkSet return the key sets as writ publishes them.
func (e *writEnv) jwks(t testing.TB) []byte {
	t.Helper()
	data, err := e.ring.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *writEnv) paserkSet(t testing.TB) []byte {
	t.Helper()
	data, err := e.ring.PASERKSet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// keySet parses both published sets, as a remote verifier would.
func (e *writEnv) keySet(t testing.TB) *verifier.KeySet {
	t.Helper()
	j, err := verifier.ParseJWKS(e.jwks(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := verifier.ParsePASERKSet(e.paserkSet(t))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verifier.MergeKeySets(j, p)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// jwkJSON returns the public JWK of k as writ publishes it (jwx, with kid,
// alg and use "sig"), as a map that tests may change.
func jwkJSON(kid string, alg verifier.Algorithm, pub crypto.PublicKey) map[string]any {
	j, err := jwk.Import(pub)
	if err != nil {
		panic(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: string(alg), jwk.KeyUsageKey: "sig"} {
		if err := j.Set(name, v); err != nil {
			panic(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(mustJSON(j)), &m); err != nil {
		panic(err)
	}
	return m
}

// jwksJSON encodes keys as {"keys":[…]}.
func jwksJSON(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	return []byte(mustJSON(map[string]any{"keys": keys}))
}

// paserkEntry is one key of a PASERK set.
func paserkEntry(kid string, pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kid": kid, "paserk": "k4.public." + b64.Encode(pub)}
}

// fakeChecker is a RevocationChecker that answers err and counts its calls.
type fakeChecker struct {
	err   error
	calls atomic.Int32
}

func (c *fakeChecker) CheckRevocation(context.Context, *verifier.Claims) error {
	c.calls.Add(1)
	return c.err
}

// countingKeys is a KeySource that counts lookups.
type countingKeys struct {
	verifier.KeySource
	lookups atomic.Int32
}

func (c *countingKeys) LookupKey(ctx context.Context, kid string) (*verifier.Key, error) {
	c.lookups.Add(1)
	return c.KeySource.LookupKey(ctx, kid)
}

// checkMessage fails if err's message spans lines or quotes token or any
// long part of it.
func checkMessage(t testing.TB, err error, token string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error message spans lines: %q", msg)
	}
	if len(token) >= 16 && strings.Contains(msg, token) {
		t.Errorf("error message contains the token: %q", msg)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 24 && strings.Contains(msg, part) {
			t.Errorf("error message contains a part of the token (%q): %q", part, msg)
		}
	}
}
