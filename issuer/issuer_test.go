package issuer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"
	"github.com/golang-jwt/jwt/v5"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

func TestNew(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	for _, tc := range []struct {
		name string
		mod  func(*issuer.Config)
		ok   bool
	}{
		{"complete", nil, true},
		{"no Issuer", func(c *issuer.Config) { c.Issuer = "" }, false},
		{"no Keys", func(c *issuer.Config) { c.Keys = nil }, false},
		{"no Store", func(c *issuer.Config) { c.Store = nil }, false},
		{"negative DefaultTTL", func(c *issuer.Config) { c.DefaultTTL = -time.Second }, false},
		{"negative MaxTTL", func(c *issuer.Config) { c.MaxTTL = -time.Second }, false},
		{"DefaultTTL above MaxTTL", func(c *issuer.Config) { c.DefaultTTL, c.MaxTTL = 2*time.Hour, time.Hour }, false},
		{"DefaultTTL above the default MaxTTL", func(c *issuer.Config) { c.DefaultTTL = issuer.DefaultMaxTTL + 1 }, false},
		{"MaxTTL below the default DefaultTTL", func(c *issuer.Config) { c.MaxTTL = time.Minute }, false},
		{"both set", func(c *issuer.Config) { c.DefaultTTL, c.MaxTTL = time.Minute, time.Hour }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := issuer.Config{Issuer: testIssuer, Keys: e.ring, Store: e.db}
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			i, err := issuer.New(cfg)
			if tc.ok != (err == nil) || (i == nil) == (err == nil) {
				t.Fatalf("New = %v, %v; want ok = %v", i, err, tc.ok)
			}
		})
	}
}

func TestIssueValidatesRequests(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.MaxTTL = 24 * time.Hour })
	long := strings.Repeat("x", 257)
	many := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = prefix + strings.Repeat("a", i+1)
		}
		return out
	}
	valid := issuer.Request{Subject: "alice", Audience: []string{testAudience}}
	for _, tc := range []struct {
		name string
		mod  func(*issuer.Request)
	}{
		{"no subject", func(r *issuer.Request) { r.Subject = "" }},
		{"subject too long", func(r *issuer.Request) { r.Subject = long }},
		{"subject with a newline", func(r *issuer.Request) { r.Subject = "alice\nadmin" }},
		{"subject with NUL", func(r *issuer.Request) { r.Subject = "alice\x00" }},
		{"subject of invalid UTF-8", func(r *issuer.Request) { r.Subject = "al\xffice" }},
		{"name with a control character", func(r *issuer.Request) { r.Name = "ci\x1b[31m" }},
		{"name too long", func(r *issuer.Request) { r.Name = long }},
		{"name ending in a space", func(r *issuer.Request) { r.Name = "ci " }},
		{"subject beginning with a space", func(r *issuer.Request) { r.Subject = " alice" }},
		{"subject ending in a no-break space", func(r *issuer.Request) { r.Subject = "alice\u00a0" }},
		{"no audience", func(r *issuer.Request) { r.Audience = nil }},
		{"empty audience list", func(r *issuer.Request) { r.Audience = []string{} }},
		{"empty audience", func(r *issuer.Request) { r.Audience = []string{""} }},
		{"audience with a space", func(r *issuer.Request) { r.Audience = []string{"api other"} }},
		{"17 audiences", func(r *issuer.Request) { r.Audience = many(17, "aud-") }},
		{"PASETO with two audiences", func(r *issuer.Request) { r.Format, r.Audience = keys.PASETO, []string{"a", "b"} }},
		{"scope with a space", func(r *issuer.Request) { r.Scopes = []string{"read write"} }},
		{"scope with a quote", func(r *issuer.Request) { r.Scopes = []string{`read"`} }},
		{"scope with a backslash", func(r *issuer.Request) { r.Scopes = []string{`read\`} }},
		{"scope with a tab", func(r *issuer.Request) { r.Scopes = []string{"read\t"} }},
		{"scope with DEL", func(r *issuer.Request) { r.Scopes = []string{"read\x7f"} }},
		{"scope not ASCII", func(r *issuer.Request) { r.Scopes = []string{"lire:données"} }},
		{"empty scope", func(r *issuer.Request) { r.Scopes = []string{"read", ""} }},
		{"scope too long", func(r *issuer.Request) { r.Scopes = []string{long} }},
		{"65 scopes", func(r *issuer.Request) { r.Scopes = many(65, "s") }},
		{"TTL above MaxTTL", func(r *issuer.Request) { r.TTL = 24*time.Hour + time.Second }},
		{"TTL negative", func(r *issuer.Request) { r.TTL = -time.Hour }},
		{"TTL under a second", func(r *issuer.Request) { r.TTL = 999 * time.Millisecond }},
		{"unknown format", func(r *issuer.Request) { r.Format = "jwe" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := valid
			tc.mod(&req)
			tok, err := e.issuer.Issue(context.Background(), req)
			if tok != nil || !errors.Is(err, issuer.ErrRequest) {
				t.Fatalf("Issue = %v, %v; want ErrRequest", tok, err)
			}
			if strings.ContainsAny(err.Error(), "\n\x00\x1b") {
				t.Errorf("error message carries raw input: %q", err)
			}
		})
	}
	recs, err := e.issuer.List(context.Background(), issuer.Filter{})
	if err != nil || len(recs) != 0 {
		t.Errorf("refused requests left %d records (%v)", len(recs), err)
	}
}

// TestIssueRefusesTextNotPlain: every free-text field of a request refuses
// what could hide, reorder or forge what a reader of it sees.
func TestIssueRefusesTextNotPlain(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	valid := issuer.Request{Subject: "alice", Audience: []string{testAudience}, Name: "ci", IssuedBy: "cli:ops"}
	for _, tc := range []struct {
		name string
		mod  func(*issuer.Request)
	}{
		{"subject with a right-to-left override", func(r *issuer.Request) { r.Subject = "alice\u202Enimda" }},
		{"subject with a zero width space", func(r *issuer.Request) { r.Subject = "ad\u200Bmin" }},
		{"subject with a line separator", func(r *issuer.Request) { r.Subject = "alice\u2028admin" }},
		{"subject with a C1 control", func(r *issuer.Request) { r.Subject = "alice\u009b31m" }},
		{"name with a byte order mark", func(r *issuer.Request) { r.Name = "\uFEFFci" }},
		{"name with a paragraph separator", func(r *issuer.Request) { r.Name = "ci\u2029" }},
		{"audience with an isolate", func(r *issuer.Request) { r.Audience = []string{"api\u2066"} }},
		{"actor with a newline", func(r *issuer.Request) { r.IssuedBy = "cli:ops\n2026-03-01 admin revoked everything" }},
		{"actor with ESC", func(r *issuer.Request) { r.IssuedBy = "cli:\x1b[2Jops" }},
		{"actor too long", func(r *issuer.Request) { r.IssuedBy = strings.Repeat("a", audit.MaxActor+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := valid
			tc.mod(&req)
			tok, err := e.issuer.Issue(context.Background(), req)
			if tok != nil || !errors.Is(err, issuer.ErrRequest) || !errors.Is(err, text.ErrNotPlain) {
				t.Fatalf("Issue = %v, %v; want ErrRequest and text.ErrNotPlain", tok, err)
			}
		})
	}
	recs, err := e.issuer.List(context.Background(), issuer.Filter{})
	if err != nil || len(recs) != 0 {
		t.Errorf("refused requests left %d records (%v)", len(recs), err)
	}
}

func TestIssueLifetimes(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.DefaultTTL, c.MaxTTL = 10*time.Minute, 24*time.Hour })
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{0, 10 * time.Minute}, // the issuer's default
		{time.Second, time.Second},
		{24 * time.Hour, 24 * time.Hour}, // the maximum itself
	} {
		tok := e.issue(t, issuer.Request{Subject: "alice", TTL: tc.ttl})
		if !tok.IssuedAt.Equal(testNow) || tok.ExpiresAt.Sub(tok.IssuedAt) != tc.want {
			t.Errorf("TTL %v: issued %v, expires %v; want a lifetime of %v", tc.ttl, tok.IssuedAt, tok.ExpiresAt, tc.want)
		}
	}
	if e.issuer.MaxTTL() != 24*time.Hour {
		t.Errorf("MaxTTL = %v", e.issuer.MaxTTL())
	}
	d := newEnv(t, verifier.EdDSA, nil)
	if tok := d.issue(t, issuer.Request{Subject: "alice"}); tok.ExpiresAt.Sub(tok.IssuedAt) != issuer.DefaultTTL {
		t.Errorf("default lifetime %v, want %v", tok.ExpiresAt.Sub(tok.IssuedAt), issuer.DefaultTTL)
	}
}

// TestIssueExpires: an expiry time instead of a lifetime, to the second;
// one in the past, beyond the maximum, or beside a lifetime is refused.
func TestIssueExpires(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.MaxTTL = 24 * time.Hour })
	at := testNow.Add(90*time.Minute + 500*time.Millisecond)
	tok := e.issue(t, issuer.Request{Subject: "alice", Expires: at})
	if !tok.ExpiresAt.Equal(testNow.Add(90 * time.Minute)) {
		t.Errorf("expires %v, want %v", tok.ExpiresAt, testNow.Add(90*time.Minute))
	}
	for _, r := range []issuer.Request{
		{Subject: "alice", Audience: []string{testAudience}, Expires: testNow},
		{Subject: "alice", Audience: []string{testAudience}, Expires: testNow.Add(-time.Hour)},
		{Subject: "alice", Audience: []string{testAudience}, Expires: testNow.Add(25 * time.Hour)},
		{Subject: "alice", Audience: []string{testAudience}, Expires: testNow.Add(time.Hour), TTL: time.Hour},
	} {
		if _, err := e.issuer.Issue(context.Background(), r); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("expires %v, ttl %v: %v, want ErrRequest", r.Expires, r.TTL, err)
		}
	}
}

// checkJTI checks a jti: 128 random bits as 22 base64url characters.
func checkJTI(t *testing.T, jti any) {
	t.Helper()
	s, _ := jti.(string)
	raw, err := b64.Decode(s)
	if len(s) != 22 || err != nil || len(raw) != 16 {
		t.Errorf("jti %v is not 128 bits of base64url", jti)
	}
}

func sortedKeys(m map[string]any) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestJWTProfile(t *testing.T) {
	e := newEnv(t, verifier.ES256, nil)
	active, err := e.ring.Signer(context.Background(), keys.JWT)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"read:all", "write", "read:all"}, Name: "ci-deploy", TTL: 2 * time.Hour})
	h, c := jwtParts(t, tok.Token)
	if want := map[string]any{"alg": "ES256", "kid": active.ID(), "typ": "at+jwt"}; !equalJSON(h, want) {
		t.Errorf("header %v, want %v", h, want)
	}
	if got := sortedKeys(c); !slices.Equal(got, []string{"aud", "client_id", "exp", "iat", "iss", "jti", "nbf", "scope", "sub"}) {
		t.Errorf("claims %v", got)
	}
	for name, want := range map[string]int64{"exp": testNow.Add(2 * time.Hour).Unix(), "iat": testNow.Unix(), "nbf": testNow.Unix()} {
		n, ok := c[name].(json.Number)
		if got, err := n.Int64(); !ok || err != nil || got != want {
			t.Errorf("%s = %#v, want the NumericDate %d", name, c[name], want)
		}
	}
	if c["iss"] != testIssuer || c["sub"] != "alice" || c["aud"] != testAudience || c["client_id"] != "ci-deploy" || c["scope"] != "read:all write" || c["jti"] != tok.ID {
		t.Errorf("claims %v", c)
	}
	checkJTI(t, c["jti"])
	if tok.Format != keys.JWT || tok.KeyID != active.ID() || !tok.IssuedAt.Equal(testNow) || !tok.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
		t.Errorf("token %+v", tok)
	}

	// Two audiences are an array; no scopes, no scope claim; the name
	// defaults to the subject.
	_, c = jwtParts(t, e.issue(t, issuer.Request{Subject: "bob", Audience: []string{"a", "b"}}).Token)
	if aud, _ := c["aud"].([]any); len(aud) != 2 || aud[0] != "a" || aud[1] != "b" {
		t.Errorf("aud %v, want [a b]", c["aud"])
	}
	if _, ok := c["scope"]; ok || c["client_id"] != "bob" {
		t.Errorf("claims %v: want no scope and client_id bob", c)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestPASETOProfile(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	active, err := e.ring.Signer(context.Background(), keys.PASETO)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"read"}, Format: keys.PASETO, TTL: 90 * time.Minute})
	c, f := pasetoParts(t, tok.Token)
	if got := sortedKeys(c); !slices.Equal(got, []string{"aud", "client_id", "exp", "iat", "iss", "jti", "nbf", "scope", "sub"}) {
		t.Errorf("claims %v", got)
	}
	for name, want := range map[string]time.Time{"exp": testNow.Add(90 * time.Minute), "iat": testNow, "nbf": testNow} {
		s, _ := c[name].(string)
		got, err := time.Parse(time.RFC3339, s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s = %#v, want the RFC 3339 time %v", name, c[name], want)
		}
	}
	if c["iss"] != testIssuer || c["sub"] != "alice" || c["aud"] != testAudience || c["scope"] != "read" || c["jti"] != tok.ID {
		t.Errorf("claims %v", c)
	}
	checkJTI(t, c["jti"])
	if len(f) != 1 || f["kid"] != active.ID() || !strings.HasPrefix(active.ID(), "k4.pid.") || tok.KeyID != active.ID() {
		t.Errorf("footer %v, want {kid: %s}", f, active.ID())
	}
}

func TestJTIsDiffer(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	seen := map[string]bool{}
	for range 50 {
		tok := e.issue(t, issuer.Request{Subject: "alice"})
		if seen[tok.ID] {
			t.Fatalf("jti %s issued twice", tok.ID)
		}
		seen[tok.ID] = true
	}
}

// TestIssuanceRecorded checks that every token is recorded, and that the
// token itself is stored nowhere in the database files.
func TestIssuanceRecorded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	var toks []*issuer.Token
	for _, req := range []issuer.Request{
		{Subject: "alice", Name: "deploy", Scopes: []string{"deploy"}, IssuedBy: "admin"},
		{Subject: "alice", Name: "read", Scopes: []string{"read", "list"}, Format: keys.PASETO},
		{Subject: "bob", Audience: []string{"a", "b"}, TTL: 5 * time.Minute},
	} {
		toks = append(toks, e.issue(t, req))
	}
	alice, err := e.issuer.List(ctx, issuer.Filter{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(alice) != 2 || alice[0].ID != toks[1].ID || alice[1].ID != toks[0].ID {
		t.Fatalf("List(alice) = %+v, want tokens 1 and 0, newest first", alice)
	}
	r := alice[0]
	if r.Format != keys.PASETO || r.KeyID != toks[1].KeyID || r.Subject != "alice" || r.Name != "read" ||
		!slices.Equal(r.Scopes, []string{"read", "list"}) || !slices.Equal(r.Audience, []string{testAudience}) ||
		!r.IssuedAt.Equal(testNow) || !r.ExpiresAt.Equal(toks[1].ExpiresAt) || r.IssuedBy != "unknown" {
		t.Errorf("record %+v", r)
	}
	if alice[1].IssuedBy != "admin" {
		t.Errorf("issued_by %q, want admin", alice[1].IssuedBy)
	}
	byName, err := e.issuer.List(ctx, issuer.Filter{Subject: "alice", Name: "deploy"})
	if err != nil || len(byName) != 1 || byName[0].ID != toks[0].ID {
		t.Errorf("List(alice, deploy) = %+v, %v", byName, err)
	}
	bob, err := e.issuer.Get(ctx, toks[2].ID)
	if err != nil || bob.Name != "bob" || !slices.Equal(bob.Audience, []string{"a", "b"}) || len(bob.Scopes) != 0 {
		t.Errorf("Get(bob's token) = %+v, %v", bob, err)
	}
	if all, err := e.issuer.List(ctx, issuer.Filter{}); err != nil || len(all) != 3 {
		t.Errorf("List() = %d records, %v", len(all), err)
	}
	if _, err := e.issuer.Get(ctx, "nope"); !errors.Is(err, issuer.ErrUnknownToken) {
		t.Errorf("Get(unknown) = %v, want ErrUnknownToken", err)
	}
	if audits := sqlitetest.Count(t, e.db, "audit", sqlitetest.Where{"action": audit.Issue}); audits != 3 {
		t.Errorf("%d issue events in the audit log", audits)
	}

	// The token strings are nowhere in the database: not whole, not their
	// signature, not their signature's bytes.
	sqlitetest.Checkpoint(t, e.db, "PASSIVE")
	files := e.dbFiles(t)
	for _, tok := range toks {
		last := tok.Token[strings.LastIndexByte(tok.Token, '.')+1:]
		if strings.HasPrefix(tok.Token, "v4.public.") {
			last = strings.Split(tok.Token, ".")[2] // the body: message and signature
		}
		raw, err := b64.Decode(last)
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range [][]byte{[]byte(tok.Token), []byte(last), raw[len(raw)-64:]} {
			if bytes.Contains(files, needle) {
				t.Errorf("the database holds token %s (%d bytes of it)", tok.ID, len(needle))
			}
		}
	}
}

func TestIssueWithoutActiveKey(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	// A keyring that lost its active PASETO key, made by hand.
	if n := sqlitetest.Delete(t, e.db, "keys", sqlitetest.Where{"format": "paseto", "state": "active"}); n != 1 {
		t.Fatalf("%d active PASETO keys deleted", n)
	}
	tok, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: "alice", Audience: []string{testAudience}, Format: keys.PASETO})
	if tok != nil || !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("Issue without an active key = %v, %v", tok, err)
	}
}

// TestGolangJWTVerifies has golang-jwt, a third-party verifier, check
// writ's JWTs for each algorithm with the strict options a gateway would use.
func TestGolangJWTVerifies(t *testing.T) {
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, alg, nil)
			// Bound to networks: golang-jwt ignores allowed_ips.
			tok := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{"other", testAudience}, Scopes: []string{"read"},
				AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}})
			p := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)}), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience),
				jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithStrictDecoding(), jwt.WithTimeFunc(clock))
			var claims jwt.RegisteredClaims
			parsed, err := p.ParseWithClaims(tok.Token, &claims, func(tk *jwt.Token) (any, error) {
				if tk.Header["typ"] != "at+jwt" {
					return nil, errors.New("not an access token")
				}
				kid, _ := tk.Header["kid"].(string)
				return e.publicKey(t, kid), nil
			})
			if err != nil || !parsed.Valid {
				t.Fatalf("golang-jwt: %v", err)
			}
			if payload, err := b64.Decode(strings.Split(tok.Token, ".")[1]); err != nil || !bytes.Contains(payload, []byte(`"allowed_ips":["10.0.0.0/8","2001:db8::/32"]`)) {
				t.Errorf("the token golang-jwt accepted has no allowed_ips: %s, %v", payload, err)
			}
			if claims.Subject != "alice" || claims.ID != tok.ID || !claims.ExpiresAt.Equal(tok.ExpiresAt) {
				t.Errorf("golang-jwt read %+v", claims)
			}
			// And golang-jwt refuses it for another audience or method.
			if _, err := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)}), jwt.WithAudience("elsewhere"), jwt.WithTimeFunc(clock)).
				Parse(tok.Token, func(*jwt.Token) (any, error) { return e.publicKey(t, tok.KeyID), nil }); err == nil {
				t.Error("golang-jwt accepted the token for another audience")
			}
			if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(clock)).
				Parse(tok.Token, func(*jwt.Token) (any, error) { return e.publicKey(t, tok.KeyID), nil }); err == nil {
				t.Error("golang-jwt accepted the token under another method")
			}
		})
	}
}

// TestGoPASETOVerifies has go-paseto check writ's PASETO tokens.
func TestGoPASETOVerifies(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	tok := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"read", "write"}, Format: keys.PASETO, Name: "ci"})
	pub, err := paseto.NewV4AsymmetricPublicKeyFromEd25519(e.publicKey(t, tok.KeyID).(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	p := paseto.MakeParser([]paseto.Rule{
		paseto.ValidAt(testNow.Add(time.Minute)), paseto.IssuedBy(testIssuer), paseto.ForAudience(testAudience),
		paseto.Subject("alice"), paseto.IdentifiedBy(tok.ID),
	})
	parsed, err := p.ParseV4Public(pub, tok.Token, nil)
	if err != nil {
		t.Fatalf("go-paseto: %v", err)
	}
	var footer struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(parsed.Footer(), &footer); err != nil || footer.Kid != tok.KeyID {
		t.Errorf("footer %s, want kid %s", parsed.Footer(), tok.KeyID)
	}
	if scope, err := parsed.GetString("scope"); err != nil || scope != "read write" {
		t.Errorf("scope %q, %v", scope, err)
	}
	if exp, err := parsed.GetExpiration(); err != nil || !exp.Equal(tok.ExpiresAt) {
		t.Errorf("exp %v, %v", exp, err)
	}
	// Expired by go-paseto's reading of exp too.
	if _, err := paseto.MakeParser([]paseto.Rule{paseto.ValidAt(tok.ExpiresAt.Add(time.Second))}).ParseV4Public(pub, tok.Token, nil); err == nil {
		t.Error("go-paseto accepted the token after its exp")
	}
}

// TestIssuedTokensVerify closes the loop with writ's own verifier.
func TestIssuedTokensVerify(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	v := e.verifier(t)
	for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
		tok := e.issue(t, issuer.Request{Subject: "alice", Format: f, Scopes: []string{"a:b"}})
		c, err := v.Verify(context.Background(), tok.Token)
		if err != nil || c.ID != tok.ID || !c.HasScope("a:b") {
			t.Errorf("%s: Verify = %+v, %v", f, c, err)
		}
	}
}

// TestIssueRefusesTokensTooLarge: a request within every field limit whose
// token would exceed the verifiers' limit is refused, for both formats, and
// leaves no record; one just under the limit issues and verifies.
func TestIssueRefusesTokensTooLarge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	v := e.verifier(t)
	longest := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%03d", prefix, i) + strings.Repeat("x", 256-len(prefix)-3)
		}
		return out
	}
	countRecords := func() (tokens, events int) {
		t.Helper()
		return sqlitetest.Count(t, e.db, "tokens", nil), sqlitetest.Count(t, e.db, "audit", nil)
	}
	for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
		t.Run(string(f), func(t *testing.T) {
			auds := append([]string{testAudience}, longest(15, "aud")...)
			if f == keys.PASETO {
				auds = auds[:1]
			}
			biggest := issuer.Request{Subject: strings.Repeat("s", 256), Name: strings.Repeat("n", 256),
				Audience: auds, Scopes: longest(64, "scope"), Format: f}
			tokens, events := countRecords()
			tok, err := e.issuer.Issue(ctx, biggest)
			if tok != nil || !errors.Is(err, issuer.ErrTooLarge) || !errors.Is(err, issuer.ErrRequest) {
				t.Fatalf("Issue of the largest request: %v; want ErrTooLarge and ErrRequest, no token", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(verifier.MaxTokenSize)) {
				t.Errorf("error %q does not name the limit", err)
			}
			// The most scopes that fit: the token just under the limit.
			var last *issuer.Token
			issued := 0
			req := biggest
			for n := range 65 {
				req.Scopes = biggest.Scopes[:n]
				req.Name = fmt.Sprintf("%s%03d", f, n) + biggest.Name[len(f)+3:] // names are unique among live tokens
				tok, err := e.issuer.Issue(ctx, req)
				if errors.Is(err, issuer.ErrTooLarge) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				last = tok
				issued++
			}
			if last == nil || len(last.Token) > verifier.MaxTokenSize || len(last.Token) < verifier.MaxTokenSize-400 {
				t.Fatalf("no token issued just under the limit")
			}
			if c, err := v.Verify(ctx, last.Token); err != nil || c.ID != last.ID {
				t.Errorf("Verify of a %d-byte token = %v, %v", len(last.Token), c, err)
			}
			// The refusals left nothing: one record and one event per token.
			if tk, ev := countRecords(); tk-tokens != issued || ev-events != issued {
				t.Errorf("%d records and %d events added for %d tokens issued", tk-tokens, ev-events, issued)
			}
		})
	}
}

// TestConcurrentIssuance has many goroutines issue at once, so that their
// records share group commits, with some records refused by the database
// (a trigger stands for any failure of one insert): every token returned is
// recorded with its audit event, every refused one is reported to its own
// caller only, and nothing of it is left behind.
func TestConcurrentIssuance(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	sqlitetest.Refuse(t, e.db, "tokens", "subject", "poison")
	const workers, each = 32, 20
	var mu sync.Mutex
	issued := map[string]bool{}
	var refused int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range each {
				subject := fmt.Sprintf("user-%d-%d", w, n)
				if n%7 == 3 {
					subject = "poison"
				}
				tok, err := e.issuer.Issue(ctx, issuer.Request{Subject: subject, Audience: []string{testAudience}})
				mu.Lock()
				switch {
				case subject == "poison" && (err == nil || !strings.Contains(err.Error(), "poisoned record")):
					t.Errorf("poisoned record: %v, want its own error", err)
				case subject == "poison":
					refused++
				case err != nil:
					t.Errorf("issue %s: %v", subject, err)
				case tok.Token == "":
					t.Errorf("issue %s: no token", subject)
				default:
					issued[tok.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if want := workers * (each - 3); len(issued) != want || refused != workers*3 {
		t.Fatalf("%d issued, %d refused; want %d and %d", len(issued), refused, want, workers*3)
	}
	records, err := e.db.TokenList(ctx, store.TokenFilter{Limit: 10 * workers * each})
	if err != nil {
		t.Fatal(err)
	}
	events, err := e.db.AuditList(ctx, store.AuditFilter{Limit: 10 * workers * each})
	if err != nil {
		t.Fatal(err)
	}
	issueEvents := map[string]int{}
	for _, ev := range events {
		if ev.Action == audit.Issue {
			issueEvents[ev.JTI]++
		}
	}
	for _, r := range records {
		if !issued[r.JTI] || issueEvents[r.JTI] != 1 {
			t.Errorf("record %s: returned to a caller %v, %d audit events", r.JTI, issued[r.JTI], issueEvents[r.JTI])
		}
	}
	if len(records) != len(issued) {
		t.Errorf("%d records for %d tokens issued", len(records), len(issued))
	}
	if orphans := sqlitetest.Count(t, e.db, "audit", sqlitetest.Where{"subject": "poison"}); orphans != 0 {
		t.Errorf("%d audit events of refused tokens", orphans)
	}
}

// compromiseOnRead hands out the active key, and compromises it right after
// the first time: as if an admin ran writ keys compromise between Issue's
// read of the key and the commit of its record.
type compromiseOnRead struct {
	ring *keys.Ring
	done bool
}

func (c *compromiseOnRead) Signer(ctx context.Context, f keys.Format) (*keys.Key, error) {
	k, err := c.ring.Signer(ctx, f)
	if err == nil && !c.done {
		c.done = true
		_, err = c.ring.Compromise(ctx, k.ID(), revocation.Options{})
	}
	return k, err
}

func TestIssueNeverReturnsTokenOfWithdrawnKey(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	before, err := e.ring.Signer(context.Background(), keys.JWT)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: &compromiseOnRead{ring: e.ring}, Store: e.db, Now: clock, UnsafeDatabaseNow: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), issuer.Request{Subject: "s", Audience: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.KeyID == before.ID() {
		t.Fatalf("token signed by the compromised key %s", before.ID())
	}
	if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"kid": before.ID()}); n != 0 {
		t.Errorf("%d records under the compromised key", n)
	}
}

// TestListByStatus: the status filter is part of the query, so a limit
// counts matching tokens however many others are newer.
func TestListByStatus(t *testing.T) {
	ctx := context.Background()
	now := testNow
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.Now = func() time.Time { return now } })
	rl, err := revocation.NewList(revocation.Config{Store: e.db, MaxTTL: issuer.DefaultMaxTTL, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	byJTI := e.issue(t, issuer.Request{Subject: "alice"})
	bySubject := e.issue(t, issuer.Request{Subject: "bob"})
	expired := e.issue(t, issuer.Request{Subject: "carol", TTL: time.Second})
	now = now.Add(time.Second)
	if _, err := rl.RevokeToken(ctx, byJTI.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.RevokeSubject(ctx, "bob", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	var active []string
	for range 5 {
		active = append([]string{e.issue(t, issuer.Request{Subject: "dave"}).ID}, active...)
	}
	for _, tc := range []struct {
		status issuer.Status
		limit  int
		want   []string
	}{
		{issuer.StatusRevoked, 2, []string{bySubject.ID, byJTI.ID}},
		{issuer.StatusRevoked, 1, []string{bySubject.ID}},
		{issuer.StatusExpired, 1, []string{expired.ID}},
		{issuer.StatusActive, 3, active[:3]},
		{"", 8, append(active, expired.ID, bySubject.ID, byJTI.ID)},
	} {
		recs, err := e.issuer.List(ctx, issuer.Filter{Status: tc.status, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.ID)
			if tc.status != "" && r.Status != tc.status {
				t.Errorf("status %q: %s has status %q", tc.status, r.ID, r.Status)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(status %q, limit %d) = %v, want %v", tc.status, tc.limit, got, tc.want)
		}
	}
	for _, r := range []struct {
		id   string
		want issuer.Status
	}{{byJTI.ID, issuer.StatusRevoked}, {bySubject.ID, issuer.StatusRevoked}, {expired.ID, issuer.StatusExpired}, {active[0], issuer.StatusActive}} {
		if rec, err := e.issuer.Get(ctx, r.id); err != nil || rec.Status != r.want {
			t.Errorf("Get(%s) = %+v, %v; want status %q", r.id, rec, err, r.want)
		}
	}
	// The query agrees with the revocation list's own answer.
	all, err := e.issuer.List(ctx, issuer.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		revoked, err := rl.Revoked(ctx, r.ID, r.Subject, r.KeyID, r.IssuedAt)
		if err != nil || revoked != (r.Status == issuer.StatusRevoked) {
			t.Errorf("%s: status %q, revocation.List.Revoked = %v, %v", r.ID, r.Status, revoked, err)
		}
	}
	if _, err := e.issuer.List(ctx, issuer.Filter{Status: "valid"}); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("List with status valid: %v, want ErrRequest", err)
	}
}

// TestRegenerateAllOrNothing: the replacement is recorded and the old token
// revoked in one transaction. When the revocation fails, nothing of the
// replacement is left and the old token is as it was; when it succeeds,
// the audit log holds both halves, by the same actor.
func TestRegenerateAllOrNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	old := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"read"}, Name: "deploy"})
	tokens, events := sqlitetest.Count(t, e.db, "tokens", nil), sqlitetest.Count(t, e.db, "audit", nil)
	lift := sqlitetest.Refuse(t, e.db, "revocations", "kind", "token")
	if tok, err := e.issuer.Regenerate(ctx, old.ID, revocation.Options{Actor: "admin"}); tok != nil || err == nil || !strings.Contains(err.Error(), "poisoned record") {
		t.Fatalf("Regenerate with the revocation refused: %v, %v; want the refusal and no token", tok, err)
	}
	if tk, ev := sqlitetest.Count(t, e.db, "tokens", nil), sqlitetest.Count(t, e.db, "audit", nil); tk != tokens || ev != events {
		t.Errorf("a failed regeneration left %d records and %d audit events", tk-tokens, ev-events)
	}
	if rec, err := e.issuer.Get(ctx, old.ID); err != nil || rec.Status != issuer.StatusActive {
		t.Errorf("old token after a failed regeneration: %+v, %v", rec, err)
	}
	lift()

	tok, err := e.issuer.Regenerate(ctx, old.ID, revocation.Options{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.issuer.Get(ctx, tok.ID)
	if err != nil || rec.Subject != "alice" || rec.Name != "deploy" || !slices.Equal(rec.Scopes, []string{"read"}) || rec.IssuedBy != "admin" ||
		rec.ExpiresAt.Sub(rec.IssuedAt) != time.Hour {
		t.Errorf("replacement %+v, %v", rec, err)
	}
	if rec, err := e.issuer.Get(ctx, old.ID); err != nil || rec.Status != issuer.StatusRevoked {
		t.Errorf("old token after the regeneration: %+v, %v", rec, err)
	}
	log, err := e.db.AuditList(ctx, store.AuditFilter{Limit: 2})
	if err != nil || len(log) != 2 {
		t.Fatalf("audit log: %v, %v", log, err)
	}
	if ev := log[0]; ev.Action != audit.Regenerate || ev.JTI != tok.ID || ev.Actor != "admin" || ev.Detail != "replaces "+old.ID {
		t.Errorf("first event %+v, want the regeneration of %s", ev, tok.ID)
	}
	if ev := log[1]; ev.Action != audit.Revoke || ev.JTI != old.ID || ev.Actor != "admin" || ev.Detail != "reason: regenerated as "+tok.ID {
		t.Errorf("second event %+v, want the revocation of %s", ev, old.ID)
	}
	if _, err := e.issuer.Regenerate(ctx, "no-such-jti", revocation.Options{}); !errors.Is(err, issuer.ErrUnknownToken) || !errors.Is(err, revocation.ErrUnknownToken) {
		t.Errorf("Regenerate of an unknown token: %v, want ErrUnknownToken", err)
	}
}

// TestRegenerateSignsAgainAfterCompromise: a replacement signed by a key
// compromised before it was recorded is signed again by the key active
// then, and the old token is revoked once.
func TestRegenerateSignsAgainAfterCompromise(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	old := e.issue(t, issuer.Request{Subject: "alice"})
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: &compromiseOnRead{ring: e.ring}, Store: e.db, Now: clock, UnsafeDatabaseNow: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Regenerate(ctx, old.ID, revocation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.KeyID == old.KeyID {
		t.Fatalf("replacement signed by the compromised key %s", old.KeyID)
	}
	if n := sqlitetest.Count(t, e.db, "tokens", nil); n != 2 {
		t.Errorf("%d records, want the old token and one replacement", n)
	}
	if n := sqlitetest.Count(t, e.db, "revocations", sqlitetest.Where{"kind": "token", "value": old.ID}); n != 1 {
		t.Errorf("old token revoked %d times", n)
	}
}
