package accesstoken_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	paseto "aidanwoods.dev/go-paseto"
	"github.com/golang-jwt/jwt/v5"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// jsonClaims is how the issuer wrote claims with encoding/json before this
// package: AppendJWTClaims and AppendPASETOClaims must write the same bytes.
type jsonClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      any    `json:"aud"` // a string for one audience, else an array
	Exp      any    `json:"exp"`
	Iat      any    `json:"iat"`
	Nbf      any    `json:"nbf"`
	Jti      string `json:"jti"`
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id"`
	// AllowedIPs is left out when empty.
	AllowedIPs []string `json:"allowed_ips,omitempty"`
}

func marshalClaims(t *testing.T, c *accesstoken.Claims, rfc3339 bool) string {
	t.Helper()
	date := func(d time.Time) any {
		if rfc3339 {
			return d.UTC().Format(time.RFC3339)
		}
		return d.Unix()
	}
	var aud any = c.Audience
	if len(c.Audience) == 1 {
		aud = c.Audience[0]
	}
	b, err := json.Marshal(jsonClaims{
		Iss: c.Issuer, Sub: c.Subject, Aud: aud,
		Exp: date(c.ExpiresAt), Iat: date(c.IssuedAt), Nbf: date(c.IssuedAt),
		Jti: c.ID, Scope: c.Scope, ClientID: c.ClientID, AllowedIPs: c.AllowedIPs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClaimsMatchEncodingJSON(t *testing.T) {
	iat := time.Date(2026, 3, 1, 12, 30, 5, 0, time.UTC)
	east := time.FixedZone("UTC+5", 5*3600)
	base := accesstoken.Claims{
		Issuer: "https://writ.example", Subject: "user-42", Audience: []string{"https://api.example"},
		Scope: "read:items write:items", ClientID: "ci-deploy", ID: "3q2-7wAAAAAAAAAAAAAAAA",
		IssuedAt: iat, ExpiresAt: iat.Add(time.Hour),
	}
	for _, tc := range []struct {
		name   string
		modify func(c *accesstoken.Claims)
	}{
		{"plain", func(*accesstoken.Claims) {}},
		{"quotes and backslashes", func(c *accesstoken.Claims) { c.Subject, c.ClientID = `a"b\c`, `\"\\"` }},
		{"unicode", func(c *accesstoken.Claims) { c.Subject, c.ClientID = "éàü 日本語 😀", "\u2028\u2029\ufffd" }},
		{"HTML characters", func(c *accesstoken.Claims) { c.Issuer = "https://writ.example/?a=1&b=<2>" }},
		{"control characters", func(c *accesstoken.Claims) { c.Subject = "a\x00b\x01\b\f\n\r\t\x1f\x7f" }},
		{"invalid UTF-8", func(c *accesstoken.Claims) { c.Subject = "a\xffb\xed\xa0\x80" }},
		{"two audiences", func(c *accesstoken.Claims) { c.Audience = []string{"https://api.example", "other"} }},
		{"many audiences", func(c *accesstoken.Claims) { c.Audience = []string{"a", `"b"`, "c\\", "é"} }},
		{"empty scope", func(c *accesstoken.Claims) { c.Scope = "" }},
		{"one scope", func(c *accesstoken.Claims) { c.Scope = "writ:admin" }},
		{"allowed IPs", func(c *accesstoken.Claims) { c.AllowedIPs = []string{"10.0.0.0/8", "2001:db8::/32"} }},
		{"empty strings", func(c *accesstoken.Claims) { c.Issuer, c.Subject, c.ClientID, c.ID = "", "", "", "" }},
		{"times in another zone", func(c *accesstoken.Claims) {
			c.IssuedAt, c.ExpiresAt = c.IssuedAt.In(east), c.ExpiresAt.In(east)
		}},
		{"times at the epoch and far ahead", func(c *accesstoken.Claims) {
			c.IssuedAt, c.ExpiresAt = time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		}},
		{"times before the epoch", func(c *accesstoken.Claims) { c.IssuedAt = time.Unix(-86401, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Audience = slices.Clone(base.Audience)
			tc.modify(&c)
			if got, want := string(accesstoken.AppendJWTClaims([]byte("x"), &c)), "x"+marshalClaims(t, &c, false); got != want {
				t.Errorf("AppendJWTClaims:\ngot  %s\nwant %s", got, want)
			}
			if got, want := string(accesstoken.AppendPASETOClaims(nil, &c)), marshalClaims(t, &c, true); got != want {
				t.Errorf("AppendPASETOClaims:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

const (
	iss = "https://writ.example"
	aud = "https://api.example"
)

// tokenClaims are claims that an encoder could get wrong: characters to
// escape, two audiences (JWT), text beyond ASCII.
func tokenClaims(auds ...string) *accesstoken.Claims {
	now := time.Now().Truncate(time.Second)
	var id [16]byte
	rand.Read(id[:])
	return &accesstoken.Claims{
		Issuer: iss, Subject: `user "42" <ops> \ é`, Audience: auds,
		Scope: "read:items write:items", ClientID: "deploy ✓ & co", ID: b64.Encode(id[:]),
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

func newVerifier(t *testing.T, kid string, alg verifier.Algorithm, pub crypto.PublicKey) *verifier.Verifier {
	t.Helper()
	k, err := verifier.NewKey(kid, alg, pub)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verifier.NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: iss, Audience: aud, Algorithms: []verifier.Algorithm{alg}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkWritVerifies verifies token with writ's verifier and compares its
// claims with c.
func checkWritVerifies(t *testing.T, v *verifier.Verifier, token string, c *accesstoken.Claims) {
	t.Helper()
	got, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("writ verifier: %v", err)
	}
	if got.Issuer != c.Issuer || got.Subject != c.Subject || !slices.Equal(got.Audience, c.Audience) ||
		got.Scope != c.Scope || got.ClientID != c.ClientID || got.ID != c.ID ||
		!got.IssuedAt.Equal(c.IssuedAt) || !got.NotBefore.Equal(c.IssuedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("writ verifier read %+v, want %+v", got, c)
	}
}

// jwtKeys returns a fresh key of each JWS algorithm, as writ generates them.
func jwtKeys(t *testing.T) map[verifier.Algorithm]crypto.Signer {
	t.Helper()
	ks := map[verifier.Algorithm]crypto.Signer{}
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256} {
		k, err := keys.Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		ks[alg] = k.Signer()
	}
	return ks
}

// gjwtClaims are the token's claims for golang-jwt.
type gjwtClaims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

func TestSignJWT(t *testing.T) {
	for alg, key := range jwtKeys(t) {
		t.Run(string(alg), func(t *testing.T) {
			const kid = "key-1"
			c := tokenClaims(aud, "https://other.example")
			payload := accesstoken.AppendJWTClaims(nil, c)
			token, err := accesstoken.SignJWT(alg, kid, accesstoken.Typ, key, payload)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(token, ".")
			if len(parts) != 3 {
				t.Fatalf("token %q", token)
			}
			h, err := b64.Decode(parts[0])
			if want := `{"alg":"` + string(alg) + `","kid":"key-1","typ":"at+jwt"}`; err != nil || string(h) != want {
				t.Errorf("header %s, %v; want %s", h, err, want)
			}
			if p, err := b64.Decode(parts[1]); err != nil || string(p) != string(payload) {
				t.Errorf("payload %s, %v; want %s", p, err, payload)
			}

			checkWritVerifies(t, newVerifier(t, kid, alg, key.Public()), token, c)

			p := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)}), jwt.WithIssuer(iss), jwt.WithAudience(aud),
				jwt.WithExpirationRequired(), jwt.WithIssuedAt())
			var got gjwtClaims
			tk, err := p.ParseWithClaims(token, &got, func(tk *jwt.Token) (any, error) { return key.Public(), nil })
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if tk.Header["kid"] != kid || tk.Header["typ"] != accesstoken.Typ {
				t.Errorf("golang-jwt read header %v", tk.Header)
			}
			r := got.RegisteredClaims
			if r.Issuer != c.Issuer || r.Subject != c.Subject || !slices.Equal(r.Audience, c.Audience) || r.ID != c.ID ||
				!r.IssuedAt.Equal(c.IssuedAt) || !r.NotBefore.Equal(c.IssuedAt) || !r.ExpiresAt.Equal(c.ExpiresAt) ||
				got.Scope != c.Scope || got.ClientID != c.ClientID {
				t.Errorf("golang-jwt read %+v, want %+v", got, c)
			}
		})
	}
}

// TestSignJWTDocument signs a payload other than claims under another typ,
// as the issuer signs the revocation feed.
func TestSignJWTDocument(t *testing.T) {
	for alg, key := range jwtKeys(t) {
		t.Run(string(alg), func(t *testing.T) {
			payload := []byte(`{"seq":7,"tokens":[]}`)
			token, err := accesstoken.SignJWT(alg, `k"1`, "revocations+jwt", key, payload)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := b64.Decode(token[:strings.IndexByte(token, '.')])
			if want := `{"alg":"` + string(alg) + `","kid":"k\"1","typ":"revocations+jwt"}`; string(h) != want {
				t.Errorf("header %s, want %s", h, want)
			}
			tk, err := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)})).Parse(token, func(*jwt.Token) (any, error) { return key.Public(), nil })
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if c := tk.Claims.(jwt.MapClaims); c["seq"] != 7.0 {
				t.Errorf("golang-jwt read %v", c)
			}
		})
	}
}

func TestSignJWTRefuses(t *testing.T) {
	ks := jwtKeys(t)
	for _, tc := range []struct {
		name string
		alg  verifier.Algorithm
		key  crypto.Signer
	}{
		{"none", "none", ks[verifier.EdDSA]},
		{"HS256", "HS256", ks[verifier.RS256]},
		{"EdDSA with an RSA key", verifier.EdDSA, ks[verifier.RS256]},
		{"ES256 with an Ed25519 key", verifier.ES256, ks[verifier.EdDSA]},
		{"RS256 with an ECDSA key", verifier.RS256, ks[verifier.ES256]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := accesstoken.SignJWT(tc.alg, "k", accesstoken.Typ, tc.key, []byte(`{}`)); err == nil {
				t.Errorf("SignJWT = %q, want an error", tok)
			}
		})
	}
}

func TestSignPASETO(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := paserk.ID(pub)
	c := tokenClaims(aud) // PASETO registers aud as one string
	token := accesstoken.SignPASETO(priv, kid, c)

	checkWritVerifies(t, newVerifier(t, kid, verifier.V4Public, pub), token, c)

	pk, err := paseto.NewV4AsymmetricPublicKeyFromEd25519(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := paseto.NewParser() // checks exp, nbf and iat
	p.AddRule(paseto.IssuedBy(iss), paseto.ForAudience(aud))
	got, err := p.ParseV4Public(pk, token, nil)
	if err != nil {
		t.Fatalf("go-paseto: %v", err)
	}
	if want := `{"kid":"` + kid + `"}`; string(got.Footer()) != want {
		t.Errorf("footer %s, want %s", got.Footer(), want)
	}
	for name, want := range map[string]string{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience[0], "jti": c.ID, "scope": c.Scope, "client_id": c.ClientID,
		"exp": c.ExpiresAt.UTC().Format(time.RFC3339), "iat": c.IssuedAt.UTC().Format(time.RFC3339), "nbf": c.IssuedAt.UTC().Format(time.RFC3339),
	} {
		if s, err := got.GetString(name); err != nil || s != want {
			t.Errorf("go-paseto read %s = %q, %v; want %q", name, s, err, want)
		}
	}
}

// TestAllocations holds the package to its promise: the token string is
// the one allocation of an Ed25519 token.
func TestAllocations(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := tokenClaims(aud)
	var key crypto.Signer = priv // as keys.Key.Signer returns it: boxed once
	jwtAllocs := testing.AllocsPerRun(100, func() {
		var buf [1024]byte
		if _, err := accesstoken.SignJWT(verifier.EdDSA, "k", accesstoken.Typ, key, accesstoken.AppendJWTClaims(buf[:0], c)); err != nil {
			t.Fatal(err)
		}
	})
	pasetoAllocs := testing.AllocsPerRun(100, func() { accesstoken.SignPASETO(priv, "k4.pid.x", c) })
	if jwtAllocs != 1 || pasetoAllocs != 1 {
		t.Errorf("allocations per token: JWT %v, PASETO %v; want 1", jwtAllocs, pasetoAllocs)
	}
}
