package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
)

// withConsole serves the console on a fixture's server.
func withConsole(cfg *server.Config, db *sqlite.DB) { consoleOn(cfg, db) }

// consoleOn serves the console on a server over db.
func consoleOn(cfg *server.Config, db store.Store) {
	var err error
	if cfg.Audit, err = audit.NewLog(db); err != nil {
		panic(err)
	}
	if cfg.Sessions, err = session.New(session.Config{Store: db, Issuer: cfg.Issuer}); err != nil {
		panic(err)
	}
}

// browser is a client of the console that keeps cookies and does not
// follow redirects, so that tests see them.
type browser struct {
	t    *testing.T
	f    *fixture
	c    *http.Client
	last string // the body of the last page
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer of the console.
type page struct {
	status   int
	location string
	header   http.Header
	body     string
}

// do sends a request with hdr (name, value pairs) and checks what every
// answer of the console must hold.
func (b *browser) do(method, path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := page{resp.StatusCode, resp.Header.Get("Location"), resp.Header, string(raw)}
	b.last = p.body
	if strings.HasPrefix(path, "/ui/") {
		b.checkHeaders(method+" "+path, p)
	}
	return p
}

// checkHeaders checks the headers of every answer of the console, and
// that no token issued so far is in a URL it sends to.
func (b *browser) checkHeaders(what string, p page) {
	b.t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := p.header.Get(name); got != want {
			b.t.Errorf("%s: %s is %q, want %q", what, name, got, want)
		}
	}
	for _, tok := range b.f.seen {
		if strings.Contains(p.location, tok) {
			b.t.Errorf("%s: a token in the Location header", what)
		}
	}
	for _, m := range hrefs.FindAllStringSubmatch(p.body, -1) {
		for _, tok := range b.f.seen {
			if strings.Contains(m[1], tok) {
				b.t.Errorf("%s: a token in a URL of the page", what)
			}
		}
	}
	if inline.MatchString(p.body) {
		b.t.Errorf("%s: inline script or style: %s", what, inline.FindString(p.body))
	}
}

var (
	hrefs  = regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)
	inline = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|<[^>]*\s(?:style|on[a-z]+)=`)
	csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// csrf returns the CSRF value of the forms of the last page.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfRe.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF field on the page:\n%s", b.last)
	}
	return m[1]
}

// post sends a form from the page last fetched, with its CSRF value.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf())
	}
	return b.do("POST", path, form)
}

// cookies returns the browser's console cookies, to present them again
// with setCookies.
func (b *browser) cookies() []*http.Cookie {
	b.t.Helper()
	cs := b.c.Jar.Cookies(b.ui())
	if len(cs) == 0 {
		b.t.Fatal("no session cookie")
	}
	for _, c := range cs {
		c.Path = "/ui/" // as the console sets them: they replace those it set since
	}
	return cs
}

func (b *browser) setCookies(cs []*http.Cookie) { b.c.Jar.SetCookies(b.ui(), cs) }

func (b *browser) ui() *url.URL {
	u, err := url.Parse(b.f.url + "/ui/")
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// signIn signs in with token and checks that it worked.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do("GET", "/ui/login", nil)
	if p := b.post("/ui/login", url.Values{"token": {token}}); p.status != http.StatusSeeOther || p.location != "/ui/tokens" {
		b.t.Fatalf("sign-in: %d to %q, want 303 to /ui/tokens:\n%s", p.status, p.location, p.body)
	}
}

// issueRequest issues a token as req asks, for a test.
func (f *fixture) issueRequest(req issuer.Request) *issuer.Token {
	f.t.Helper()
	tok, err := f.tokens.Issue(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	return tok
}

// revoke revokes the token jti through the admin API, which has the
// server enforce it at once.
func (f *fixture) revoke(jti string) {
	f.t.Helper()
	if status, _, body := f.do("POST", "/v1/tokens/"+jti+"/revoke", f.admin, "", ""); status != http.StatusOK {
		f.t.Fatalf("revoke: %d %s", status, body)
	}
}

// hasError reports whether the page says that something went wrong.
func hasError(p page) bool {
	return strings.Contains(p.body, `class="error" role="alert"`)
}

func TestConsoleSignIn(t *testing.T) {
	f := newFixture(t, withConsole)
	then := func() time.Time { return time.Now().Add(-2 * time.Hour) } // issued, and recorded, then
	past, err := issuer.New(issuer.Config{Issuer: f.url, Keys: f.ring, Store: f.db, Now: then, UnsafeDatabaseNow: then})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := past.Issue(context.Background(), issuer.Request{Subject: "old", Audience: []string{f.url}, Scopes: []string{server.AdminScope}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.seen = append(f.seen, expired.Token)
	revoked := f.issueRequest(issuer.Request{Subject: "gone", Audience: []string{f.url}, Scopes: []string{server.AdminScope}})
	f.revoke(revoked.ID)
	for _, tc := range []struct {
		name, token string
		status      int
		says        string
	}{
		{"admin", f.admin, http.StatusSeeOther, ""},
		{"delegated", f.issue("dana", []string{f.url}, issuer.IssueScope), http.StatusSeeOther, ""},
		{"wrong scope", f.issue("eve", []string{f.url}, "orders:read"), http.StatusForbidden, "needs the scope"},
		{"wrong audience", f.issue("eve", []string{"https://api.example"}, server.AdminScope), http.StatusUnauthorized, "audience"},
		{"revoked", revoked.Token, http.StatusUnauthorized, "revoked"},
		{"garbage", "not a token <script>", http.StatusUnauthorized, "not a valid writ token"},
		{"empty", "", http.StatusBadRequest, "Paste a writ token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.browser(t)
			b.do("GET", "/ui/login", nil)
			p := b.post("/ui/login", url.Values{"token": {tc.token}})
			if p.status != tc.status || !strings.Contains(p.body, tc.says) {
				t.Fatalf("status %d, want %d saying %q:\n%s", p.status, tc.status, tc.says, p.body)
			}
			if tc.token != "" && strings.Contains(p.body, tc.token) {
				t.Error("the refused token is written back into the page")
			}
			signedIn := b.do("GET", "/ui/tokens", nil).status == http.StatusOK
			if signedIn != (tc.status == http.StatusSeeOther) {
				t.Errorf("signed in: %v", signedIn)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		b := f.browser(t)
		b.do("GET", "/ui/login", nil)
		p := b.post("/ui/login", url.Values{"token": {expired.Token}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "expired") {
			t.Errorf("an expired token: %d:\n%s", p.status, p.body)
		}
	})
}

// sessions returns the console's sessions on f's database, with clock
// now (nil: time.Now).
func (f *fixture) sessions(now func() time.Time) *session.Store {
	f.t.Helper()
	st, err := session.New(session.Config{Store: f.db, Issuer: f.url, Now: now})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func TestConsoleLink(t *testing.T) {
	f := newFixture(t, withConsole)
	ctx := context.Background()
	link := func(st *session.Store, scope string) (string, *issuer.Token) {
		req := issuer.Request{Subject: "ops", Audience: []string{f.url}, Scopes: []string{scope}, TTL: time.Hour}
		tok := f.issueRequest(req)
		rec, err := f.tokens.Get(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		code, err := st.Link(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		return "/ui/login/" + code, tok
	}
	t.Run("once", func(t *testing.T) {
		path, _ := link(f.sessions(nil), server.AdminScope)
		b := f.browser(t)
		for range 2 { // a preview's GET leaves the link
			if p := b.do("GET", path, nil); p.status != http.StatusOK || !strings.Contains(p.body, `<form id="link-login" method="post">`) {
				t.Fatalf("GET of the link: %d:\n%s", p.status, p.body)
			}
		}
		if p := b.post(path, nil); p.status != http.StatusSeeOther || p.location != "/ui/tokens" {
			t.Fatalf("POST of the link: %d to %q:\n%s", p.status, p.location, p.body)
		}
		if p := b.do("GET", "/ui/tokens", nil); p.status != http.StatusOK || !strings.Contains(p.body, `<strong id="whoami">ops</strong>`) {
			t.Errorf("after the link: %d:\n%s", p.status, p.body)
		}
		other := f.browser(t)
		other.do("GET", path, nil)
		if p := other.post(path, nil); p.status != http.StatusNotFound || !hasError(p) {
			t.Errorf("the link taken twice: %d:\n%s", p.status, p.body)
		}
	})
	t.Run("delegated, scopes repeated", func(t *testing.T) {
		// The session holds the claims as recorded (scopes deduplicated),
		// which delegation checks against the ledger.
		req := issuer.Request{Subject: "ops", Audience: []string{f.url, "https://api.example"},
			Scopes: []string{issuer.IssueScope, "orders:read", "orders:read"}, TTL: time.Hour}
		rec, err := f.tokens.Get(ctx, f.issueRequest(req).ID)
		if err != nil {
			t.Fatal(err)
		}
		code, err := f.sessions(nil).Link(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		b := f.browser(t)
		b.do("GET", "/ui/login/"+code, nil)
		if p := b.post("/ui/login/"+code, nil); p.status != http.StatusSeeOther {
			t.Fatalf("POST of the link: %d:\n%s", p.status, p.body)
		}
		b.shown(b.create(url.Values{"subject": {"ops"}, "audience": {"https://api.example"}, "scope": {"orders:read"}, "lifetime": {"token"}}))
	})
	t.Run("expired", func(t *testing.T) {
		path, _ := link(f.sessions(func() time.Time { return time.Now().Add(-time.Hour) }), server.AdminScope)
		b := f.browser(t)
		b.do("GET", path, nil)
		if p := b.post(path, nil); p.status != http.StatusNotFound || !hasError(p) {
			t.Errorf("an expired link: %d:\n%s", p.status, p.body)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		path, tok := link(f.sessions(nil), server.AdminScope)
		f.revoke(tok.ID)
		b := f.browser(t)
		b.do("GET", path, nil)
		if p := b.post(path, nil); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "revoked") {
			t.Errorf("the link of a revoked token: %d:\n%s", p.status, p.body)
		}
		if p := b.do("GET", "/ui/tokens", nil); p.status != http.StatusSeeOther {
			t.Errorf("signed in by the link of a revoked token: %d", p.status)
		}
	})
	t.Run("malformed code", func(t *testing.T) {
		b := f.browser(t)
		b.do("GET", "/ui/login/junk", nil)
		if p := b.post("/ui/login/junk", nil); p.status != http.StatusNotFound || !hasError(p) {
			t.Errorf("a junk code: %d:\n%s", p.status, p.body)
		}
	})
}

func TestConsoleSessionEnds(t *testing.T) {
	f := newFixture(t, withConsole)
	signedIn := func(b *browser) bool {
		b.t.Helper()
		p := b.do("GET", "/ui/tokens", nil)
		if p.status == http.StatusSeeOther && p.location != "/ui/login" {
			b.t.Errorf("sent to %q", p.location)
		}
		return p.status == http.StatusOK
	}
	t.Run("token revoked", func(t *testing.T) {
		tok := f.issueRequest(issuer.Request{Subject: "ann", Audience: []string{f.url}, Scopes: []string{server.AdminScope}})
		b := f.browser(t)
		b.signIn(tok.Token)
		if !signedIn(b) {
			t.Fatal("not signed in")
		}
		f.revoke(tok.ID)
		if signedIn(b) {
			t.Error("the session outlived its token's revocation")
		}
	})
	t.Run("subject revoked", func(t *testing.T) {
		tok := f.issueRequest(issuer.Request{Subject: "bob", Audience: []string{f.url}, Scopes: []string{server.AdminScope}})
		b := f.browser(t)
		b.signIn(tok.Token)
		if status, _, body := f.do("POST", "/v1/subjects/bob/revoke", f.admin, "", ""); status != http.StatusOK {
			t.Fatalf("revoke subject: %d %s", status, body)
		}
		if signedIn(b) {
			t.Error("the session outlived its subject's revocation")
		}
	})
	t.Run("sign out", func(t *testing.T) {
		b := f.browser(t)
		b.signIn(f.admin)
		cookies := b.cookies()
		b.do("GET", "/ui/tokens", nil)
		if p := b.post("/ui/logout", nil); p.status != http.StatusSeeOther || p.location != "/ui/login" {
			t.Fatalf("sign out: %d to %q", p.status, p.location)
		}
		if signedIn(b) {
			t.Error("signed in after signing out")
		}
		// The old cookie, presented again, opens nothing.
		b.setCookies(cookies)
		if signedIn(b) {
			t.Error("the session's cookie still works after signing out")
		}
	})
	t.Run("signing in again", func(t *testing.T) {
		b := f.browser(t)
		b.signIn(f.admin)
		first := b.cookies()
		b.signIn(f.admin)
		if !signedIn(b) {
			t.Fatal("not signed in")
		}
		b.setCookies(first)
		if signedIn(b) {
			t.Error("the session of the first sign-in outlived the second")
		}
	})
	t.Run("key compromised", func(t *testing.T) {
		tok := f.issueRequest(issuer.Request{Subject: "cy", Audience: []string{f.url}, Scopes: []string{server.AdminScope}})
		victim, other := f.browser(t), f.browser(t)
		victim.signIn(tok.Token)
		other.signIn(f.issue("dee", []string{f.url}, server.AdminScope))
		other.do("GET", "/ui/keys", nil)
		if p := other.post("/ui/keys/compromise", url.Values{"kid": {tok.KeyID}, "confirm": {tok.KeyID}, "reason": {"leaked"}}); p.status != http.StatusSeeOther {
			t.Fatalf("compromise: %d:\n%s", p.status, p.body)
		}
		if signedIn(victim) || signedIn(other) {
			t.Error("a session outlived its key's compromise")
		}
	})
}

func TestConsoleCookie(t *testing.T) {
	f := newFixture(t, withConsole)
	b := f.browser(t)
	b.do("GET", "/ui/login", nil)
	p := b.post("/ui/login", url.Values{"token": {f.admin}})
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "writ_session" {
			session = c
		}
	}
	switch {
	case session == nil:
		t.Fatal("no writ_session cookie")
	case !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui/" || session.MaxAge <= 0:
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/ and an expiry", session)
	case strings.Contains(session.Value, f.admin) || len(session.Value) != 43:
		t.Errorf("the session cookie is not a random id: %q", session.Value)
	}
}

func TestConsoleCSRF(t *testing.T) {
	f := newFixture(t, withConsole)
	b := f.browser(t)
	b.signIn(f.admin)
	b.do("GET", "/ui/tokens/new", nil)
	good := b.csrf()
	form := func(csrf string) url.Values {
		v := url.Values{"subject": {"s"}, "audience": {"https://api.example"}, "lifetime": {"7d"}}
		if csrf != "-" {
			v.Set("csrf", csrf)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
		want int
	}{
		{"no field", form("-"), nil, http.StatusForbidden},
		{"empty field", form(""), nil, http.StatusForbidden},
		{"wrong field", form(good[:len(good)-2] + "AA"), nil, http.StatusForbidden},
		{"cross-site fetch", form(good), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-site origin", form(good), []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"same origin", form(good), []string{"Sec-Fetch-Site", "same-origin", "Origin", f.url}, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.do("POST", "/ui/tokens", tc.form, tc.hdr...)
			if p.status != tc.want {
				t.Errorf("status %d, want %d:\n%s", p.status, tc.want, p.body)
			}
			if tc.want == http.StatusForbidden && (p.location != "" || strings.Contains(p.body, `id="new-token"`)) {
				t.Error("a forged request issued a token")
			}
			if tc.want == http.StatusSeeOther {
				b.shown(p)
			}
		})
	}
	t.Run("another session's field", func(t *testing.T) {
		other := f.browser(t)
		other.signIn(f.issue("other", []string{f.url}, server.AdminScope))
		other.do("GET", "/ui/tokens", nil)
		if p := b.do("POST", "/ui/tokens", form(other.csrf())); p.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", p.status)
		}
	})
	t.Run("sign-in", func(t *testing.T) {
		fresh := f.browser(t)
		if p := fresh.do("POST", "/ui/login", url.Values{"token": {f.admin}}); p.status != http.StatusForbidden {
			t.Errorf("a sign-in without the form's CSRF value: %d", p.status)
		}
		fresh.do("GET", "/ui/login", nil)
		if p := fresh.do("POST", "/ui/login", url.Values{"token": {f.admin}, "csrf": {fresh.csrf()}}, "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
			t.Errorf("a cross-site sign-in: %d", p.status)
		}
	})
}

// adminJTI returns the jti of the fixture's admin token.
func (f *fixture) adminJTI(t *testing.T) string {
	recs, err := f.tokens.List(context.Background(), issuer.Filter{Subject: "admin"})
	if err != nil || len(recs) == 0 {
		t.Fatalf("the admin's token: %v, %v", recs, err)
	}
	return recs[len(recs)-1].ID
}

var newTokenRe = regexp.MustCompile(`<input id="new-token" readonly value="([^"]+)"`)

// create fills in the form of a new token and returns the page.
func (b *browser) create(form url.Values) page {
	b.t.Helper()
	b.do("GET", "/ui/tokens/new", nil)
	return b.post("/ui/tokens", form)
}

var createdRe = regexp.MustCompile(`^/ui/tokens/[A-Za-z0-9_-]+/created$`)

// shown follows p, the answer of a form that issued a token, to the page
// that shows the token, and returns that page and the token: p must send
// there (303), and neither p nor its Location may hold the token.
func (b *browser) shown(p page) (page, string) {
	b.t.Helper()
	if p.status != http.StatusSeeOther || !createdRe.MatchString(p.location) {
		b.t.Fatalf("issuing: %d to %q, want 303 to /ui/tokens/JTI/created:\n%s", p.status, p.location, p.body)
	}
	shown := b.do("GET", p.location, nil)
	m := newTokenRe.FindStringSubmatch(shown.body)
	if shown.status != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, without the token:\n%s", p.location, shown.status, shown.body)
	}
	tok := m[1]
	if strings.Contains(p.location, tok) || strings.Contains(p.body, tok) || strings.Contains(fmt.Sprint(p.header), tok) {
		b.t.Error("the token is in the answer of the form that issued it, or in its Location")
	}
	b.f.seen = append(b.f.seen, tok)
	return shown, tok
}

func TestConsolePages(t *testing.T) {
	f := newFixture(t, withConsole)
	if _, err := f.tokens.DefineResourceType(context.Background(), issuer.ResourceType{Name: "orders", Actions: []string{"read", "write"}}, "test"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	hostile := `<script>alert(1)</script>"'&`
	p, tok := b.shown(b.create(url.Values{"name": {hostile}, "subject": {"carol"}, "audience": {"https://api.example"},
		"description": {`"><img src=x onerror=alert(1)>`}, "scope": {"orders:read"}, "scopes": {"reports"},
		"lifetime": {"30d"}, "allow_ip": {"10.0.0.0/8\n\n192.0.2.1\n"}}))
	if !strings.Contains(p.body, `id="copy"`) || !strings.Contains(p.body, "shown once") {
		t.Fatalf("create:\n%s", p.body)
	}
	ks, err := f.ring.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api.example", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, UnsafeAnyClient: true})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Scope != "orders:read reports" || claims.Subject != "carol" || len(claims.AllowedIPs) != 2 {
		t.Errorf("the token's claims: %+v", claims)
	}
	jti := claims.ID
	pages := []string{"/ui/tokens", "/ui/tokens?subject=carol&status=active&expiring=30d", "/ui/tokens/new", "/ui/tokens/" + jti,
		"/ui/keys", "/ui/audit", "/ui/audit?jti=" + jti, "/ui/revocations", "/ui/static/console.css", "/ui/static/console.js"}
	for _, path := range pages {
		p := b.do("GET", path, nil)
		if p.status != http.StatusOK {
			t.Errorf("GET %s: %d:\n%s", path, p.status, p.body)
		}
		if strings.Contains(p.body, tok) {
			t.Errorf("GET %s shows the token again", path)
		}
		if strings.Contains(p.body, hostile) || strings.Contains(p.body, "<img src=x") {
			t.Errorf("GET %s: a name or description is not escaped", path)
		}
	}
	for _, tc := range []struct {
		query string
		found bool
	}{{"q=carol", true}, {"q=aro", true}, {"q=script", true}, {"q=Carol", true}, {"q=SCRIPT", true}, {"q=%C3%A7arol", false},
		{"q=carol&subject=admin", false}, {"q=carol&status=revoked", false}} {
		p := b.do("GET", "/ui/tokens?"+tc.query, nil)
		if strings.Contains(p.body, `<tr data-jti="`+jti+`">`) != tc.found || strings.Contains(p.body, `data-jti="`+f.adminJTI(t)+`"`) {
			t.Errorf("GET /ui/tokens?%s: found %v, want %v, and not the admin's token:\n%s", tc.query, !tc.found, tc.found, p.body)
		}
	}
	for path, want := range map[string]string{
		"/ui/tokens":               `<tr data-jti="` + jti + `">`,
		"/ui/tokens/" + jti:        `<span id="status" class="status status-active">active</span>`,
		"/ui/tokens/" + jti + "#a": `&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;`,
		"/ui/audit?jti=" + jti:     "token.issue",
		"/ui/keys":                 `data-state="active"`,
	} {
		if p := b.do("GET", path, nil); !strings.Contains(p.body, want) {
			t.Errorf("GET %s lacks %q:\n%s", path, want, p.body)
		}
	}
	for _, path := range []string{"/ui/", "/ui/tokens", "/ui/keys", "/ui/nope"} {
		anon := f.browser(t)
		p := anon.do("GET", path, nil)
		if path == "/ui/nope" {
			if p.status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, p.status)
			}
			continue
		}
		if p.status != http.StatusSeeOther || p.location != "/ui/login" {
			t.Errorf("signed out, GET %s: %d to %q; want 303 to /ui/login", path, p.status, p.location)
		}
	}
	if p := b.do("GET", "/ui/", nil); p.status != http.StatusSeeOther || p.location != "/ui/tokens" {
		t.Errorf("signed in, GET /ui/: %d to %q", p.status, p.location)
	}
	if p := b.do("GET", "/ui", nil); p.status != http.StatusMovedPermanently || p.location != "/ui/" {
		t.Errorf("GET /ui: %d to %q", p.status, p.location)
	}

	// Regenerate: the new token shown once, the old one revoked after
	// its grace.
	b.do("GET", "/ui/tokens/"+jti, nil)
	if p, _ := b.shown(b.post("/ui/tokens/"+jti+"/regenerate", url.Values{"grace": {"1h"}, "reason": {"rotation"}})); !strings.Contains(p.body, "Replaces") {
		t.Errorf("the regenerated token's page does not name the token it replaces:\n%s", p.body)
	}
	if p := b.do("GET", "/ui/tokens/"+jti, nil); !strings.Contains(p.body, `id="status" class="status status-scheduled">scheduled<`) {
		t.Errorf("after a regeneration with grace, the old token's status:\n%s", p.body)
	}
	// Revoke.
	p = b.post("/ui/tokens/"+jti+"/revoke", url.Values{"reason": {"done"}})
	if p.status != http.StatusSeeOther || p.location != "/ui/tokens/"+jti+"?done=revoked" {
		t.Fatalf("revoke: %d to %q:\n%s", p.status, p.location, p.body)
	}
	if p := b.do("GET", p.location, nil); !strings.Contains(p.body, `id="status" class="status status-revoked">revoked<`) || !strings.Contains(p.body, `id="flash" role="status"`) {
		t.Errorf("after revoking:\n%s", p.body)
	}
	if p := b.do("GET", "/ui/audit?jti="+jti, nil); !strings.Contains(p.body, "console:admin (") {
		t.Errorf("the audit log does not name the console's actor:\n%s", p.body)
	}
	// Rotate.
	b.do("GET", "/ui/keys", nil)
	if p := b.post("/ui/keys/rotate", url.Values{"format": {"paseto"}, "force": {"on"}}); p.status != http.StatusSeeOther {
		t.Errorf("rotate: %d:\n%s", p.status, p.body)
	}
}

func TestConsoleBadInput(t *testing.T) {
	f := newFixture(t, withConsole)
	b := f.browser(t)
	b.signIn(f.admin)
	tok := f.issueRequest(issuer.Request{Subject: "zed", Audience: []string{"https://api.example"}})
	good := url.Values{"name": {"kept-name"}, "subject": {"zed"}, "audience": {"https://api.example"}, "lifetime": {"7d"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range good {
			f[key] = vs
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		name, page, path string
		form             url.Values
		says             string
	}{
		{"no subject", "/ui/tokens/new", "/ui/tokens", with("subject", ""), "Subject is required"},
		{"no audience", "/ui/tokens/new", "/ui/tokens", with("audience", " "), "Audience is required"},
		{"no lifetime", "/ui/tokens/new", "/ui/tokens", with("lifetime", "forever"), "Choose a lifetime"},
		{"an admin's token lifetime", "/ui/tokens/new", "/ui/tokens", with("lifetime", "token"), "Choose a lifetime"},
		{"bad date", "/ui/tokens/new", "/ui/tokens", with("lifetime", "date"), "Expires must be a date"},
		{"past date", "/ui/tokens/new", "/ui/tokens", func() url.Values { v := with("lifetime", "date"); v.Set("expires", "2001-01-01"); return v }(), "in the future"},
		{"far date", "/ui/tokens/new", "/ui/tokens", func() url.Values { v := with("lifetime", "date"); v.Set("expires", "2999-01-01"); return v }(), "invalid token request"},
		{"bad network", "/ui/tokens/new", "/ui/tokens", with("allow_ip", "10.0.0.1/8"), "IP allowlist"},
		{"writ scope", "/ui/tokens/new", "/ui/tokens", with("scopes", "writ:bogus"), "writ"},
		{"control in name", "/ui/tokens/new", "/ui/tokens", with("name", "a\x1bb"), "invalid token request"},
		{"bad grace", "/ui/tokens/" + tok.ID, "/ui/tokens/" + tok.ID + "/regenerate", url.Values{"grace": {"soon"}}, "Grace period must be"},
		{"grace past expiry", "/ui/tokens/" + tok.ID, "/ui/tokens/" + tok.ID + "/regenerate", url.Values{"grace": {"1000d"}}, "grace"},
		{"bad reason", "/ui/tokens/" + tok.ID, "/ui/tokens/" + tok.ID + "/revoke", url.Values{"reason": {"a\nb"}}, "reason"},
		{"bad format", "/ui/keys", "/ui/keys/rotate", url.Values{"format": {"x509"}}, "Choose the format"},
		{"too early", "/ui/keys", "/ui/keys/rotate", url.Values{"format": {"jwt"}}, "rotate now"},
		{"wrong confirmation", "/ui/keys", "/ui/keys/compromise", url.Values{"kid": {tok.KeyID}, "confirm": {"yes"}}, "type its kid"},
		{"unknown key", "/ui/keys", "/ui/keys/compromise", url.Values{"kid": {"nope"}, "confirm": {"nope"}}, "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.do("GET", tc.page, nil)
			p := b.post(tc.path, tc.form)
			if p.status < 400 || p.status >= 500 || !hasError(p) || !strings.Contains(p.body, tc.says) {
				t.Errorf("status %d, want an error saying %q:\n%s", p.status, tc.says, p.body)
			}
			if tc.path == "/ui/tokens" && tc.name != "control in name" && !strings.Contains(p.body, `value="kept-name"`) {
				t.Error("the form's values are not kept")
			}
		})
	}
	for _, path := range []string{"/ui/tokens?status=gone", "/ui/tokens?expiring=soon", "/ui/tokens?cursor=junk", "/ui/audit?limit=7", "/ui/revocations?kind=all", "/ui/tokens/nope"} {
		if p := b.do("GET", path, nil); p.status < 400 || !hasError(p) {
			t.Errorf("GET %s: %d, want an error on the page:\n%s", path, p.status, p.body)
		}
	}
	b.do("GET", "/ui/tokens/new", nil)
	if p := b.post("/ui/tokens", url.Values{"subject": {strings.Repeat("x", 70<<10)}}); p.status != http.StatusBadRequest {
		t.Errorf("an oversized form: %d, want 400", p.status)
	}
}

func TestConsoleDelegated(t *testing.T) {
	f := newFixture(t, withConsole)
	dana := f.issueRequest(issuer.Request{Subject: "dana", Audience: []string{f.url, "https://api.example"}, Scopes: []string{issuer.IssueScope, "orders/**:write"}, TTL: 30 * 24 * time.Hour})
	others := f.issueRequest(issuer.Request{Subject: "erin", Audience: []string{"https://api.example"}})
	b := f.browser(t)
	b.signIn(dana.Token)
	p := b.do("GET", "/ui/tokens", nil)
	if strings.Contains(p.body, others.ID) || !strings.Contains(p.body, dana.ID) || strings.Contains(p.body, `id="nav-keys"`) {
		t.Errorf("a delegated user's list:\n%s", p.body)
	}
	for _, path := range []string{"/ui/tokens/" + others.ID, "/ui/tokens?subject=erin", "/ui/keys", "/ui/audit", "/ui/revocations"} {
		if p := b.do("GET", path, nil); p.status != http.StatusNotFound && p.status != http.StatusForbidden && p.status != http.StatusBadRequest {
			t.Errorf("a delegated user reads %s: %d", path, p.status)
		} else if strings.Contains(p.body, others.ID) {
			t.Errorf("%s shows another subject's token", path)
		}
	}
	b.do("GET", "/ui/tokens", nil)
	for path, form := range map[string]url.Values{
		"/ui/tokens/" + others.ID + "/revoke":     {},
		"/ui/tokens/" + others.ID + "/regenerate": {"grace": {"0s"}},
		"/ui/keys/rotate":                         {"format": {"jwt"}, "force": {"on"}},
		"/ui/keys/compromise":                     {"kid": {others.KeyID}, "confirm": {others.KeyID}},
	} {
		if p := b.post(path, form); p.status != http.StatusNotFound && p.status != http.StatusForbidden {
			t.Errorf("a delegated user POSTs %s: %d", path, p.status)
		}
	}
	if d, err := f.tokens.Show(context.Background(), others.ID); err != nil || d.Status != issuer.StatusActive {
		t.Errorf("another subject's token after a delegated user's attempts: %v, %v", d, err)
	}
	// Within its grants: issued, as its child; beyond them: refused.
	b.shown(b.create(url.Values{"name": {"child"}, "subject": {"dana"}, "audience": {"https://api.example"}, "scope": {"orders/**:read"}, "lifetime": {"7d"}}))
	// The preset for a delegated user: until its own token expires.
	if p := b.do("GET", "/ui/tokens/new", nil); !strings.Contains(p.body, `name="lifetime" value="token" checked`) {
		t.Errorf("a delegated user's form does not preselect its token's expiry:\n%s", p.body)
	}
	b.shown(b.post("/ui/tokens", url.Values{"name": {"to-the-end"}, "subject": {"dana"}, "audience": {"https://api.example"}, "lifetime": {"token"}}))
	if recs, err := f.tokens.List(context.Background(), issuer.Filter{Subject: "dana", Name: "to-the-end"}); err != nil || len(recs) != 1 || !recs[0].ExpiresAt.Equal(dana.ExpiresAt) {
		t.Errorf("the child until its parent's expiry: %v, %v; want it to expire at %v", recs, err, dana.ExpiresAt)
	}
	for name, form := range map[string]url.Values{
		"other subject": {"subject": {"erin"}, "audience": {"https://api.example"}, "lifetime": {"7d"}},
		"more scope":    {"subject": {"dana"}, "audience": {"https://api.example"}, "scopes": {"invoices:read"}, "lifetime": {"7d"}},
		"other API":     {"subject": {"dana"}, "audience": {"https://other.example"}, "lifetime": {"7d"}},
	} {
		if p := b.create(form); p.status != http.StatusForbidden || !hasError(p) {
			t.Errorf("%s: %d, want 403 with an error:\n%s", name, p.status, p.body)
		}
	}
}

// TestConsoleReplicas: a session started on one replica is good on the
// other (they share the database), under https with __Host- cookies, and
// a revocation through one ends it on the other.
func TestConsoleReplicas(t *testing.T) {
	a, b := newReplicas(t)
	admin := a.issueRequest(issuer.Request{Subject: "ops", Audience: []string{replicaIssuer}, Scopes: []string{server.AdminScope}})
	// send does a request with cookies, as a browser over https would.
	send := func(f *fixture, method, path string, form url.Values, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, f.url+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	named := func(resp *http.Response, name string) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no cookie %s", name)
		return nil
	}
	resp := send(a, "GET", "/ui/login", nil)
	login := named(resp, "__Host-writ_login")
	raw, _ := io.ReadAll(resp.Body)
	csrf := csrfRe.FindStringSubmatch(string(raw))
	if csrf == nil || !login.Secure || login.Path != "/" {
		t.Fatalf("the sign-in form under https: cookie %+v, CSRF %v", login, csrf)
	}
	resp = send(a, "POST", "/ui/login", url.Values{"token": {admin.Token}, "csrf": {csrf[1]}}, login)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	sess := named(resp, "__Host-writ_session")
	if !sess.Secure || !sess.HttpOnly || sess.Path != "/" || sess.SameSite != http.SameSiteStrictMode {
		t.Errorf("the session cookie under https: %+v", sess)
	}
	for _, f := range []*fixture{a, b} {
		if resp := send(f, "GET", "/ui/tokens", nil, sess); resp.StatusCode != http.StatusOK {
			t.Errorf("the session on %s: %d", f.url, resp.StatusCode)
		}
	}
	if status, _, body := a.do("POST", "/v1/tokens/"+admin.ID+"/revoke", a.admin, "", ""); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	eventually(t, "the other replica ends the session of a revoked token", func() bool {
		return send(b, "GET", "/ui/tokens", nil, sess).StatusCode == http.StatusSeeOther
	})
}

// TestConsoleUsage: the usage that verifiers reported shows on a token's
// page, and the tokens list finds the tokens never used and orders by
// last use.
func TestConsoleUsage(t *testing.T) {
	f := newFixture(t, withConsole)
	used := f.issueRequest(issuer.Request{Subject: "dora", Audience: []string{"https://api.example"}, Name: "used"})
	idle := f.issueRequest(issuer.Request{Subject: "dora", Audience: []string{"https://api.example"}, Name: "idle"})
	now := time.Now()
	if _, err := f.tokens.RecordUsage(context.Background(), []issuer.Use{
		{JTI: used.ID, At: now, Client: netip.MustParseAddr("203.0.113.9"), Outcome: "accepted"},
		{JTI: used.ID, At: now, Client: netip.MustParseAddr("198.51.100.7"), Outcome: "ip"},
	}, "test"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	p := b.do("GET", "/ui/tokens/"+used.ID, nil)
	for _, want := range []string{`id="usage-clients"`, "203.0.113.9", "198.51.100.7", "ip: 1", `id="usage-days"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the used token's page lacks %q:\n%s", want, p.body)
		}
	}
	if p := b.do("GET", "/ui/tokens/"+idle.ID, nil); !strings.Contains(p.body, "No use was reported") {
		t.Errorf("the idle token's page:\n%s", p.body)
	}
	rows := func(query string) []string {
		t.Helper()
		p := b.do("GET", "/ui/tokens?"+query, nil)
		if p.status != http.StatusOK {
			t.Fatalf("GET /ui/tokens?%s: %d:\n%s", query, p.status, p.body)
		}
		var jtis []string
		for _, m := range regexp.MustCompile(`<tr data-jti="([^"]+)">`).FindAllStringSubmatch(p.body, -1) {
			jtis = append(jtis, m[1])
		}
		return jtis
	}
	if got := rows("subject=dora&used=never"); !slices.Equal(got, []string{idle.ID}) {
		t.Errorf("never used: %v, want %v", got, []string{idle.ID})
	}
	if got := rows("subject=dora&sort=last_used"); !slices.Equal(got, []string{used.ID, idle.ID}) {
		t.Errorf("by last use: %v, want %v", got, []string{used.ID, idle.ID})
	}
	for _, q := range []string{"used=sometimes", "sort=name"} {
		if p := b.do("GET", "/ui/tokens?"+q, nil); p.status != http.StatusBadRequest || !hasError(p) {
			t.Errorf("GET /ui/tokens?%s: %d, want 400 with an error", q, p.status)
		}
	}
}

// TestConsoleNextPage: the tokens list's link to its next page leads to
// the next page of the same filters (html/template once escaped its & and
// =, and the link led to the first page of every token).
func TestConsoleNextPage(t *testing.T) {
	f := newFixture(t, withConsole)
	for i := range 55 {
		f.issueRequest(issuer.Request{Subject: "dave", Audience: []string{"https://api.example"}, Name: fmt.Sprintf("d%d", i)})
	}
	f.issueRequest(issuer.Request{Subject: "other", Audience: []string{"https://api.example"}})
	b := f.browser(t)
	b.signIn(f.admin)
	seen := map[string]bool{}
	path := "/ui/tokens?subject=dave"
	for page := 0; path != ""; page++ {
		if page > 3 {
			t.Fatal("the pages do not end")
		}
		p := b.do("GET", path, nil)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, p.status)
		}
		for _, m := range regexp.MustCompile(`<tr data-jti="([^"]+)">\s*<th scope="row"><a href="[^"]+">([^<]*)</a></th>\s*<td[^>]*>([^<]*)</td>`).FindAllStringSubmatch(p.body, -1) {
			if m[3] != "dave" || seen[m[1]] {
				t.Errorf("GET %s lists %s of %q (seen before: %v)", path, m[2], m[3], seen[m[1]])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := regexp.MustCompile(`<a id="next-page" href="([^"]+)">`).FindStringSubmatch(p.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if len(seen) != 55 {
		t.Errorf("the pages listed %d of dave's 55 tokens", len(seen))
	}
}

// TestConsoleStorableText: a path, query or form value that no stored
// text can equal (invalid UTF-8, NUL) is a bad request, not a server
// error (PostgreSQL refuses such text even in a lookup).
func TestConsoleStorableText(t *testing.T) {
	f := newFixture(t, withConsole)
	b := f.browser(t)
	b.signIn(f.admin)
	for _, path := range []string{"/ui/tokens?q=%00", "/ui/tokens?subject=%ff", "/ui/tokens/%00", "/ui/tokens/%ff", "/ui/audit?jti=%00"} {
		if p := b.do("GET", path, nil); p.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, p.status)
		}
	}
	for _, path := range []string{"/v1/tokens/%00", "/v1/tokens?subject=%ff"} {
		if status, _, _ := f.do("GET", path, f.admin, "", ""); status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, status)
		}
	}
	b.do("GET", "/ui/keys", nil)
	for _, kid := range []string{"\x00", "\xff"} {
		if p := b.post("/ui/keys/compromise", url.Values{"kid": {kid}, "confirm": {kid}}); p.status != http.StatusBadRequest || !hasError(p) {
			t.Errorf("compromise of kid %+q: %d, want 400 with an error", kid, p.status)
		}
	}
}

// TestConsoleSessionKept: a request from outside the networks of the
// session's token is refused, and the session is kept for the requests
// from inside (a stolen cookie used elsewhere cannot end it).
func TestConsoleSessionKept(t *testing.T) {
	f := newFixture(t, withConsole, func(cfg *server.Config, _ *sqlite.DB) {
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	bound := f.issueRequest(issuer.Request{Subject: "admin", Audience: []string{f.url}, Scopes: []string{server.AdminScope},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	b := f.browser(t)
	inside, outside := []string{"X-Forwarded-For", "10.1.2.3"}, []string{"X-Forwarded-For", "192.0.2.1"}
	b.do("GET", "/ui/login", nil, inside...)
	if p := b.do("POST", "/ui/login", url.Values{"token": {bound.Token}, "csrf": {b.csrf()}}, inside...); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in from inside: %d:\n%s", p.status, p.body)
	}
	if p := b.do("GET", "/ui/tokens", nil, outside...); p.status != http.StatusForbidden || !hasError(p) {
		t.Errorf("from outside: %d, want 403 with an error", p.status)
	}
	if p := b.do("GET", "/ui/tokens", nil, inside...); p.status != http.StatusOK {
		t.Errorf("from inside again: %d, want 200", p.status)
	}
}

// TestConsoleCookieOverTLS: /ui/static/ lists no files; a server that serves TLS itself under an
// issuer written http:// still sets Secure, __Host- cookies on requests
// that came over TLS.
func TestConsoleCookieOverTLS(t *testing.T) {
	f := newFixture(t, withConsole)
	if p := f.browser(t).do("GET", "/ui/static/", nil); p.status != http.StatusNotFound || strings.Contains(p.body, `href="console.js"`) {
		t.Errorf("GET /ui/static/: %d, a listing of its files?\n%s", p.status, p.body)
	}
	req := httptest.NewRequest("GET", f.url+"/ui/login", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "__Host-writ_login" || !cs[0].Secure || cs[0].Path != "/" {
		t.Errorf("the sign-in cookie over TLS: %+v", cs)
	}
}

// TestConsoleScheduled: the tokens list tells a token whose revocation is
// scheduled (regenerated with a grace period) from an active one.
func TestConsoleScheduled(t *testing.T) {
	f := newFixture(t, withConsole)
	old := f.issueRequest(issuer.Request{Subject: "gina", Audience: []string{"https://api.example"}, Name: "old"})
	if status, _, body := f.do("POST", "/v1/tokens/"+old.ID+"/regenerate", f.admin, "application/json", `{"grace":"10m"}`); status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("regenerate: %d %s", status, body)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	p := b.do("GET", "/ui/tokens?subject=gina", nil)
	row := regexp.MustCompile(`(?s)<tr data-jti="` + old.ID + `">.*?</tr>`).FindString(p.body)
	if !strings.Contains(row, "status-scheduled") || !strings.Contains(row, "active, revoked") {
		t.Errorf("the regenerated token's row:\n%s", row)
	}
}

// TestConsoleShownOnce: a new token's page shows it once, and a reload of
// it issues nothing (the form's POST sends the browser to a page that a
// GET reads: Post/Redirect/Get).
func TestConsoleShownOnce(t *testing.T) {
	f := newFixture(t, withConsole)
	b := f.browser(t)
	b.signIn(f.admin)
	count := func(subject string) int {
		t.Helper()
		recs, err := f.tokens.List(context.Background(), issuer.Filter{Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	reload := func(t *testing.T, b *browser, path, tok string) page {
		t.Helper()
		p := b.do("GET", path, nil)
		if strings.Contains(p.body, tok) || strings.Contains(p.body, `id="new-token"`) {
			t.Errorf("GET %s again shows the token:\n%s", path, p.body)
		}
		return p
	}
	for _, tc := range []struct{ name, tokenName string }{{"unnamed", ""}, {"named", "deploy"}} {
		t.Run(tc.name, func(t *testing.T) {
			subject := "svc-" + tc.name
			posted := b.create(url.Values{"name": {tc.tokenName}, "subject": {subject}, "audience": {"https://api.example"}, "lifetime": {"7d"}})
			_, tok := b.shown(posted)
			for range 2 {
				p := reload(t, b, posted.location, tok)
				if p.status != http.StatusOK || !strings.Contains(p.body, "shown once") || !strings.Contains(p.body, `id="status" class="status status-active">active<`) {
					t.Errorf("GET %s again: %d, want the token's details saying it was shown once:\n%s", posted.location, p.status, p.body)
				}
			}
			if n := count(subject); n != 1 {
				t.Errorf("%d tokens of %s, want 1", n, subject)
			}
		})
	}
	t.Run("regenerated", func(t *testing.T) {
		old := f.issueRequest(issuer.Request{Subject: "svc-regen", Audience: []string{"https://api.example"}})
		b.do("GET", "/ui/tokens/"+old.ID, nil)
		posted := b.post("/ui/tokens/"+old.ID+"/regenerate", url.Values{"grace": {"0s"}})
		_, tok := b.shown(posted)
		if p := reload(t, b, posted.location, tok); !strings.Contains(p.body, "shown once") {
			t.Errorf("a regenerated token's page, again:\n%s", p.body)
		}
		if n := count("svc-regen"); n != 2 {
			t.Errorf("%d tokens of svc-regen, want 2 (the old and its replacement)", n)
		}
	})
	t.Run("another session", func(t *testing.T) {
		posted := b.create(url.Values{"subject": {"svc-other"}, "audience": {"https://api.example"}, "lifetime": {"7d"}})
		other := f.browser(t)
		other.signIn(f.admin)
		p := other.do("GET", posted.location, nil)
		if p.status != http.StatusOK || strings.Contains(p.body, `id="new-token"`) || !strings.Contains(p.body, "shown once") {
			t.Errorf("another session reads the new token's page: %d:\n%s", p.status, p.body)
		}
		b.shown(posted) // the session that issued it still sees it, once
	})
	t.Run("a delegated user, another subject", func(t *testing.T) {
		posted := b.create(url.Values{"subject": {"svc-hidden"}, "audience": {"https://api.example"}, "lifetime": {"7d"}})
		b.shown(posted)
		dana := f.browser(t)
		dana.signIn(f.issue("dana", []string{f.url}, issuer.IssueScope))
		if p := dana.do("GET", posted.location, nil); p.status != http.StatusNotFound {
			t.Errorf("a delegated user reads another subject's new token page: %d", p.status)
		}
	})
	t.Run("signed out", func(t *testing.T) {
		b := f.browser(t)
		b.signIn(f.admin)
		posted := b.create(url.Values{"subject": {"svc-out"}, "audience": {"https://api.example"}, "lifetime": {"7d"}})
		cookies := b.cookies()
		b.do("GET", "/ui/tokens", nil)
		b.post("/ui/logout", nil)
		b.setCookies(cookies)
		if p := b.do("GET", posted.location, nil); p.status != http.StatusSeeOther || p.location != "/ui/login" {
			t.Errorf("the new token's page after signing out: %d to %q", p.status, p.location)
		}
	})
}

// TestConsoleIdle: a session without a request for its Idle (the default,
// or a short one as writ serve --console-idle sets) is refused and sent to
// sign in again; the console's static files, which need no session, do
// not keep it alive.
func TestConsoleIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		idle time.Duration // zero: the default
		// seen is how often a request is recorded: a tenth of the idle
		// time, at most a minute.
		seen time.Duration
	}{
		{"default", 0, time.Minute},
		{"2m", 2 * time.Minute, 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				clock = time.Now()
			)
			at := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
			f := newFixture(t, func(cfg *server.Config, db *sqlite.DB) {
				consoleOn(cfg, db)
				var err error
				if cfg.Sessions, err = session.New(session.Config{Store: db, Issuer: cfg.Issuer, Idle: tc.idle, Now: func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					return clock
				}}); err != nil {
					t.Fatal(err)
				}
			})
			idle := tc.idle
			if idle == 0 {
				idle = session.DefaultIdle
			}
			// A token that outlives the clock's steps.
			admin := f.issueRequest(issuer.Request{Subject: "ida", Audience: []string{f.url}, Scopes: []string{server.AdminScope}, TTL: 24 * time.Hour})
			b := f.browser(t)
			b.signIn(admin.Token)
			for _, step := range []struct {
				after  time.Duration
				path   string
				status int
			}{
				{idle - tc.seen, "/ui/tokens", http.StatusOK},
				{idle - tc.seen, "/ui/keys", http.StatusOK},
				{idle / 3, "/ui/static/console.css", http.StatusOK},
				{idle - idle/3 - tc.seen, "/ui/static/console.js", http.StatusOK},
				{tc.seen, "/ui/tokens", http.StatusSeeOther}, // idle since /ui/keys
				{0, "/ui/tokens", http.StatusSeeOther},
			} {
				at(step.after)
				p := b.do("GET", step.path, nil)
				if p.status != step.status || (p.status == http.StatusSeeOther && p.location != "/ui/login") {
					t.Fatalf("GET %s %v later: %d to %q, want %d", step.path, step.after, p.status, p.location, step.status)
				}
			}
			b.signIn(admin.Token)
			if p := b.do("GET", "/ui/tokens", nil); p.status != http.StatusOK {
				t.Errorf("signed in again: %d", p.status)
			}
		})
	}
}

var (
	auditRowRe = regexp.MustCompile(`<tr>\s*<th scope="row">[^<]*</th>\s*<td>token\.issue</td>\s*<td>pager (\d+)</td>`)
	olderRe    = regexp.MustCompile(`<a id="older-events" href="([^"]+)"`)
	newestRe   = regexp.MustCompile(`<a id="newest-events" href="([^"]+)"`)
)

// TestConsoleAuditPages: the audit page goes back page by page through
// every event its filter selects, each once, newest first.
func TestConsoleAuditPages(t *testing.T) {
	f := newFixture(t, withConsole)
	const events = 230
	for i := range events {
		if err := f.db.AuditInsert(context.Background(), store.AuditRow{At: time.Now().UnixMilli(), Actor: fmt.Sprint("pager ", i),
			Action: audit.Issue, Subject: "pager"}); err != nil {
			t.Fatal(err)
		}
		if i == 100 { // another subject's, among them
			f.issueRequest(issuer.Request{Subject: "other", Audience: []string{"https://api.example"}})
		}
	}
	b := f.browser(t)
	b.signIn(f.admin)
	for _, tc := range []struct {
		name, first string
		pages       []int // events on each page
	}{
		{"100", "/ui/audit?subject=pager", []int{100, 100, 30}},
		{"500", "/ui/audit?subject=pager&limit=500", []int{230}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, want := tc.first, events-1
			for i, n := range tc.pages {
				p := b.do("GET", next, nil)
				rows := auditRowRe.FindAllStringSubmatch(p.body, -1)
				if p.status != http.StatusOK || len(rows) != n {
					t.Fatalf("page %d (%s): %d, %d events, want %d:\n%s", i+1, next, p.status, len(rows), n, p.body)
				}
				for _, m := range rows {
					if m[1] != fmt.Sprint(want) {
						t.Fatalf("page %d: event %s, want %d (newest first, none twice, none left out)", i+1, m[1], want)
					}
					want--
				}
				if strings.Contains(p.body, "console:") || strings.Contains(p.body, "<td>other</td>") {
					t.Errorf("page %d: events of another subject", i+1)
				}
				newest := newestRe.FindStringSubmatch(p.body)
				if (i > 0) != (newest != nil) || (newest != nil && html.UnescapeString(newest[1]) != tc.first) {
					t.Errorf("page %d: link to the newest events %q, want one to %s after the first page", i+1, newest, tc.first)
				}
				m := olderRe.FindStringSubmatch(p.body)
				if last := i == len(tc.pages)-1; last != (m == nil) {
					t.Fatalf("page %d of %d: link to older events %v", i+1, len(tc.pages), m)
				}
				if m != nil {
					next = html.UnescapeString(m[1])
				}
			}
		})
	}
	for _, before := range []string{"x", "-1", "0", "1e3", "99999999999999999999"} {
		if p := b.do("GET", "/ui/audit?before="+before, nil); p.status != http.StatusBadRequest || !hasError(p) {
			t.Errorf("GET /ui/audit?before=%s: %d, want 400 with an error", before, p.status)
		}
	}
}

var (
	revocationRowRe = regexp.MustCompile(`<tr>\s*<th scope="row">(\d+)</th>\s*<td>(token|subject|key)</td>`)
	olderEntriesRe  = regexp.MustCompile(`<a id="older-entries" href="([^"]+)"`)
)

// TestConsoleRevocationPages: the revocations page goes back page by page
// through every entry its filter selects, each once, newest first (each
// page read alone: storetest proves RevocationFilter.Newest).
func TestConsoleRevocationPages(t *testing.T) {
	f := newFixture(t, withConsole)
	const entries = 1300 // every fifth a subject's
	ctx := context.Background()
	tx, err := f.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	far := time.Now().Add(time.Hour).Unix()
	for i := range entries {
		r := store.RevocationRow{Kind: store.RevokeToken, Value: fmt.Sprint("jti-", i), EffectiveAt: 1, ExpiresAt: far, Actor: "test"}
		if i%5 == 4 {
			r.Kind, r.Value, r.IssuedBefore = store.RevokeSubject, fmt.Sprint("subject-", i), store.At(far)
		}
		if _, err := tx.RevocationInsert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	for _, tc := range []struct {
		first string
		kind  string // of every entry; "" for any
		pages []int
	}{
		{"/ui/revocations", "", []int{1000, 300}},
		{"/ui/revocations?kind=subject", "subject", []int{260}},
		{"/ui/revocations?kind=token", "token", []int{1000, 40}},
	} {
		t.Run(tc.first, func(t *testing.T) {
			next, last := tc.first, int64(entries+1)
			for i, n := range tc.pages {
				p := b.do("GET", next, nil)
				rows := revocationRowRe.FindAllStringSubmatch(p.body, -1)
				if p.status != http.StatusOK || len(rows) != n {
					t.Fatalf("page %d (%s): %d, %d entries, want %d", i+1, next, p.status, len(rows), n)
				}
				for _, m := range rows {
					seq, _ := strconv.ParseInt(m[1], 10, 64)
					if seq >= last || (tc.kind != "" && m[2] != tc.kind) || (tc.kind == "" && seq != last-1) {
						t.Fatalf("page %d: entry %d (%s) after %d", i+1, seq, m[2], last)
					}
					last = seq
				}
				m := olderEntriesRe.FindStringSubmatch(p.body)
				if lastPage := i == len(tc.pages)-1; lastPage != (m == nil) {
					t.Fatalf("page %d of %d: link to older entries %v", i+1, len(tc.pages), m)
				}
				if m != nil {
					next = html.UnescapeString(m[1])
				}
			}
		})
	}
	for _, before := range []string{"x", "-1", "0"} {
		if p := b.do("GET", "/ui/revocations?before="+before, nil); p.status != http.StatusBadRequest || !hasError(p) {
			t.Errorf("GET /ui/revocations?before=%s: %d, want 400 with an error", before, p.status)
		}
	}
}
