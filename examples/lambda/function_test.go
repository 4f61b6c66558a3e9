package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/writ-dev/writ/examples/lambda/internal/lambdatest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

const audience = "https://api.example.com"

// fixture is a writ issuer on loopback and what a function built for it
// embeds.
type fixture struct {
	host  host
	iss   *lambdatest.Issuer
	files map[string][]byte // by name under the function's directory (keys/…)
	// revoked is a token revoked before the build: in the embedded
	// revocation snapshot.
	revoked string
}

// The issuers a fixture has.
type host int

const (
	serve        host = iota // writ serve
	servePrivate             // writ serve --private-feed
	static                   // a writ publish tree on a static file server
)

func (h host) String() string {
	return [...]string{"writ serve", "writ serve, private feed", "published tree"}[h]
}

// newFixture makes a fixture whose issuer is h.
func newFixture(t *testing.T, h host) *fixture {
	t.Helper()
	var (
		iss *lambdatest.Issuer
		err error
	)
	if h == static {
		iss, err = lambdatest.NewStaticIssuer(t.Context(), t.TempDir())
	} else {
		iss, err = lambdatest.NewIssuer(t.Context(), t.TempDir(), h == servePrivate)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	fx := &fixture{host: h, iss: iss}
	tok := fx.issue(t, issuer.Request{Subject: "mallory"})
	if _, err := iss.DB.Revocations.RevokeToken(t.Context(), tok.ID, revocation.Options{Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	fx.revoked = tok.Token
	if fx.files, err = iss.Embedded(t.Context()); err != nil {
		t.Fatal(err)
	}
	return fx
}

// config is a function's configuration for fx's issuer.
func (fx *fixture) config() Config {
	return Config{Issuer: fx.iss.URL, Audience: audience, Realm: "orders", Scopes: []string{"orders:read"}, Published: fx.published()}
}

// published is the tree of fx.files, as main embeds it.
func (fx *fixture) published() fstest.MapFS {
	m := fstest.MapFS{}
	for name, b := range fx.files {
		m[strings.TrimPrefix(name, "keys/")] = &fstest.MapFile{Data: slices.Clone(b)}
	}
	return m
}

func newFunction(t *testing.T, cfg Config) *Function {
	t.Helper()
	f, err := NewFunction(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// issue issues a token for audience with scope orders:read unless req
// says otherwise.
func (fx *fixture) issue(t *testing.T, req issuer.Request) *issuer.Token {
	t.Helper()
	if req.Audience == nil {
		req.Audience = []string{audience}
	}
	if req.Scopes == nil {
		req.Scopes = []string{"orders:read"}
	}
	tok, err := fx.iss.DB.Issuer.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// event is lambdatest.Event with an X-Forwarded-For header, which the
// function must not believe.
func event(token, ip string) events.APIGatewayV2HTTPRequest {
	e := lambdatest.Event(token, ip)
	e.Headers["x-forwarded-for"] = "192.0.2.250"
	return e
}

func handle(t *testing.T, f *Function, e events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := f.Handle(t.Context(), e)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if tok := strings.TrimPrefix(e.Headers["authorization"], "Bearer "); tok != "" && strings.Contains(resp.Body+strings.Join(values(resp.Headers), " "), tok) {
		t.Errorf("the answer holds the token")
	}
	for _, h := range []string{"Writ-Keys-Age", "Writ-Revocations-Age"} {
		if resp.Headers[h] == "" {
			t.Errorf("no %s header: %v", h, resp.Headers)
		}
	}
	return resp
}

func values(m map[string]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}

func TestHandle(t *testing.T) {
	fx := newFixture(t, serve)
	f := newFunction(t, fx.config())
	valid := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	// A character of the claims, in the middle of the token, changed to
	// another of base64url.
	tampered := []byte(valid)
	if i := len(tampered) / 2; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	if first, last := strings.Index(valid, "."), strings.LastIndex(valid, "."); len(valid)/2 <= first || len(valid)/2 >= last {
		t.Fatal("the middle of the token is not in its claims")
	}
	const client = "203.0.113.9"
	for _, tc := range []struct {
		name      string
		token     string
		header    string // the whole Authorization header, when set
		ip        string
		status    int
		challenge string // the WWW-Authenticate header
		body      string // a part of the body
	}{
		{name: "valid jwt", token: valid, status: 200, body: `"sub":"alice"`},
		{name: "valid paseto", token: fx.issue(t, issuer.Request{Subject: "bob", Format: keys.PASETO}).Token, status: 200, body: `"sub":"bob"`},
		{name: "missing header", status: 401, challenge: `Bearer realm="orders"`},
		{name: "other scheme", header: "Basic YWxpY2U6c2VjcmV0", status: 401, challenge: `Bearer realm="orders"`},
		{name: "empty token", header: "Bearer ", status: 400,
			challenge: `Bearer realm="orders", error="invalid_request", error_description="empty bearer token"`},
		{name: "tampered", token: string(tampered), status: 401, challenge: `error="invalid_token"`},
		{name: "wrong audience", token: fx.issue(t, issuer.Request{Subject: "alice", Audience: []string{"https://other.example.com"}}).Token,
			status: 401, challenge: `Bearer realm="orders", error="invalid_token", error_description="wrong audience"`},
		{name: "revoked before the build", token: fx.revoked, status: 401,
			challenge: `Bearer realm="orders", error="invalid_token", error_description="token revoked"`},
		{name: "insufficient scope", token: fx.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"billing:read"}}).Token, status: 403,
			challenge: `Bearer realm="orders", error="insufficient_scope", error_description="the token lacks a required scope", scope="orders:read"`},
		{name: "bound to networks, from inside", ip: client, status: 200, body: `"allowed_ips":["203.0.113.0/24"]`,
			token: fx.issue(t, issuer.Request{Subject: "alice", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}).Token},
		// The X-Forwarded-For header of event names 192.0.2.250: it is not
		// believed, API Gateway's sourceIp is.
		{name: "bound to networks, from outside", ip: "198.51.100.7", status: 401,
			challenge: `Bearer realm="orders", error="invalid_token", error_description="client address not allowed"`,
			token:     fx.issue(t, issuer.Request{Subject: "alice", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.250/32")}}).Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip := tc.ip
			if ip == "" {
				ip = "192.0.2.1"
			}
			e := event(tc.token, ip)
			if tc.header != "" {
				e.Headers["authorization"] = tc.header
			}
			resp := handle(t, f, e)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, resp.Body)
			}
			if got := resp.Headers["Www-Authenticate"]; tc.challenge != "" && !strings.Contains(got, tc.challenge) || tc.challenge == "" && got != "" {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if !strings.Contains(resp.Body, tc.body) {
				t.Errorf("body %q, want it to hold %q", resp.Body, tc.body)
			}
			if tc.status != 200 && resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control %q on a refusal", resp.Headers["Cache-Control"])
			}
			if tc.status == 200 && resp.Headers["Content-Type"] != "application/json" {
				t.Errorf("Content-Type %q", resp.Headers["Content-Type"])
			}
		})
	}
}

// TestHandleOtherFormats: an event of payload format 1.0, or a REST
// API's, which has no version, is an error.
func TestHandleOtherFormats(t *testing.T) {
	fx := newFixture(t, serve)
	f := newFunction(t, fx.config())
	tok := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	for _, version := range []string{"1.0", ""} {
		e := event(tok, "192.0.2.1")
		e.Version = version
		if _, err := f.Handle(t.Context(), e); err == nil || !strings.Contains(err.Error(), "payload format 2.0") {
			t.Errorf("version %q: error %v", version, err)
		}
	}
}

// clock is the real time shifted by an offset that a test sets.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Store(int64(d)) }

func TestExpired(t *testing.T) {
	fx := newFixture(t, serve)
	var c clock
	cfg := fx.config()
	cfg.Now = c.now
	f := newFunction(t, cfg)
	tok := fx.issue(t, issuer.Request{Subject: "alice", TTL: time.Hour}).Token
	if resp := handle(t, f, event(tok, "192.0.2.1")); resp.StatusCode != 200 {
		t.Fatalf("status %d before expiry: %s", resp.StatusCode, resp.Body)
	}
	c.advance(time.Hour + time.Minute)
	resp := handle(t, f, event(tok, "192.0.2.1"))
	if want := `error_description="token expired"`; resp.StatusCode != 401 || !strings.Contains(resp.Headers["Www-Authenticate"], want) {
		t.Errorf("after expiry: status %d, WWW-Authenticate %q; want 401 and %s", resp.StatusCode, resp.Headers["Www-Authenticate"], want)
	}
}

// TestLearnsRevocation: a token revoked after the build is refused once
// the function has refreshed from the issuer: writ serve, with a public
// or a private feed, or a static host serving a writ publish tree,
// published again after the revocation.
func TestLearnsRevocation(t *testing.T) {
	for _, h := range []host{serve, servePrivate, static} {
		t.Run(h.String(), func(t *testing.T) {
			fx := newFixture(t, h)
			cfg := fx.config()
			cfg.Refresh = time.Nanosecond // every invocation starts a refresh
			cfg.FeedToken = fx.iss.FeedToken
			f := newFunction(t, cfg)
			tok := fx.issue(t, issuer.Request{Subject: "alice"})
			if resp := handle(t, f, event(tok.Token, "192.0.2.1")); resp.StatusCode != 200 {
				t.Fatalf("status %d before the revocation: %s", resp.StatusCode, resp.Body)
			}
			fx.revoke(t, tok.ID)
			untilRevoked(t, func() events.APIGatewayV2HTTPResponse {
				f.waitRefresh()
				return handle(t, f, event(tok.Token, "192.0.2.1"))
			})
		})
	}
}

// revoke revokes the token jti at fx's issuer, and publishes a static
// issuer's tree again.
func (fx *fixture) revoke(t *testing.T, jti string) {
	t.Helper()
	if _, err := fx.iss.DB.Revocations.RevokeToken(t.Context(), jti, revocation.Options{Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	if fx.host == static {
		if _, err := fx.iss.Publish(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// untilRevoked calls answer, the function's answer to a token revoked
// after its build, until it is 401 for a revoked token; it fails on any
// other than 200 or 401, and if the revocation is not learnt in 20 s.
func untilRevoked(t *testing.T, answer func() events.APIGatewayV2HTTPResponse) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := answer()
		if resp.StatusCode == 401 {
			if want := `error_description="token revoked"`; !strings.Contains(resp.Headers["Www-Authenticate"], want) {
				t.Errorf("WWW-Authenticate %q, want %s", resp.Headers["Www-Authenticate"], want)
			}
			return
		}
		if resp.StatusCode != 200 || time.Now().After(deadline) {
			t.Fatalf("status %d (%s), and the revocation not learnt", resp.StatusCode, resp.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPrivateFeedWithoutToken: a function that is not given the token a
// private feed asks for cannot refresh from it (and so fails closed past
// its bound, as TestUnreachable shows for an issuer out of reach).
func TestPrivateFeedWithoutToken(t *testing.T) {
	fx := newFixture(t, servePrivate)
	f := newFunction(t, fx.config())
	err := f.snap.Refresh(t.Context())
	if want := "a private feed needs a token with scope writ:revocations"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("refresh: %v, want an error saying %q", err, want)
	}
}

// TestRefreshesKeys: a token signed by a key made after the build is
// verified once the function has fetched the issuer's key set, which an
// unknown kid makes it do.
func TestRefreshesKeys(t *testing.T) {
	fx := newFixture(t, serve)
	f := newFunction(t, fx.config())
	// The next key was published before the build: two rotations make
	// the signing key one the build never saw.
	for range 2 {
		if _, err := fx.iss.DB.Keys.Rotate(t.Context(), keys.JWT, keys.RotateOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	tok := fx.issue(t, issuer.Request{Subject: "alice"})
	if strings.Contains(string(fx.files["keys/.well-known/jwks.json"]), tok.KeyID) {
		t.Fatal("the embedded key set holds the new key")
	}
	if err := fx.iss.WaitPublished(t.Context(), tok.KeyID); err != nil {
		t.Fatal(err)
	}
	resp := handle(t, f, event(tok.Token, "192.0.2.1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Headers["Www-Authenticate"])
	}
	// Both sets are fetched in the background from the start: the keys'
	// age becomes a number of seconds.
	deadline := time.Now().Add(15 * time.Second)
	for resp.Headers["Writ-Keys-Age"] == "embedded" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		resp = handle(t, f, event(tok.Token, "192.0.2.1"))
	}
	if age, err := strconv.Atoi(resp.Headers["Writ-Keys-Age"]); err != nil || age > 60 {
		t.Errorf("Writ-Keys-Age %q after the key sets were fetched", resp.Headers["Writ-Keys-Age"])
	}
}

// TestUnreachable: with the issuer out of reach, the function verifies
// from what it embedded until its revocation data is older than the
// bound, and then refuses every token with 503 and the reason.
func TestUnreachable(t *testing.T) {
	fx := newFixture(t, serve)
	var c clock
	cfg := fx.config()
	cfg.Now = c.now
	cfg.MaxStaleness = 10 * time.Minute
	fx.iss.Stop()
	f := newFunction(t, cfg)
	tok := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	for _, tc := range []struct {
		name   string
		age    time.Duration
		status int
	}{
		{"fresh", 0, 200},
		{"within the bound", 9 * time.Minute, 200},
		{"past the bound", 11 * time.Minute, 503},
		{"still past the bound", 12 * time.Minute, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.advance(tc.age)
			resp := handle(t, f, event(tok, "192.0.2.1"))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if resp.Headers["Writ-Keys-Age"] != "embedded" {
				t.Errorf("Writ-Keys-Age %q, want embedded", resp.Headers["Writ-Keys-Age"])
			}
			age, err := strconv.Atoi(resp.Headers["Writ-Revocations-Age"])
			if err != nil || time.Duration(age)*time.Second < tc.age {
				t.Errorf("Writ-Revocations-Age %q, want at least %v", resp.Headers["Writ-Revocations-Age"], tc.age)
			}
			if tc.status == 503 && !strings.Contains(resp.Body, "revocation data too stale") {
				t.Errorf("body %q does not say why", resp.Body)
			}
		})
	}
}

// TestRefreshOnInvocation: an invocation that finds its revocation data
// past the bound refreshes it, and waits for that, before it answers.
func TestRefreshOnInvocation(t *testing.T) {
	fx := newFixture(t, serve)
	cfg := fx.config()
	// A short refresh interval: the refresh that the start may have made
	// is more than one interval old when the data passes the bound. The
	// refresh timeout is above what a refresh takes on a loaded machine.
	cfg.MaxStaleness, cfg.Refresh, cfg.RefreshTimeout = 2*time.Second, 100*time.Millisecond, 10*time.Second
	f := newFunction(t, cfg)
	tok := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	// No invocation, as in a frozen process: nothing refreshes.
	deadline := time.Now().Add(15 * time.Second)
	for f.snap.Staleness() <= cfg.MaxStaleness {
		if time.Now().After(deadline) {
			t.Fatal("the revocation data does not age")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp := handle(t, f, event(tok, "192.0.2.1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if age, err := strconv.Atoi(resp.Headers["Writ-Revocations-Age"]); err != nil || time.Duration(age)*time.Second > cfg.MaxStaleness {
		t.Errorf("Writ-Revocations-Age %q after the refresh", resp.Headers["Writ-Revocations-Age"])
	}
}

func TestNewFunctionRefuses(t *testing.T) {
	fx := newFixture(t, serve)
	repo, err := fs.Sub(os.DirFS("."), "keys") // the repository's test-only issuer's tree
	if err != nil {
		t.Fatal(err)
	}
	other, err := fs.ReadFile(repo, "v1/revocations/manifest")
	if err != nil {
		t.Fatal(err)
	}
	var snapshot string // the name of the embedded snapshot file
	for name := range fx.published() {
		if strings.HasPrefix(name, "v1/revocations/snapshots/") {
			snapshot = name
		}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config, fstest.MapFS)
		want string
	}{
		{"no issuer", func(c *Config, _ fstest.MapFS) { c.Issuer = "" }, "WRIT_ISSUER and WRIT_AUDIENCE are required"},
		{"no audience", func(c *Config, _ fstest.MapFS) { c.Audience = "" }, "WRIT_ISSUER and WRIT_AUDIENCE are required"},
		{"issuer not a URL", func(c *Config, _ fstest.MapFS) { c.Issuer = "writ" }, `WRIT_ISSUER "writ" is not an http or https URL`},
		{"issuer not http", func(c *Config, _ fstest.MapFS) { c.Issuer = "ftp://writ.example.com" }, `WRIT_ISSUER "ftp://writ.example.com"`},
		{"refresh past the bound", func(c *Config, _ fstest.MapFS) { c.Refresh, c.MaxStaleness = time.Minute, time.Minute }, "must be below the staleness bound"},
		{"no embedded files", func(c *Config, _ fstest.MapFS) { c.Published = nil }, "Config.Published is required"},
		{"another issuer's tree", func(c *Config, _ fstest.MapFS) { c.Published = repo },
			`embedded revocation state: revoked: refresh: remote: revocation manifest from "https://issuer.test-only.invalid", want "` + fx.iss.URL + `"`},
		{"another issuer's manifest", func(_ *Config, m fstest.MapFS) { m["v1/revocations/manifest"].Data = other },
			"embedded revocation state: revoked: refresh: remote: revocation manifest: " + verifier.ErrUnknownKey.Error()},
		{"no manifest", func(_ *Config, m fstest.MapFS) { delete(m, "v1/revocations/manifest") },
			"embedded revocation state: revoked: refresh: remote: fetch revocation manifest: 404 Not Found"},
		{"no snapshot", func(_ *Config, m fstest.MapFS) { delete(m, snapshot) },
			"embedded revocation state: revoked: refresh: remote: fetch revocation snapshot: 404 Not Found"},
		{"snapshot altered", func(_ *Config, m fstest.MapFS) { m[snapshot].Data[len(m[snapshot].Data)-1] ^= 1 },
			"embedded revocation state: revoked: refresh: remote: revocation snapshot does not match the manifest's SHA-256"},
		{"no PASERK set", func(_ *Config, m fstest.MapFS) { delete(m, ".well-known/paserk.json") }, "embedded key set: open .well-known/paserk.json"},
		{"no key in the JWKS", func(_ *Config, m fstest.MapFS) { m[".well-known/jwks.json"].Data = []byte(`{"keys":[]}`) }, "embedded key set"},
		{"private key", func(_ *Config, m fstest.MapFS) {
			m[".well-known/paserk.json"].Data = []byte(`{"keys":[{"kid":"k4.pid.x","paserk":"k4.secret.AAAA"}]}`)
		}, "embedded key set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fx.config()
			tc.mod(&cfg, cfg.Published.(fstest.MapFS))
			f, err := NewFunction(t.Context(), cfg)
			if err == nil {
				f.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

// TestRepositoryKeys: the test-only files in keys/ make a function that
// starts, and fails closed, being older than any bound, until it can
// refresh.
func TestRepositoryKeys(t *testing.T) {
	published, err := fs.Sub(embedded, "keys")
	if err != nil {
		t.Fatal(err)
	}
	f := newFunction(t, Config{Issuer: "https://issuer.test-only.invalid", Audience: audience, Published: published})
	if f.issuer.JWT.Current().Len() == 0 || f.issuer.PASETO.Current().Len() == 0 {
		t.Fatal("no keys")
	}
	resp := handle(t, f, event("", "192.0.2.1"))
	if resp.StatusCode != 401 {
		t.Errorf("no token: status %d", resp.StatusCode)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"WRIT_ISSUER": "https://auth.example.com", "WRIT_AUDIENCE": audience,
		"WRIT_REQUIRE_SCOPE": "orders:read  orders:write", "WRIT_MAX_STALENESS": "90s", "WRIT_REFRESH": "10s", "WRIT_FEED_TOKEN": "feed-token"}
	cfg, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != env["WRIT_ISSUER"] || cfg.Audience != audience || strings.Join(cfg.Scopes, ",") != "orders:read,orders:write" ||
		cfg.MaxStaleness != 90*time.Second || cfg.Refresh != 10*time.Second || cfg.RefreshTimeout != 0 || cfg.FeedToken != "feed-token" {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []string{"5", "-1m", "0s", "soon"} {
		env["WRIT_REFRESH_TIMEOUT"] = bad
		if _, err := configFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "WRIT_REFRESH_TIMEOUT") {
			t.Errorf("WRIT_REFRESH_TIMEOUT=%s: error %v", bad, err)
		}
	}
}

// TestTree: the requests of the snapshot's first read are answered from
// the embedded tree, by their path under the issuer URL's; every other
// goes to the issuer.
func TestTree(t *testing.T) {
	files := fstest.MapFS{"v1/revocations/manifest": {Data: []byte("manifest")}, "secret": {Data: []byte("not under the issuer")}}
	var sent []string
	next := roundTripper(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String())
		return nil, errors.New("no network in this test")
	})
	embedded := context.WithValue(context.Background(), fromTree{}, true)
	for _, tc := range []struct {
		name, issuer, url string
		ctx               context.Context
		status            int // 0: sent to the issuer
		body              string
	}{
		{"a file", "https://auth.example.com", "https://auth.example.com/v1/revocations/manifest", embedded, 200, "manifest"},
		{"under an issuer path", "https://auth.example.com/tenant/", "https://auth.example.com/tenant/v1/revocations/manifest", embedded, 200, "manifest"},
		{"outside the issuer path", "https://auth.example.com/tenant", "https://auth.example.com/secret", embedded, 404, ""},
		{"no such file", "https://auth.example.com", "https://auth.example.com/v1/revocations/feed.jwt", embedded, 404, ""},
		{"dot-dot", "https://auth.example.com/tenant", "https://auth.example.com/tenant/v1/../secret", embedded, 404, ""},
		{"a directory", "https://auth.example.com", "https://auth.example.com/v1/revocations", embedded, 404, ""},
		{"any other read", "https://auth.example.com", "https://auth.example.com/v1/revocations/manifest", context.Background(), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent = nil
			req, err := http.NewRequestWithContext(tc.ctx, http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := newTree(tc.issuer, files, next).RoundTrip(req)
			if tc.status == 0 {
				if err == nil || len(sent) != 1 || sent[0] != tc.url {
					t.Errorf("sent %v (error %v), want %s sent to the issuer", sent, err, tc.url)
				}
				return
			}
			if err != nil || len(sent) != 0 {
				t.Fatalf("error %v, sent %v", err, sent)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("status %d, body %q (%v); want %d, %q", resp.StatusCode, body, err, tc.status, tc.body)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
