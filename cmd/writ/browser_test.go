package main

// The console's browser tests: a real writ serve process (this test binary
// run as writ, as the end-to-end tests do, so the server under test is the
// product's main, with the race detector when the tests have it) on a fresh
// SQLite database, tokens made with the CLI as other processes, and
// Debian's chromium driven headless through the DevTools protocol. One
// browser serves every test of the binary; each test has a browser context
// of its own (its own cookies), so sessions never leak from one to another.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/writ-dev/writ/issuer"
)

// consoleIssuer is the issuer URL of the servers the browser tests start:
// the audience of every token that signs in to the console.
const consoleIssuer = "http://writ.test"

// apiAudience is the audience of the tokens the tests make for an API.
const apiAudience = "https://api.example.com"

// startBrowser starts headless chromium for a test and its subtests, and
// returns the browser's context. Without chromium the test is skipped
// saying so, or fails under WRIT_REQUIRE_CHROMIUM=1 (as CI runs).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("WRIT_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium not installed (and WRIT_REQUIRE_CHROMIUM=1): apt-get install chromium")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	// --no-sandbox: chromium's sandbox refuses to run as root (CI), and
	// the pages are the test's own.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// consoleServer is a writ serve process with its directory, for one test.
type consoleServer struct {
	t    *testing.T
	dir  string
	base string // http://127.0.0.1:PORT
	api  string // an admin token (from the CLI) for the admin API and the console
}

// startConsole starts writ serve on a fresh database in a directory of
// its own; its revocation snapshot is reread every 100ms, so that
// revocations by the CLI reach the console quickly.
func startConsole(t *testing.T) *consoleServer {
	t.Helper()
	dir := t.TempDir()
	base, _ := startServer(t, dir)
	s := &consoleServer{t: t, dir: dir, base: base}
	s.api = s.admin().Token
	return s
}

// issued is a token made for a test.
type issued struct {
	Token string `json:"token"`
	JTI   string `json:"jti"`
}

// tokenRequest is a request to the admin API's POST /v1/tokens.
type tokenRequest struct {
	Subject    string   `json:"subject"`
	Audience   []string `json:"audience"`
	Scopes     []string `json:"scopes,omitempty"`
	TTL        string   `json:"ttl,omitempty"`
	Name       string   `json:"name,omitempty"`
	AllowedIPs []string `json:"allowed_ips,omitempty"`
}

// issue makes a token through the admin API, quicker than a CLI process
// for the tokens a test only needs to exist.
func (s *consoleServer) issue(req tokenRequest) issued {
	s.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		s.t.Fatal(err)
	}
	var tok issued
	if code := call(s.t, "POST", s.base+"/v1/tokens", s.api, string(body), &tok); code != http.StatusCreated {
		s.t.Fatalf("POST /v1/tokens %s: %d", body, code)
	}
	return tok
}

// admin makes a console admin's token (writ:admin for the server) with
// the CLI.
func (s *consoleServer) admin() issued {
	s.t.Helper()
	out := runWrit(s.t, s.dir, "token", "issue", "--issuer", consoleIssuer, "--output", "json",
		"--subject", "admin", "--audience", consoleIssuer, "--scope", "writ:admin", "--ttl", "1h")
	var tok issued
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.Token == "" || tok.JTI == "" {
		s.t.Fatalf("writ token issue: %v: %q", err, out)
	}
	return tok
}

// whoami presents a token to the server's /v1/whoami for audience and
// returns the answer's status: 200 when the token works.
func (s *consoleServer) whoami(token, audience string) int {
	s.t.Helper()
	return call(s.t, "GET", s.base+"/v1/whoami?audience="+url.QueryEscape(audience), token, "", nil)
}

// show is what the server holds of a token (GET /v1/tokens/{jti}, what
// writ token show --output json prints).
func (s *consoleServer) show(jti string) issuer.Details {
	s.t.Helper()
	var d issuer.Details
	if code := call(s.t, "GET", s.base+"/v1/tokens/"+jti, s.api, "", &d); code != http.StatusOK {
		s.t.Fatalf("GET /v1/tokens/%s: %d", jti, code)
	}
	return d
}

// tab opens a tab in a new browser context (no cookies shared with any
// other tab) of the test's browser, closed at the end of the test. At the
// end, the test fails if a page of the tab broke its Content-Security-
// Policy (an inline script or style, a resource from elsewhere) or threw
// a JavaScript exception: the console's pages are to do neither.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	var mu sync.Mutex
	var broken []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Source == cdplog.EntrySourceSecurity {
				broken = append(broken, ev.Entry.URL+": "+ev.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			broken = append(broken, ev.ExceptionDetails.URL+": "+ev.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range broken {
			t.Errorf("in the browser: %s", b)
		}
	})
	return ctx
}

// actionTimeout bounds one step in the browser: generous, for a loaded
// machine running the server under the race detector.
const actionTimeout = 30 * time.Second

// do runs browser actions with a deadline, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := doErr(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// doErr runs browser actions with a deadline and returns their error.
func doErr(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// get runs one browser action that returns a value, with a deadline,
// failing the test on an error.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page, failing the test on
// an error or an exception.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[T](js))
}

// open navigates the tab to a path of the console and waits for the page.
func (s *consoleServer) open(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(s.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// submit clicks a submit button, waits for the page the form leads to to
// load, and returns that page's HTTP status.
func submit(t *testing.T, ctx context.Context, button string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		t.Fatalf("submit with %s: %v", button, err)
	}
	return resp.Status
}

// path is the path of the tab's page.
func path(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc := get(t, ctx, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// signIn signs in the tab by pasting token on the login page, and waits
// for the signed-in page.
func (s *consoleServer) signIn(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	s.open(t, ctx, "/ui/login")
	do(t, ctx, chromedp.SetValue(chromedp.ID("token"), token))
	submit(t, ctx, "#sign-in")
	if err := doErr(ctx, chromedp.WaitReady(chromedp.ID("whoami"))); err != nil {
		t.Fatalf("not signed in (page %s): %v", path(t, ctx), err)
	}
}

// signedInAdmin starts a server for the test and returns it with a tab
// signed in to its console as an admin, with the token the test also
// calls the admin API with.
func signedInAdmin(t *testing.T, b context.Context) (*consoleServer, context.Context) {
	t.Helper()
	s := startConsole(t)
	ctx := tab(t, b)
	s.signIn(t, ctx, s.api)
	return s, ctx
}

// noScript turns JavaScript off in the tab, for its pages from now on.
func noScript(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
}

// phone sets the tab's viewport to a phone's, 375×812 CSS pixels.
func phone(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
}

// sessionCookie returns the console's session cookie in the tab, failing
// the test when there is none.
func sessionCookie(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "writ_session") {
			return c
		}
	}
	t.Fatalf("no session cookie among %d", len(res.Cookies))
	return nil
}

// getWithCookie requests a console page outside the browser with a cookie,
// without following redirects, and returns the status and Location.
func getWithCookie(t *testing.T, rawURL string, c *network.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// valueJS is the expression that reads the new token from #new-token,
// an input's value or an element's text.
const valueJS = `(e => e ? (e.value ?? e.textContent).trim() : "")(document.getElementById("new-token"))`

// newToken reads the token shown once on the page.
func newToken(t *testing.T, ctx context.Context) string {
	t.Helper()
	do(t, ctx, chromedp.WaitReady(chromedp.ID("new-token")))
	tok := eval[string](t, ctx, valueJS)
	if strings.Count(tok, ".") < 2 && !strings.HasPrefix(tok, "v4.public.") {
		t.Fatalf("#new-token holds %q, not a token", tok)
	}
	return tok
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 15s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errorf formats a test failure's context with the tab's page path.
func errorf(t *testing.T, ctx context.Context, format string, args ...any) {
	t.Helper()
	t.Errorf("%s (page %s)", fmt.Sprintf(format, args...), path(t, ctx))
}
