package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// syncBuffer collects logs from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	t      testing.TB
	url    string
	tokens *issuer.Issuer
	list   *revocation.List
	ring   *keys.Ring
	logs   *syncBuffer
	srv    *server.Server
	db     *sqlite.DB
	admin  string   // a writ:admin token
	seen   []string // every token handed out, to check the logs for
}

// newKeyring makes writ's database in a temporary directory, with an
// active and a next key per format.
func newKeyring(tb testing.TB) (*sqlite.DB, *keys.Ring) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, MaxTTL: issuer.DefaultMaxTTL})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ring.Ensure(ctx, verifier.EdDSA); err != nil {
		tb.Fatal(err)
	}
	return db, ring
}

// newFixture starts a server over a new database; mods adjust its Config.
func newFixture(t *testing.T, mods ...func(*server.Config, *sqlite.DB)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, ring := newKeyring(t)
	// The issuer URL must be known before the server listens: use an
	// unstarted httptest server.
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	tokens, err := issuer.New(issuer.Config{Issuer: base, Keys: ring, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	list, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: tokens.MaxTTL()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := server.Config{Issuer: base, Ping: db.Ping, Ring: ring, Tokens: tokens, Revocations: list,
		MaxAge: time.Minute, Refresh: 50 * time.Millisecond, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, mod := range mods {
		mod(&cfg, db)
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	f := &fixture{t: t, url: base, tokens: tokens, list: list, ring: ring, logs: logs, srv: srv, db: db}
	f.admin = f.issue("admin", []string{base}, server.AdminScope)
	t.Cleanup(func() {
		for _, tok := range f.seen {
			if strings.Contains(logs.String(), tok) {
				t.Errorf("a token appears in the server's logs")
			}
		}
	})
	return f
}

func (f *fixture) issue(subject string, aud []string, scopes ...string) string {
	f.t.Helper()
	tok, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: subject, Audience: aud, Scopes: scopes})
	if err != nil {
		f.t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	return tok.Token
}

// remoteKeys follows the server's JWKS as a remote verifier does.
func (f *fixture) remoteKeys() *remote.KeySet {
	f.t.Helper()
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: f.url + "/.well-known/jwks.json"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(ks.Close)
	return ks
}

// remoteFeed reads the server's revocation feed, signed with keys, as mod
// adjusts the configuration.
func (f *fixture) remoteFeed(keys verifier.KeySource, mod func(*remote.FeedConfig)) *remote.Feed {
	f.t.Helper()
	cfg := remote.FeedConfig{URL: f.url + "/v1/revocations", Issuer: f.url, Keys: keys}
	if mod != nil {
		mod(&cfg)
	}
	feed, err := remote.NewFeed(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return feed
}

// do sends a request and returns the status, headers and body.
func (f *fixture) do(method, path, token, contentType, body string, hdr ...string) (int, http.Header, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, tok := range f.seen {
		if tok != "" && strings.Contains(string(b), tok) && !strings.Contains(path, "/v1/tokens") {
			f.t.Errorf("%s %s echoes a token", method, path)
		}
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestPublication(t *testing.T) {
	f := newFixture(t)
	code, h, body := f.do("GET", "/.well-known/jwks.json", "", "", "")
	if code != 200 || h.Get("Cache-Control") != "public, max-age=60" || h.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %v", code, h)
	}
	if _, err := verifier.ParseJWKS([]byte(body)); err != nil {
		t.Errorf("served JWKS does not parse: %v", err)
	}
	if strings.Contains(body, `"d"`) {
		t.Error("JWKS holds private material")
	}
	etag := h.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag %q is not strong", etag)
	}
	if code, _, body := f.do("GET", "/.well-known/jwks.json", "", "", "", "If-None-Match", etag); code != 304 || body != "" {
		t.Errorf("conditional GET: %d %q, want 304 and no body", code, body)
	}
	if code, _, _ := f.do("GET", "/.well-known/jwks.json", "", "", "", "If-None-Match", `"other"`); code != 200 {
		t.Errorf("stale ETag: %d, want 200", code)
	}

	code, _, body = f.do("GET", "/.well-known/paserk.json", "", "", "")
	if _, err := verifier.ParsePASERKSet([]byte(body)); code != 200 || err != nil {
		t.Errorf("paserk: %d %v", code, err)
	}

	code, _, body = f.do("GET", "/.well-known/oauth-authorization-server", "", "", "")
	var disc map[string]any
	if err := json.Unmarshal([]byte(body), &disc); code != 200 || err != nil {
		t.Fatalf("discovery: %d %v", code, err)
	}
	for name, want := range map[string]string{
		"issuer": f.url, "jwks_uri": f.url + "/.well-known/jwks.json", "introspection_endpoint": f.url + "/v1/introspect",
		"revocation_endpoint": f.url + "/v1/revoke", "revocation_list_uri": f.url + "/v1/revocations",
		"revocation_snapshot_uri": f.url + "/v1/revocations/manifest",
	} {
		if disc[name] != want {
			t.Errorf("discovery %s = %v, want %s", name, disc[name], want)
		}
	}

	// A key added by another process (the CLI) is served within the refresh.
	k, err := keys.Generate(verifier.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ring.Add(context.Background(), k, keys.Next); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, body := f.do("GET", "/.well-known/jwks.json", "", "", "")
		if strings.Contains(body, k.ID()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new key never reached the served JWKS")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminAuth(t *testing.T) {
	f := newFixture(t)
	noScope := f.issue("bob", []string{f.url})
	otherAud := f.issue("bob", []string{"https://api"}, server.AdminScope)
	tests := []struct {
		name, token string
		code        int
		challenge   string
	}{
		{"no token", "", 401, `Bearer realm="writ"`},
		{"garbage", "garbage", 401, `error="invalid_token"`},
		{"other audience", otherAud, 401, `error="invalid_token"`},
		{"no admin scope", noScope, 403, `error="insufficient_scope"`},
		{"admin", f.admin, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, _ := f.do("GET", "/v1/tokens", tt.token, "", "")
			if code != tt.code || !strings.Contains(h.Get("WWW-Authenticate"), tt.challenge) {
				t.Errorf("%d %q, want %d %q", code, h.Get("WWW-Authenticate"), tt.code, tt.challenge)
			}
		})
	}
}

// TestIssueLifetimes: a lifetime in days or weeks, or none (the default).
func TestIssueLifetimes(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		body string
		want time.Duration
	}{
		{`{"subject":"a","audience":["b"],"ttl":"30d"}`, 30 * 24 * time.Hour},
		{`{"subject":"a","audience":["b"],"ttl":"2w"}`, 14 * 24 * time.Hour},
		{`{"subject":"a","audience":["b"],"ttl":"1d12h"}`, 36 * time.Hour},
		{`{"subject":"a","audience":["b"]}`, issuer.DefaultTTL},
	} {
		code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", c.body)
		var issued struct {
			Exp    int64
			Issued time.Time
		}
		json.Unmarshal([]byte(body), &issued)
		if code != 201 || time.Unix(issued.Exp, 0).Sub(issued.Issued.Truncate(time.Second)) != c.want {
			t.Errorf("%s: %d, exp %d issued %v; want a lifetime of %v", c.body, code, issued.Exp, issued.Issued, c.want)
		}
	}
	// An expiry time, to the second.
	at := time.Now().Add(49 * time.Hour).Truncate(time.Second)
	code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json",
		`{"subject":"a","audience":["b"],"expires":"`+at.Format(time.RFC3339)+`"}`)
	var issued struct{ Exp int64 }
	json.Unmarshal([]byte(body), &issued)
	if code != 201 || issued.Exp != at.Unix() {
		t.Errorf("expires %v: %d, exp %d", at, code, issued.Exp)
	}
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	code, h, body := f.do("POST", "/v1/tokens", f.admin, "application/json",
		`{"subject":"alice","audience":["https://api"],"scopes":["read","write"],"ttl":"2h","name":"alice-ci"}`)
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	var issued struct{ Token, JTI string }
	json.Unmarshal([]byte(body), &issued)
	f.seen = append(f.seen, issued.Token)
	if h.Get("Location") != "/v1/tokens/"+issued.JTI || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
	// The token verifies offline against the served key set.
	_, _, jwks := f.do("GET", "/.well-known/jwks.json", "", "", "")
	ks, _ := verifier.ParseJWKS([]byte(jwks))
	v, _ := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks})
	c, err := v.Verify(context.Background(), issued.Token)
	if err != nil || c.Subject != "alice" || c.ClientID != "alice-ci" || c.Scope != "read write" {
		t.Fatalf("issued token: %+v, %v", c, err)
	}

	code, _, body = f.do("GET", "/v1/tokens/"+issued.JTI, f.admin, "", "")
	if code != 200 || !strings.Contains(body, `"status": "active"`) || strings.Contains(body, issued.Token) {
		t.Errorf("show: %d %s", code, body)
	}
	code, _, body = f.do("GET", "/v1/whoami?audience=https://api", issued.Token, "", "")
	if code != 200 || !strings.Contains(body, `"sub":"alice"`) {
		t.Errorf("whoami: %d %s", code, body)
	}
	code, _, body = f.do("POST", "/v1/introspect", f.admin, "application/x-www-form-urlencoded", "token="+url.QueryEscape(issued.Token))
	if code != 200 || !strings.Contains(body, `"active": true`) || !strings.Contains(body, `"client_id": "alice-ci"`) {
		t.Errorf("introspect: %d %s", code, body)
	}

	code, _, body = f.do("POST", "/v1/tokens/"+issued.JTI+"/regenerate", f.admin, "application/json", `{"grace":"0s"}`)
	if code != 201 {
		t.Fatalf("regenerate: %d %s", code, body)
	}
	var regen struct{ Token, JTI string }
	json.Unmarshal([]byte(body), &regen)
	f.seen = append(f.seen, regen.Token)
	code, _, body = f.do("GET", "/v1/tokens/"+issued.JTI, f.admin, "", "")
	if !strings.Contains(body, `"status": "revoked"`) {
		t.Errorf("old token after regenerate: %d %s", code, body)
	}
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, "application/x-www-form-urlencoded", "token="+issued.Token); !strings.Contains(body, `"active": false`) {
		t.Errorf("introspect revoked: %s", body)
	}
	if _, _, body := f.do("GET", "/v1/tokens?subject=alice&status=active", f.admin, "", ""); !strings.Contains(body, regen.JTI) || strings.Contains(body, issued.JTI) {
		t.Errorf("list active: %s", body)
	}

	// Revoke every token of the subject.
	code, _, body = f.do("POST", "/v1/subjects/alice/revoke", f.admin, "application/json", `{"reason":"offboarded"}`)
	if code != 200 || !strings.Contains(body, `"kind": "subject"`) {
		t.Errorf("revoke subject: %d %s", code, body)
	}
	if code, h, _ := f.do("GET", "/v1/whoami?audience=https://api", regen.Token, "", ""); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "token revoked") {
		t.Errorf("whoami with a revoked token: %d %v", code, h)
	}
}

func TestRFC7009Revocation(t *testing.T) {
	f := newFixture(t)
	tok := f.issue("carol", []string{"https://api"})
	other := f.issue("dave", []string{"https://api"})
	form := "application/x-www-form-urlencoded"
	// Neither admin nor the token itself: refused.
	if code, _, _ := f.do("POST", "/v1/revoke", other, form, "token="+tok); code != 401 {
		t.Errorf("revoke with another token: %d, want 401", code)
	}
	// Without authentication: 401, whether the token is valid or not.
	for name, target := range map[string]string{"a valid token": tok, "an invalid one": "not-a-token"} {
		if code, _, _ := f.do("POST", "/v1/revoke", "", form, "token="+target); code != 401 {
			t.Errorf("unauthenticated revocation of %s: %d, want 401", name, code)
		}
	}
	// A malformed Authorization header is answered as on every other
	// endpoint: 400 invalid_request, saying what is wrong.
	for _, path := range []string{"/v1/revoke", "/v1/introspect"} {
		req, _ := http.NewRequest("POST", f.url+path, strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", form)
		req.Header.Add("Authorization", "Bearer "+f.admin)
		req.Header.Add("Authorization", "Bearer "+f.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 400 || !strings.Contains(h, `error="invalid_request", error_description="more than one Authorization header"`) {
			t.Errorf("%s with two Authorization headers: %d %q, want 400 invalid_request", path, resp.StatusCode, h)
		}
	}
	// An invalid token gets 200, as the RFC asks.
	if code, _, _ := f.do("POST", "/v1/revoke", f.admin, form, "token=not-a-token"); code != 200 {
		t.Errorf("invalid token: %d, want 200", code)
	}
	// The token revokes itself.
	if code, _, body := f.do("POST", "/v1/revoke", tok, form, "token="+tok); code != 200 {
		t.Fatalf("self-revocation: %d %s", code, body)
	}
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+tok); !strings.Contains(body, `"active": false`) {
		t.Errorf("after revocation: %s", body)
	}
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+other); !strings.Contains(body, `"active": true`) {
		t.Errorf("other token: %s", body)
	}
	// The scheme is case-insensitive (RFC 7235).
	third := f.issue("erin", []string{"https://api"})
	req, _ := http.NewRequest("POST", f.url+"/v1/revoke", strings.NewReader("token="+third))
	req.Header.Set("Content-Type", form)
	req.Header.Set("Authorization", "bearer "+third)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+third); resp.StatusCode != 200 || !strings.Contains(body, `"active": false`) {
		t.Errorf(`self-revocation with "bearer": %d, then %s`, resp.StatusCode, body)
	}
}

// manyScopes is a JSON array of 64 scopes of 256 bytes: within the limits
// on each field, and a token far beyond the verifiers' 8 KiB.
var manyScopes = func() string {
	scopes := make([]string, 64)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("%03d", i) + strings.Repeat("s", 253)
	}
	b, _ := json.Marshal(scopes)
	return string(b)
}()

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path, ct, body string
		code                         int
	}{
		{"malformed JSON", "POST", "/v1/tokens", "application/json", `{"subject":`, 400},
		{"unknown field", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"admin":true}`, 400},
		{"trailing data", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"]} {}`, 400},
		{"field name in another case", "POST", "/v1/tokens", "application/json", `{"SUBJECT":"a","audience":["b"]}`, 400},
		{"field twice", "POST", "/v1/tokens", "application/json", `{"subject":"a","subject":"c","audience":["b"]}`, 400},
		{"null body", "POST", "/v1/tokens", "application/json", `null`, 400},
		{"empty member name", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"":1}`, 400},
		{"revoke with an unknown field", "POST", "/v1/tokens/nope/revoke", "application/json", `{"reson":"typo"}`, 400},
		{"wrong content type", "POST", "/v1/tokens", "text/plain", `{"subject":"a","audience":["b"]}`, 415},
		{"oversized body", "POST", "/v1/tokens", "application/json", `{"subject":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
		{"invalid request", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"100000h"}`, 400},
		{"bad ttl", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"soon"}`, 400},
		{"ttl zero", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"0s"}`, 400},
		{"ttl zero days", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"0d"}`, 400},
		{"ttl zero seconds", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":0}`, 400},
		{"ttl negative", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"-1d"}`, 400},
		{"expires in the past", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"expires":"2001-01-01T00:00:00Z"}`, 400},
		{"expires the zero time", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"expires":"0001-01-01T00:00:00Z"}`, 400},
		{"expires and ttl", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"ttl":"1h","expires":"2999-01-01T00:00:00Z"}`, 400},
		{"expires not a time", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"expires":"tomorrow"}`, 400},
		{"bad scope", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"scopes":["a b"]}`, 400},
		{"subject with ESC", "POST", "/v1/tokens", "application/json", `{"subject":"a\u001b[2J","audience":["b"]}`, 400},
		{"subject with a right-to-left override", "POST", "/v1/tokens", "application/json", `{"subject":"a\u202eb","audience":["b"]}`, 400},
		{"name with a line separator", "POST", "/v1/tokens", "application/json", `{"subject":"a","name":"x\u2028y","audience":["b"]}`, 400},
		{"audience with a zero width space", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b\u200b"]}`, 400},
		{"token too large", "POST", "/v1/tokens", "application/json", `{"subject":"a","audience":["b"],"scopes":` + manyScopes + `}`, 400},
		{"reason with a newline", "POST", "/v1/tokens/nope/revoke", "application/json", `{"reason":"ok\nwrit: forged"}`, 400},
		{"reason too long", "POST", "/v1/tokens/nope/revoke", "application/json", `{"reason":"` + strings.Repeat("a", 60<<10) + `"}`, 400},
		{"subject revocation reason with a zero width space", "POST", "/v1/subjects/a/revoke", "application/json", `{"reason":"x\u200b"}`, 400},
		{"regeneration reason with a paragraph separator", "POST", "/v1/tokens/nope/regenerate", "application/json", `{"reason":"x\u2029"}`, 400},
		{"subject revocation before year 1 (read as now)", "POST", "/v1/subjects/a/revoke", "application/json", `{"before":"0001-01-01T00:00:00Z"}`, 400},
		{"subject revocation before 1970", "POST", "/v1/subjects/a/revoke", "application/json", `{"before":"1969-12-31T23:59:59Z"}`, 400},
		{"unknown jti", "GET", "/v1/tokens/nope", "", "", 404},
		{"revoke unknown", "POST", "/v1/tokens/nope/revoke", "", "", 404},
		{"unknown query", "GET", "/v1/tokens?sbuject=a", "", "", 400},
		{"bad status", "GET", "/v1/tokens?status=gone", "", "", 400},
		{"bad since", "GET", "/v1/revocations?since=-1", "", "", 400},
		{"introspect without form", "POST", "/v1/introspect", "application/json", `{"token":"x"}`, 415},
		{"introspect two tokens", "POST", "/v1/introspect", "application/x-www-form-urlencoded", "token=a&token=b", 400},
		{"no such endpoint", "GET", "/v2/tokens", "", "", 404},
		{"wrong method", "DELETE", "/.well-known/jwks.json", "", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := f.do(tt.method, tt.path, f.admin, tt.ct, tt.body)
			if code != tt.code {
				t.Errorf("%d %s, want %d", code, body, tt.code)
			}
			if code != 404 && code != 405 && !strings.Contains(h.Get("Content-Type"), "json") {
				t.Errorf("error body is %q, not JSON", h.Get("Content-Type"))
			}
		})
	}
	// Still healthy.
	if code, _, _ := f.do("GET", "/readyz", "", "", ""); code != 200 {
		t.Errorf("readyz: %d", code)
	}
}

// TestFeedAheadAndReplayed: a reader beyond the list's sequence (the
// database was restored from a backup) gets 409, which the remote feed
// reports as revoked.ErrAhead; a replayed old feed document leaves a
// snapshot as stale as the document.
func TestFeedAheadAndReplayed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if code, _, body := f.do("GET", "/v1/revocations?since=99", "", "", ""); code != 409 || !strings.Contains(body, "since_ahead") {
		t.Errorf("since beyond the list: %d %s, want 409 since_ahead", code, body)
	}
	jwks := f.remoteKeys()
	feed := f.remoteFeed(jwks, nil)
	if _, err := feed.Changes(ctx, 99); !errors.Is(err, revoked.ErrAhead) {
		t.Errorf("remote feed beyond the list: %v, want ErrAhead", err)
	}
	b, err := feed.Changes(ctx, 0)
	if err != nil || b.Epoch == "" || time.Since(b.AsOf) > time.Minute {
		t.Fatalf("feed: epoch %q, as of %v, %v", b.Epoch, b.AsOf, err)
	}

	_, _, doc := f.do("GET", "/v1/revocations", "", "", "")
	replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, doc) }))
	defer replay.Close()
	replayed := f.remoteFeed(jwks, func(c *remote.FeedConfig) { c.URL = replay.URL })
	later := func() time.Time { return time.Now().Add(time.Hour) }
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: replayed, MaxStaleness: 10 * time.Minute, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if got := snap.Staleness(); got < 59*time.Minute {
		t.Errorf("staleness after a feed signed an hour before: %v", got)
	}
	if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: "x"}); !errors.Is(err, revoked.ErrStale) {
		t.Errorf("check against a replayed feed: %v, want ErrStale", err)
	}
}

// TestPrivateFeed: with PrivateFeed, the revocation feed answers only a
// token of the server with FeedScope; a remote feed presents one.
func TestPrivateFeed(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.PrivateFeed = true })
	ctx := context.Background()
	f.issue("mallory", []string{"https://api"})
	if _, err := f.list.RevokeSubject(ctx, "mallory", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	feedToken := f.issue("verifier-1", []string{f.url}, server.FeedScope)
	for _, tc := range []struct {
		name, token string
		code        int
		challenge   string
	}{
		{"no token", "", 401, `Bearer realm="writ"`},
		{"admin token", f.admin, 403, `error="insufficient_scope"`},
		{"token for another audience", f.issue("verifier-2", []string{"https://api"}, server.FeedScope), 401, `error="invalid_token"`},
		{"feed token", feedToken, 200, ""},
	} {
		code, h, body := f.do("GET", "/v1/revocations", tc.token, "", "")
		if code != tc.code || !strings.Contains(h.Get("WWW-Authenticate"), tc.challenge) {
			t.Errorf("%s: %d, WWW-Authenticate %q; want %d, %q", tc.name, code, h.Get("WWW-Authenticate"), tc.code, tc.challenge)
		}
		if code != 200 && strings.Contains(body, "mallory") {
			t.Errorf("%s: the refused answer names a revoked subject", tc.name)
		}
	}

	jwks := f.remoteKeys()
	anonymous := f.remoteFeed(jwks, nil)
	if _, err := anonymous.Changes(ctx, 0); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), server.FeedScope) {
		t.Errorf("private feed without a token: %v, want a 401 naming the scope", err)
	}
	feed := f.remoteFeed(jwks, func(c *remote.FeedConfig) {
		c.Token = func(context.Context) (string, error) { return feedToken, nil }
	})
	b, err := feed.Changes(ctx, 0)
	if err != nil || len(b.Subjects) != 1 || b.Subjects[0].Subject != "mallory" {
		t.Fatalf("private feed with a token: %+v, %v", b, err)
	}
	failing := f.remoteFeed(jwks, func(c *remote.FeedConfig) {
		c.Token = func(context.Context) (string, error) { return "", errors.New("token file unreadable") }
	})
	if _, err := failing.Changes(ctx, 0); err == nil || !strings.Contains(err.Error(), "token file unreadable") {
		t.Errorf("token source failing: %v", err)
	}
}

// TestServePrunes: the server prunes, on its own, the revocations whose
// tokens have all expired, and records that in the audit log.
func TestServePrunes(t *testing.T) {
	f := newFixture(t, func(c *server.Config, db *sqlite.DB) {
		c.RotationCheck = 20 * time.Millisecond
		// The server's clock for the list runs two hours ahead.
		later, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: issuer.DefaultMaxTTL,
			Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Revocations = later
	})
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "heidi", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, err := f.list.Entries(ctx, revocation.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry of an expired token still there: %+v", entries)
		}
	}
	log, err := audit.NewLog(f.db)
	if err != nil {
		t.Fatal(err)
	}
	events, err := log.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var prunes []audit.Event
	for _, e := range events {
		if e.Action == audit.Prune {
			prunes = append(prunes, e)
		}
	}
	if len(prunes) != 1 || prunes[0].Actor != "serve" || prunes[0].Detail != "1 entries" {
		t.Errorf("audit of the prune: %+v", prunes)
	}
}

// TestClientGoneAway: a request whose client has left while it was served
// is not a server error: no ERROR log, and a 499 for the metrics.
func TestClientGoneAway(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", f.url+"/v1/tokens", strings.NewReader(`{"subject":"a","audience":["b"]}`))
	req.Header.Set("Authorization", "Bearer "+f.admin)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Errorf("issuance for a client that left: %d %s, want 499", rec.Code, rec.Body)
	}
	logs := f.logs.String()
	if strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "request abandoned by the client") {
		t.Errorf("logs: %s", logs)
	}

	// A revocation or a regeneration, once started, completes: the client
	// may send one and leave.
	send := func(path string) int {
		req := httptest.NewRequestWithContext(ctx, "POST", f.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.admin)
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	revoked, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: "frank", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	regenerated, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: "grace", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	if code := send("/v1/tokens/" + revoked.ID + "/revoke"); code != 200 {
		t.Errorf("revoke for a client that left: %d", code)
	}
	if code := send("/v1/tokens/" + regenerated.ID + "/regenerate"); code != 201 {
		t.Errorf("regenerate for a client that left: %d", code)
	}
	for _, jti := range []string{revoked.ID, regenerated.ID} {
		if _, _, body := f.do("GET", "/v1/tokens/"+jti, f.admin, "", ""); !strings.Contains(body, `"status": "revoked"`) {
			t.Errorf("token %s after its client left: %s", jti, body)
		}
	}
}

func TestRevocationFeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	jwks := f.remoteKeys()
	feed := f.remoteFeed(jwks, nil)
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "erin", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	v, err := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys: jwks, Revocation: snap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeSubject(ctx, "erin", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if snap.Seq() != 2 {
		t.Errorf("snapshot at seq %d, want 2", snap.Seq())
	}
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("after the feed refresh: %v, want ErrRevoked", err)
	}
	// Conditional requests: nothing new means 304.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, h, _ := f.do("GET", "/v1/revocations?since=2", "", "", "")
		code, _, _ := f.do("GET", "/v1/revocations?since=2", "", "", "", "If-None-Match", h.Get("ETag"))
		if code == 304 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conditional feed request: %d, want 304", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A feed signed for another issuer is refused.
	other := f.remoteFeed(jwks, func(c *remote.FeedConfig) { c.Issuer = "https://elsewhere" })
	if _, err := other.Changes(ctx, 0); err == nil {
		t.Error("feed of another issuer accepted")
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"a","audience":["b"]}`)
	f.issue("b", []string{"c"}) // as writ token issue does, in another process
	valid := f.issue("c", []string{f.url})
	header, payload, _ := strings.Cut(valid, ".")
	forged := header + "." + strings.Split(payload, ".")[0] + "." + strings.Repeat("A", 86)
	form := "application/x-www-form-urlencoded"
	f.do("GET", "/v1/whoami", valid, "", "")                                    // valid
	f.do("GET", "/v1/whoami", forged, "", "")                                   // bad_signature
	f.do("GET", "/v1/whoami", "not.a.token", "", "")                            // malformed
	f.do("GET", "/v1/whoami", "", "", "")                                       // no token: not a verification
	f.do("POST", "/v1/introspect", f.admin, form, "token="+forged)              // bad_signature
	f.do("POST", "/v1/revoke", f.admin, form, "token="+url.QueryEscape(forged)) // bad_signature
	f.do("POST", "/v1/revoke", valid, form, "token="+valid)                     // valid, then revoked
	f.do("GET", "/v1/whoami", valid, "", "")                                    // revoked
	code, _, body := f.do("GET", "/metrics", "", "", "")
	for _, want := range []string{
		"# HELP writ_tokens_issued_total Tokens issued through this server's admin API (issue and regenerate), by format; not those of the writ CLI.",
		`writ_tokens_issued_total{format="jwt"} 1` + "\n",
		`writ_verifications_total{result="valid"} 2` + "\n",
		`writ_verifications_total{result="bad_signature"} 3` + "\n",
		`writ_verifications_total{result="malformed"} 1` + "\n",
		`writ_verifications_total{result="revoked"} 1` + "\n",
		`writ_revocations_total{kind="token"} 1` + "\n",
		"writ_http_request_duration_seconds_bucket", "writ_key_age_seconds",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestListTokensByStatus: the status filter comes before the limit, so
// that older revoked tokens are found behind newer active ones.
func TestListTokensByStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var revoked []string
	for _, subject := range []string{"alice", "bob"} {
		tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: subject, Audience: []string{"api"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
		revoked = append([]string{tok.ID}, revoked...)
	}
	for range 3 {
		f.issue("carol", []string{"api"})
	}
	code, _, body := f.do("GET", "/v1/tokens?status=revoked&limit=2", f.admin, "", "")
	var got struct{ Tokens []issuer.Record }
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	var ids []string
	for _, r := range got.Tokens {
		ids = append(ids, r.ID)
		if r.Status != issuer.StatusRevoked {
			t.Errorf("%s has status %q", r.ID, r.Status)
		}
	}
	if strings.Join(ids, " ") != strings.Join(revoked, " ") {
		t.Errorf("revoked tokens listed: %v, want %v", ids, revoked)
	}
}

// TestLogsArePlain: a request path or error quoting what a client sent is
// logged escaped: one line per record, no terminal escape, no C1 control,
// no reordering, whatever the handler makes of such characters.
func TestLogsArePlain(t *testing.T) {
	f := newFixture(t)
	f.db.Close() // every admin request now fails, and is logged with its path
	code, _, _ := f.do("GET", "/v1/tokens/x%1B[2J%0D%0Aforged%C2%9B31m%E2%80%AE%E2%80%A8", f.admin, "", "")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `x\\x1b[2J\\r\\nforged\\u009b31m\\u202e\\u2028`) {
		t.Errorf("logs lack the escaped path:\n%s", logs)
	}
	for _, line := range strings.Split(strings.TrimSuffix(logs, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %q: %v", line, err)
		}
	}
	if strings.ContainsAny(logs, "\x1b\r\u009b\u202e\u2028") {
		t.Errorf("logs carry raw control or invisible characters: %q", logs)
	}
}

// TestConfigDurationsBounded: a negative max-age or refresh interval, or
// one so long that the times computed from it would overflow, is refused:
// the key sets never say max-age=-300.
func TestConfigDurationsBounded(t *testing.T) {
	f := newFixture(t)
	for name, mod := range map[string]func(*server.Config){
		"negative MaxAge":  func(c *server.Config) { c.MaxAge = -5 * time.Minute },
		"huge MaxAge":      func(c *server.Config) { c.MaxAge = math.MaxInt64 - time.Second },
		"negative Refresh": func(c *server.Config) { c.Refresh = -time.Second },
		"huge Refresh":     func(c *server.Config) { c.Refresh = math.MaxInt64 / 2 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := server.Config{Issuer: f.url, Ping: f.db.Ping, Ring: f.ring, Tokens: f.tokens, Revocations: f.list}
			mod(&cfg)
			srv, err := server.New(context.Background(), cfg)
			if err == nil {
				srv.Close()
				t.Fatal("New accepted it")
			}
		})
	}
}
