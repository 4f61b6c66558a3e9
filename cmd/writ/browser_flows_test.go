package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestConsoleBrowser drives the console in chromium through each flow an
// admin or a delegated user takes, each subtest on a server of its own.
func TestConsoleBrowser(t *testing.T) {
	b := startBrowser(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, context.Context)
	}{
		{"sign-in-paste", testSignInPaste},
		{"sign-in-link", testSignInLink},
		{"create", testCreate},
		{"reload-created", testReloadCreated},
		{"copy", testCopy},
		{"revoke", testRevoke},
		{"regenerate", testRegenerate},
		{"rotate", testRotate},
		{"compromise", testCompromise},
		{"sign-out", testSignOut},
		{"cross-site-post", testCrossSitePost},
		{"delegated", testDelegated},
		{"revoked-sign-in-token", testRevokedSignInToken},
		{"no-javascript", testNoJavaScript},
		{"pages", testPages},
		{"keyboard", testKeyboard},
		{"screenshots", testScreenshots},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// testSignInPaste: a pasted admin token signs in; a token that is not one
// is refused on the login page with an error, and the pages stay closed.
func testSignInPaste(t *testing.T, b context.Context) {
	s := startConsole(t)
	ctx := tab(t, b)
	s.open(t, ctx, "/ui/")
	if p := path(t, ctx); p != "/ui/login" {
		t.Fatalf("/ui/ signed out led to %s, want /ui/login", p)
	}
	s.open(t, ctx, "/ui/tokens")
	if p := path(t, ctx); p != "/ui/login" {
		t.Fatalf("/ui/tokens signed out led to %s, want /ui/login", p)
	}

	// Refused: not a token, a token without writ:admin, a token for
	// another audience.
	notAdmin := s.issue(tokenRequest{Subject: "svc", Audience: []string{consoleIssuer}, Scopes: []string{"orders:read"}})
	otherAudience := s.issue(tokenRequest{Subject: "admin", Audience: []string{apiAudience}, Scopes: []string{"writ:admin"}})
	for name, token := range map[string]string{"garbage": "not a token", "scope": notAdmin.Token, "audience": otherAudience.Token} {
		s.open(t, ctx, "/ui/login")
		do(t, ctx, chromedp.SetValue(chromedp.ID("token"), token))
		submit(t, ctx, "#sign-in")
		if err := doErr(ctx, chromedp.WaitReady(chromedp.CSS(`.error[role="alert"]`))); err != nil {
			errorf(t, ctx, "%s: no error shown: %v", name, err)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("#whoami").length`); n != 0 {
			errorf(t, ctx, "%s: signed in", name)
		}
		if strings.Contains(eval[string](t, ctx, `document.documentElement.outerHTML`), token) {
			errorf(t, ctx, "%s: the refused token is echoed back in the page", name)
		}
	}

	admin := s.admin()
	s.signIn(t, ctx, admin.Token)
	if p := path(t, ctx); p != "/ui/tokens" {
		t.Errorf("signed in at %s, want /ui/tokens", p)
	}
	if who := get(t, ctx, chromedp.Text(chromedp.ID("whoami"))); !strings.Contains(who, "admin") {
		t.Errorf("#whoami says %q, want the subject admin", who)
	}
	if loc := get(t, ctx, chromedp.Location()); strings.Contains(loc, admin.Token) {
		t.Error("the token is in the URL")
	}
	c := sessionCookie(t, ctx, s.base)
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("session cookie %s: HttpOnly %v, SameSite %q; want HttpOnly, Strict", c.Name, c.HTTPOnly, c.SameSite)
	}
	if c.Value == admin.Token || strings.Contains(c.Value, admin.JTI) {
		t.Error("the session cookie carries the token")
	}
	s.open(t, ctx, "/ui/")
	if p := path(t, ctx); p != "/ui/tokens" {
		t.Errorf("/ui/ signed in led to %s, want /ui/tokens", p)
	}
}

// linkRE finds the one-time link writ console link prints.
var linkRE = regexp.MustCompile(`https?://\S+/ui/login/\S+`)

// consoleLink runs writ console link with args and returns the link.
func (s *consoleServer) consoleLink(args ...string) string {
	s.t.Helper()
	out := runWrit(s.t, s.dir, append([]string{"console", "link", "--issuer", consoleIssuer, "--url", s.base}, args...)...)
	link := linkRE.FindString(out)
	if link == "" {
		s.t.Fatalf("writ console link printed no link: %q", out)
	}
	return link
}

// testSignInLink: the one-time link of writ console link shows a page whose
// button signs in; the same link is refused the second time.
func testSignInLink(t *testing.T, b context.Context) {
	s := startConsole(t)
	link := s.consoleLink("--subject", "admin", "--scope", "writ:admin")
	ctx := tab(t, b)
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("#link-login #sign-in")))
	// Showing the page (as a link previewer would) does not sign in.
	if n := eval[int](t, ctx, `document.querySelectorAll("#whoami").length`); n != 0 {
		t.Fatal("a GET of the link signed in")
	}
	submit(t, ctx, "#sign-in")
	if err := doErr(ctx, chromedp.WaitReady(chromedp.ID("whoami"))); err != nil {
		t.Fatalf("the link did not sign in (page %s): %v", path(t, ctx), err)
	}
	if who := get(t, ctx, chromedp.Text(chromedp.ID("whoami"))); !strings.Contains(who, "admin") {
		t.Errorf("#whoami says %q, want admin", who)
	}

	// Used: another browser (no cookies) cannot sign in with it again.
	again := tab(t, b)
	do(t, again, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("body")))
	if n := eval[int](t, again, `document.querySelectorAll("#link-login #sign-in").length`); n > 0 {
		submit(t, again, "#sign-in")
	}
	if n := eval[int](t, again, `document.querySelectorAll("#whoami").length`); n != 0 {
		t.Error("the link signed in a second time")
	}
	if n := eval[int](t, again, `document.querySelectorAll(".error[role=alert]").length`); n == 0 {
		errorf(t, again, "the used link shows no error")
	}
}

// create fills the create form and submits it; extra runs before the
// submit. It returns the token shown once and its jti.
func (s *consoleServer) create(t *testing.T, ctx context.Context, name, subject, audience string, extra ...chromedp.Action[chromedp.Void]) (string, string) {
	t.Helper()
	s.open(t, ctx, "/ui/tokens/new")
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS(`#create [name="name"]`), name),
		chromedp.SetValue(chromedp.CSS(`#create [name="subject"]`), subject),
		chromedp.SetValue(chromedp.CSS(`#create [name="audience"]`), audience),
	)
	do(t, ctx, extra...)
	submit(t, ctx, "#create-submit")
	if err := doErr(ctx, chromedp.WaitReady(chromedp.ID("new-token"))); err != nil {
		errs := eval[string](t, ctx, `[...document.querySelectorAll(".error")].map(e => e.textContent.trim()).join("; ")`)
		t.Fatalf("no token shown after create (page %s, errors %q): %v", path(t, ctx), errs, err)
	}
	token := newToken(t, ctx)
	href := get(t, ctx, chromedp.AttributeValue(chromedp.ID("token-link"), "href"))
	jti := href.Value[strings.LastIndex(href.Value, "/")+1:]
	if jti == "" {
		t.Fatalf("#token-link href %q names no jti", href.Value)
	}
	return token, jti
}

// testReloadCreated: reloading the page that shows a new token issues no
// other token (nor fails as a duplicate name) and shows the token no
// more, saying it was shown once; the token is in no URL of the tab.
func testReloadCreated(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	for _, name := range []string{" ", "deploy"} { // " ": unnamed, once trimmed
		token, jti := s.create(t, ctx, name, "svc-reload", apiAudience)
		shown := "/ui/tokens/" + jti + "/created"
		if p := path(t, ctx); p != shown {
			t.Errorf("the new token is shown at %s, want %s", p, shown)
		}
		for range 2 {
			do(t, ctx, chromedp.Reload(), chromedp.WaitReady(chromedp.ID("status")))
			if p := path(t, ctx); p != shown {
				errorf(t, ctx, "after a reload: at %s, want %s", p, shown)
			}
			html := eval[string](t, ctx, `document.documentElement.outerHTML`)
			if strings.Contains(html, token) || strings.Contains(html, `id="new-token"`) {
				errorf(t, ctx, "a reload shows the token again")
			}
			if !strings.Contains(html, "shown once") || !strings.Contains(html, jti) {
				errorf(t, ctx, "a reload does not show the token's details saying it was shown once")
			}
			if strings.Contains(get(t, ctx, chromedp.Location()), token) {
				errorf(t, ctx, "the token is in the tab's URL")
			}
		}
	}
	var list struct {
		Tokens []struct{ ID string } `json:"tokens"`
	}
	if code := call(t, "GET", s.base+"/v1/tokens?subject=svc-reload", s.api, "", &list); code != http.StatusOK || len(list.Tokens) != 2 {
		t.Errorf("after reloads: %d tokens of svc-reload (status %d), want the 2 created", len(list.Tokens), code)
	}
}

// testCreate: a token made with a catalogue permission, a lifetime preset
// and an IP allowlist is shown once, works where it was given, and carries
// what the form asked for.
func testCreate(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	runWrit(t, s.dir, "permissions", "define", "orders", "--actions", "read,write")
	token, jti := s.create(t, ctx, "ci-deploy", "svc-ci", apiAudience,
		chromedp.SetValue(chromedp.CSS(`#create [name="description"]`), "deploys <b>main</b>"),
		chromedp.Click(chromedp.CSS(`#create input[name="scope"][value="orders:read"]`)),
		chromedp.SetValue(chromedp.CSS(`#create [name="scopes"]`), "reports"),
		chromedp.Click(chromedp.CSS(`#create input[name="lifetime"][value="30d"]`)),
		chromedp.SetValue(chromedp.CSS(`#create [name="allow_ip"]`), "127.0.0.1\n10.0.0.0/8"),
	)
	if n := eval[int](t, ctx, `document.body.textContent.toLowerCase().includes("once") ? 1 : 0`); n == 0 {
		t.Error("the new token's page has no warning that it is shown once")
	}
	if code := s.whoami(token, apiAudience); code != 200 {
		t.Errorf("the token made in the console: whoami %d, want 200", code)
	}
	d := s.show(jti)
	if d.Name != "ci-deploy" || d.Subject != "svc-ci" || !slices.Equal(d.Audience, []string{apiAudience}) {
		t.Errorf("recorded %q %q %q, want ci-deploy svc-ci %s", d.Name, d.Subject, d.Audience, apiAudience)
	}
	if !slices.Contains(d.Scopes, "orders:read") || !slices.Contains(d.Scopes, "reports") || len(d.Scopes) != 2 {
		t.Errorf("scopes %q, want orders:read and reports", d.Scopes)
	}
	if got := fmt.Sprint(d.AllowedIPs); got != "[127.0.0.1/32 10.0.0.0/8]" {
		t.Errorf("allowed IPs %s, want [127.0.0.1/32 10.0.0.0/8]", got)
	}
	if life := d.ExpiresAt.Sub(d.IssuedAt); life.Hours() != 30*24 {
		t.Errorf("lifetime %v, want 30 days", life)
	}

	// Shown once: neither its detail page nor the list shows it again.
	do(t, ctx, chromedp.Click(chromedp.ID("token-link")), chromedp.WaitReady(chromedp.ID("status")))
	for _, p := range []string{"/ui/tokens/" + jti, "/ui/tokens"} {
		s.open(t, ctx, p)
		if strings.Contains(eval[string](t, ctx, `document.documentElement.outerHTML`), token) {
			t.Errorf("%s shows the token again", p)
		}
	}
	// The hostile description is text, not markup.
	s.open(t, ctx, "/ui/tokens/"+jti)
	if n := eval[int](t, ctx, `document.querySelectorAll("main b").length`); n != 0 {
		t.Error("the description's markup was rendered")
	}

	// A bad allowlist is an error on the page, the values kept.
	s.open(t, ctx, "/ui/tokens/new")
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS(`#create [name="name"]`), "bad-ip"),
		chromedp.SetValue(chromedp.CSS(`#create [name="subject"]`), "svc-ci"),
		chromedp.SetValue(chromedp.CSS(`#create [name="audience"]`), apiAudience),
		chromedp.SetValue(chromedp.CSS(`#create [name="allow_ip"]`), "300.1.2.3"),
	)
	submit(t, ctx, "#create-submit")
	if err := doErr(ctx, chromedp.WaitReady(chromedp.CSS(`.error[role="alert"]`))); err != nil {
		errorf(t, ctx, "a bad IP allowlist shows no error: %v", err)
	}
	if v := get(t, ctx, chromedp.Value(chromedp.CSS(`#create [name="name"]`))); v != "bad-ip" {
		t.Errorf("the re-rendered form lost the name: %q", v)
	}
}

// testCopy: the copy button puts the token shown once on the clipboard.
// The browser context is granted clipboard access, and the test reads the
// clipboard back through the page's own navigator.clipboard.
func testCopy(t *testing.T, b context.Context) {
	s := startConsole(t)
	ctx := tab(t, b)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission:       &browser.PermissionDescriptor{Name: name},
			Setting:          browser.PermissionSettingGranted,
			Origin:           s.base,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	s.signIn(t, ctx, s.api)
	token, _ := s.create(t, ctx, "copied", "svc", apiAudience)
	// Something else on the clipboard first, so that only the button can
	// have put the token there.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText("before")`, chromedp.EvalAwaitPromise))
	do(t, ctx, chromedp.Click(chromedp.ID("copy")))
	eventually(t, "the clipboard holds the token", func() bool {
		return get(t, ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)) == token
	})
}

// testRevoke: revoking on the detail page with a reason records it, shows
// the status, and the token is refused at once.
func testRevoke(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	victim := s.issue(tokenRequest{Subject: "svc", Audience: []string{apiAudience}})
	s.open(t, ctx, "/ui/tokens/"+victim.JTI)
	if st := get(t, ctx, chromedp.Text(chromedp.ID("status"))); !strings.Contains(st, "active") {
		t.Errorf("#status %q before the revocation, want active", st)
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`#revoke [name="reason"]`), "laptop lost"))
	submit(t, ctx, "#revoke-submit")
	if st := get(t, ctx, chromedp.Text(chromedp.ID("status"))); !strings.Contains(st, "revoked") {
		errorf(t, ctx, "#status %q after the revocation, want revoked", st)
	}
	d := s.show(victim.JTI)
	if d.Status != "revoked" || d.Revocation == nil || d.Revocation.Reason != "laptop lost" || d.Revocation.Actor == "" {
		t.Errorf("recorded status %q, revocation %+v; want revoked for laptop lost by an actor", d.Status, d.Revocation)
	}
	if code := s.whoami(victim.Token, apiAudience); code != 401 {
		t.Errorf("the revoked token: whoami %d, want 401", code)
	}
}

// testRegenerate: regenerating shows the new token once; without a grace
// the old one is refused at once, with one it stays good until then.
func testRegenerate(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	for _, tc := range []struct {
		grace     string
		oldStatus int // the old token's whoami afterwards
		scheduled bool
	}{
		{"0s", 401, false},
		{"1h", 200, true},
	} {
		t.Run("grace="+tc.grace, func(t *testing.T) {
			old := s.issue(tokenRequest{Subject: "svc", Audience: []string{apiAudience}, Name: "rotated-" + tc.grace, TTL: "30d"})
			s.open(t, ctx, "/ui/tokens/"+old.JTI)
			do(t, ctx, chromedp.SetValue(chromedp.CSS(`#regenerate [name="grace"]`), tc.grace))
			submit(t, ctx, "#regenerate-submit")
			fresh := newToken(t, ctx)
			if fresh == old.Token {
				t.Fatal("regenerate showed the old token")
			}
			if code := s.whoami(fresh, apiAudience); code != 200 {
				t.Errorf("the regenerated token: whoami %d, want 200", code)
			}
			if code := s.whoami(old.Token, apiAudience); code != tc.oldStatus {
				t.Errorf("the old token after regenerate: whoami %d, want %d", code, tc.oldStatus)
			}
			if d := s.show(old.JTI); d.Revocation == nil || d.Revocation.Scheduled != tc.scheduled {
				t.Errorf("the old token's revocation %+v, want one, scheduled %v", d.Revocation, tc.scheduled)
			}
		})
	}
}

// keyStates reads the keys page's table: kid → state.
func keyStates(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	rows := eval[[]struct{ Kid, State string }](t, ctx, `[...document.querySelectorAll("#keys tr[data-kid]")].map(r => ({kid: r.dataset.kid, state: r.dataset.state}))`)
	m := map[string]string{}
	for _, r := range rows {
		m[r.Kid] = r.State
	}
	if len(m) == 0 {
		t.Fatal("no keys in #keys")
	}
	return m
}

// testRotate: rotating a format on the keys page right after the keys
// were made is refused with an error saying so (verifiers may not have the
// next key yet); forced, the next key becomes active, the active one
// retires, and a fresh next key appears.
func testRotate(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	s.open(t, ctx, "/ui/keys")
	before := keyStates(t, ctx)
	submit(t, ctx, "#rotate-submit")
	if err := doErr(ctx, chromedp.WaitReady(chromedp.CSS(`.error[role="alert"]`))); err != nil {
		errorf(t, ctx, "an early rotation shows no error: %v", err)
	}
	s.open(t, ctx, "/ui/keys")
	if after := keyStates(t, ctx); !maps.Equal(after, before) {
		t.Fatalf("an early rotation changed the keys: %v, then %v", before, after)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#rotate [name="force"]`)))
	submit(t, ctx, "#rotate-submit")
	s.open(t, ctx, "/ui/keys")
	after := keyStates(t, ctx)
	var activated, retired int
	for kid, st := range before {
		switch {
		case st == "next" && after[kid] == "active":
			activated++
		case st == "active" && after[kid] == "retired":
			retired++
		case after[kid] != st:
			t.Errorf("%s: %s, then %s", kid, st, after[kid])
		}
	}
	if activated != 1 || retired != 1 || len(after) != len(before)+1 {
		t.Errorf("a forced rotation activated %d keys and retired %d, and %d keys became %d; want 1, 1 and one more: %v, then %v",
			activated, retired, len(before), len(after), before, after)
	}
}

// testCompromise: a key is compromised only when its kid is typed; then its
// tokens are refused, the admin's own among them (same key): that ends the
// session at once, and a fresh admin token (signed by the key that
// replaced it) sees the key compromised.
func testCompromise(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	victim := s.issue(tokenRequest{Subject: "svc", Audience: []string{apiAudience}}) // EdDSA, by default
	kid := s.show(victim.JTI).KeyID
	s.open(t, ctx, "/ui/keys")
	form := fmt.Sprintf(`form.compromise[data-kid=%q]`, kid)
	for _, wrong := range []string{"", "yes", kid + "x"} {
		if wrong != "" { // the field is empty on a fresh page
			do(t, ctx, chromedp.SetValue(chromedp.CSS(form+` [name="confirm"]`), wrong))
		}
		submit(t, ctx, form+" .compromise-submit")
		if err := doErr(ctx, chromedp.WaitReady(chromedp.CSS(`.error[role="alert"]`))); err != nil {
			errorf(t, ctx, "confirmation %q: no error shown: %v", wrong, err)
		}
		if code := s.whoami(victim.Token, apiAudience); code != 200 {
			t.Fatalf("confirmation %q compromised the key: whoami %d", wrong, code)
		}
		s.open(t, ctx, "/ui/keys")
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS(form+` [name="confirm"]`), kid))
	submit(t, ctx, form+" .compromise-submit")
	s.open(t, ctx, "/ui/keys")
	if p := path(t, ctx); p != "/ui/login" {
		t.Errorf("after compromising the key of the admin's own token, /ui/keys led to %s, want /ui/login", p)
	}
	s.signIn(t, ctx, s.admin().Token)
	s.open(t, ctx, "/ui/keys")
	if st := keyStates(t, ctx)[kid]; st != "compromised" {
		t.Errorf("the compromised key's state: %q", st)
	}
	if code := s.whoami(victim.Token, apiAudience); code != 401 {
		t.Errorf("a token of the compromised key: whoami %d, want 401", code)
	}
}

// testSignOut: signing out ends the session on the server: the cookie it
// had no longer opens a page.
func testSignOut(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	c := sessionCookie(t, ctx, s.base)
	if code, _ := getWithCookie(t, s.base+"/ui/tokens", c); code != 200 {
		t.Fatalf("the session cookie outside the browser: %d, want 200", code)
	}
	submit(t, ctx, "#sign-out")
	if p := path(t, ctx); p != "/ui/login" {
		t.Errorf("signed out at %s, want /ui/login", p)
	}
	s.open(t, ctx, "/ui/tokens")
	if p := path(t, ctx); p != "/ui/login" {
		t.Errorf("after sign-out /ui/tokens led to %s", p)
	}
	if code, loc := getWithCookie(t, s.base+"/ui/tokens", c); code != http.StatusSeeOther || !strings.HasSuffix(loc, "/ui/login") {
		t.Errorf("the old session cookie after sign-out: %d to %q, want 303 to /ui/login", code, loc)
	}
}

// testCrossSitePost: a page of another origin that posts the revoke form
// of a signed-in admin's console is refused, with the session's own csrf
// value or without; the token stays active. 127.0.0.1 on another port is
// the same site (the SameSite=Strict cookie goes along, so only the CSRF
// checks stand in the way); localhost is another site.
func testCrossSitePost(t *testing.T, b context.Context) {
	s, ctx := signedInAdmin(t, b)
	victim := s.issue(tokenRequest{Subject: "svc", Audience: []string{apiAudience}})
	s.open(t, ctx, "/ui/tokens/"+victim.JTI)
	action := eval[string](t, ctx, `document.getElementById("revoke").action`)
	csrf := eval[string](t, ctx, `document.querySelector('#revoke [name="csrf"]').value`)
	if csrf == "" {
		t.Fatal("the revoke form has no csrf value")
	}
	var page atomic.Value // the forged page, an auto-submitting form
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page.Load())
	}))
	defer evil.Close()
	_, port, _ := net.SplitHostPort(evil.Listener.Addr().String())
	for _, tc := range []struct{ name, origin, csrf string }{
		{"same-site", "http://127.0.0.1:" + port, ""},
		{"same-site-with-csrf", "http://127.0.0.1:" + port, csrf},
		{"cross-site-with-csrf", "http://localhost:" + port, csrf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page.Store(`<!doctype html><form id="f" method="post" action="` + action + `">` +
				`<input name="reason" value="forged"><input name="csrf" value="` + tc.csrf + `"></form>` +
				`<script>document.getElementById("f").submit()</script>`)
			do(t, ctx, chromedp.Navigate(tc.origin+"/"))
			landed := chromedp.Evaluate[bool](`location.origin === ` + strconv.Quote(s.base) + ` && document.readyState === "complete"`)
			eventually(t, "the forged form is posted to the console", func() bool {
				ok, err := chromedp.Run(ctx, landed) // an error while the page changes
				return err == nil && ok
			})
			status := eval[int](t, ctx, `performance.getEntriesByType("navigation")[0].responseStatus`)
			if status != http.StatusForbidden {
				t.Errorf("the forged POST answered %d, want 403", status)
			}
			if d := s.show(victim.JTI); d.Status != "active" || d.Revocation != nil {
				t.Fatalf("the forged POST revoked the token: %q %+v", d.Status, d.Revocation)
			}
		})
	}
	if code := s.whoami(victim.Token, apiAudience); code != 200 {
		t.Errorf("the token after the forged POSTs: whoami %d, want 200", code)
	}
}

// testDelegated: a writ:issue holder sees only its subject's tokens, cannot
// open another subject's token by its URL, nor the admins' pages, and
// creates tokens for its own subject (with the form's default lifetime,
// cut to its own token's), not for another.
func testDelegated(t *testing.T, b context.Context) {
	s := startConsole(t)
	alice := s.issue(tokenRequest{Subject: "alice", Audience: []string{consoleIssuer, apiAudience}, Scopes: []string{"writ:issue", "orders:read"}, TTL: "1h"})
	alices := []string{alice.JTI, s.issue(tokenRequest{Subject: "alice", Audience: []string{apiAudience}, Scopes: []string{"orders:read"}}).JTI}
	bob := s.issue(tokenRequest{Subject: "bob", Audience: []string{apiAudience}, Scopes: []string{"orders:read"}})
	ctx := tab(t, b)
	s.signIn(t, ctx, alice.Token)
	s.open(t, ctx, "/ui/tokens")
	listed := eval[[]string](t, ctx, `[...document.querySelectorAll("#tokens tr[data-jti]")].map(r => r.dataset.jti)`)
	slices.Sort(listed)
	slices.Sort(alices)
	if !slices.Equal(listed, alices) {
		t.Errorf("alice's list shows %q, want only her tokens %q", listed, alices)
	}
	s.open(t, ctx, "/ui/tokens/"+bob.JTI)
	if n := eval[int](t, ctx, `document.querySelectorAll("#status, #revoke, #regenerate").length`); n != 0 {
		t.Error("alice opened bob's token by its URL")
	}
	if strings.Contains(eval[string](t, ctx, `document.body.textContent`), "bob") {
		t.Error("bob's token's page shows bob to alice")
	}
	for _, nav := range []string{"nav-keys", "nav-audit"} {
		if n := eval[int](t, ctx, `document.querySelectorAll("#`+nav+`").length`); n != 0 {
			t.Errorf("alice's navigation has #%s", nav)
		}
	}
	s.open(t, ctx, "/ui/keys")
	if n := eval[int](t, ctx, `document.querySelectorAll("#keys, #rotate").length`); n != 0 {
		t.Error("alice opened the keys page")
	}
	_, jti := s.create(t, ctx, "alice-child", "alice", apiAudience,
		chromedp.SetValue(chromedp.CSS(`#create [name="scopes"]`), "orders:read"))
	// Her token ends within the hour, before any preset: the form's
	// default lifetime ends with it.
	if d := s.show(jti); d.Subject != "alice" || d.Parent != alice.JTI || d.ExpiresAt.After(s.show(alice.JTI).ExpiresAt) {
		t.Errorf("alice's child: subject %q, parent %q, expires %v; want alice, %s, by her token's expiry", d.Subject, d.Parent, d.ExpiresAt, alice.JTI)
	}
	// A token for bob is refused.
	s.open(t, ctx, "/ui/tokens/new")
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS(`#create [name="name"]`), "for-bob"),
		chromedp.SetValue(chromedp.CSS(`#create [name="subject"]`), "bob"),
		chromedp.SetValue(chromedp.CSS(`#create [name="audience"]`), apiAudience),
	)
	submit(t, ctx, "#create-submit")
	if n := eval[int](t, ctx, `document.querySelectorAll("#new-token").length`); n != 0 {
		t.Error("alice made a token for bob")
	}
}

// testRevokedSignInToken: revoking the token a session signed in with (by
// the CLI, another process) ends the session.
func testRevokedSignInToken(t *testing.T, b context.Context) {
	s := startConsole(t)
	admin := s.admin()
	ctx := tab(t, b)
	s.signIn(t, ctx, admin.Token)
	runWrit(t, s.dir, "token", "revoke", admin.JTI, "--reason", "test")
	eventually(t, "the revoked token's session ends", func() bool {
		s.open(t, ctx, "/ui/tokens")
		return path(t, ctx) == "/ui/login"
	})
}

// testNoJavaScript: with JavaScript off, an admin signs in and creates a
// token. A page of the test's own with a script proves it is off.
func testNoJavaScript(t *testing.T, b context.Context) {
	s := startConsole(t)
	probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>off</title><script>document.title = "on"</script>`)
	}))
	defer probe.Close()
	ctx := tab(t, b)
	noScript(t, ctx)
	do(t, ctx, chromedp.Navigate(probe.URL))
	if title := get(t, ctx, chromedp.Title()); title != "off" {
		t.Fatalf("scripts still run: title %q", title)
	}
	s.signIn(t, ctx, s.api)
	token, _ := s.create(t, ctx, "no-js", "svc", apiAudience,
		chromedp.Click(chromedp.CSS(`#create input[name="lifetime"][value="7d"]`)))
	if code := s.whoami(token, apiAudience); code != 200 {
		t.Errorf("the token made without JavaScript: whoami %d, want 200", code)
	}
}
