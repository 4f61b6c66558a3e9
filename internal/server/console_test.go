package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
)

// withConsole serves the console on a fixture's server.
func withConsole(cfg *server.Config, db *sqlite.DB) {
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
	inline = regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
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
	past, err := issuer.New(issuer.Config{Issuer: f.url, Keys: f.ring, Store: f.db, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
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
