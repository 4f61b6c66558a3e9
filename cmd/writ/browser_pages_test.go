package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/writ-dev/writ/internal/usage"
)

// consolePage is one page of the console: how a signed-in tab gets to it.
type consolePage struct {
	name  string
	visit func(t *testing.T, ctx context.Context)
}

// tour fills a fresh server with a few tokens (a delegated one with a
// child, a revoked one, a regenerated one), signs admin in to ctx and
// returns every page of the console with that data. The login pages are
// visited signed out, in tabs of their own.
func tour(t *testing.T, b context.Context, s *consoleServer, ctx context.Context) []consolePage {
	t.Helper()
	runWrit(t, s.dir, "permissions", "define", "orders", "--actions", "read,write,refund")
	runWrit(t, s.dir, "permissions", "define", "reports", "--actions", "read")
	ci := s.issue(tokenRequest{Subject: "svc-ci", Audience: []string{apiAudience}, Scopes: []string{"orders:read"}, Name: "ci-deploy", TTL: "30d"})
	s.issue(tokenRequest{Subject: "svc-billing", Audience: []string{apiAudience}, Scopes: []string{"orders:refund"}, Name: "billing", TTL: "7d"})
	lost := s.issue(tokenRequest{Subject: "alice", Audience: []string{apiAudience}, Scopes: []string{"reports:read"}, Name: "alice-laptop", AllowedIPs: []string{"203.0.113.0/24"}})
	for path, body := range map[string]string{
		"/v1/tokens/" + lost.JTI + "/revoke":   `{"reason":"laptop lost"}`,
		"/v1/tokens/" + ci.JTI + "/regenerate": `{"grace":"1h"}`,
	} {
		if code := call(t, "POST", s.base+path, s.api, body, nil); code/100 != 2 {
			t.Fatalf("POST %s: %d", path, code)
		}
	}
	parent := s.issue(tokenRequest{Subject: "team-orders", Audience: []string{consoleIssuer, apiAudience},
		Scopes: []string{"writ:issue", "orders:read", "orders:write"}, Name: "orders-team", TTL: "30d"})
	if code := call(t, "POST", s.base+"/v1/tokens", parent.Token,
		`{"subject":"team-orders","audience":["`+apiAudience+`"],"scopes":["orders:read"],"ttl":"1d","name":"orders-reader"}`, nil); code != http.StatusCreated {
		t.Fatalf("a delegated child through the API: %d", code)
	}
	// What verifiers reported: the team's token used from two addresses
	// and once beyond its permissions; the lost laptop's token still
	// presented after its revocation.
	reporter := s.issue(tokenRequest{Subject: "api-gateway", Audience: []string{consoleIssuer}, Scopes: []string{"writ:usage"}, Name: "usage-reporter", TTL: "30d"})
	now := time.Now()
	var uses []usage.Use
	for i, u := range []struct{ jti, client, outcome string }{
		{parent.JTI, "198.51.100.20", usage.Accepted},
		{parent.JTI, "198.51.100.20", usage.Accepted},
		{parent.JTI, "203.0.113.77", usage.Accepted},
		{parent.JTI, "203.0.113.77", usage.Permission},
		{lost.JTI, "192.0.2.66", usage.Revoked},
	} {
		// (The tokens are seconds old: a use before its token's issuance
		// would be ignored.)
		uses = append(uses, usage.Use{JTI: u.jti, At: now.Add(time.Duration(i) * time.Second), Client: netip.MustParseAddr(u.client), Outcome: u.outcome})
	}
	if code := call(t, "POST", s.base+"/v1/usage", reporter.Token, string(usage.Append(nil, uses)), nil); code != http.StatusAccepted {
		t.Fatalf("a usage report: %d", code)
	}
	link := s.consoleLink("--subject", "admin", "--scope", "writ:admin")

	s.signIn(t, ctx, s.api)
	s.open(t, ctx, "/ui/keys")
	var activeKID string
	for k, st := range keyStates(t, ctx) {
		if st == "active" && activeKID == "" {
			activeKID = k
		}
	}
	open := func(p string) func(*testing.T, context.Context) {
		return func(t *testing.T, ctx context.Context) { s.open(t, ctx, p) }
	}
	created := 0
	return []consolePage{
		{"login", func(t *testing.T, ctx context.Context) { s.open(t, ctx, "/ui/login") }},
		{"login-link", func(t *testing.T, ctx context.Context) {
			do(t, ctx, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("body")))
		}},
		{"tokens", open("/ui/tokens")},
		{"create", open("/ui/tokens/new")},
		{"created", func(t *testing.T, ctx context.Context) {
			created++ // names are unique among a subject's live tokens
			s.create(t, ctx, fmt.Sprintf("deploy-bot-%d", created), "svc-deploy", apiAudience,
				chromedp.Click(chromedp.CSS(`#create input[name="scope"][value="orders:read"]`)),
				chromedp.Click(chromedp.CSS(`#create input[name="lifetime"][value="90d"]`)))
		}},
		{"token", open("/ui/tokens/" + parent.JTI)},
		{"token-revoked", open("/ui/tokens/" + lost.JTI)},
		{"keys", open("/ui/keys")},
		{"compromise", func(t *testing.T, ctx context.Context) {
			s.open(t, ctx, "/ui/keys")
			form := fmt.Sprintf(`form.compromise[data-kid=%q]`, activeKID)
			do(t, ctx, chromedp.SetValue(chromedp.CSS(form+` [name="confirm"]`), "not-the-kid"))
			submit(t, ctx, form+" .compromise-submit")
		}},
		{"audit", open("/ui/audit")},
		{"revocations", open("/ui/revocations")},
		// A new token's page reloaded: its details, said to have been
		// shown once.
		{"created-reloaded", func(t *testing.T, ctx context.Context) {
			created++
			s.create(t, ctx, fmt.Sprintf("deploy-bot-%d", created), "svc-deploy", apiAudience)
			do(t, ctx, chromedp.Reload(), chromedp.WaitReady(chromedp.ID("status")))
		}},
		// Pages further back, with their links to the newest.
		{"audit-older", open("/ui/audit?before=1000000")},
		{"revocations-older", open("/ui/revocations?before=1000000")},
	}
}

// pageTab is the tab a page is seen in: the signed-in tab, or for the
// login pages a tab of their own, signed out, as a stranger sees them.
func pageTab(t *testing.T, b, signedIn context.Context, p consolePage) context.Context {
	t.Helper()
	if strings.HasPrefix(p.name, "login") {
		return tab(t, b)
	}
	return signedIn
}

// testPages checks every page, with the data of a tour: WCAG 2.1 AA
// basics (a11yJS) at a desktop's size, and at a phone's 375 CSS pixels no
// sideways scrolling (tables may scroll inside themselves).
func testPages(t *testing.T, b context.Context) {
	s := startConsole(t)
	ctx := tab(t, b)
	pages := tour(t, b, s, ctx)
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			pctx := pageTab(t, b, ctx, p)
			do(t, pctx, chromedp.EmulateViewport(1200, 800))
			p.visit(t, pctx)
			for _, problem := range eval[[]string](t, pctx, a11yJS) {
				errorf(t, pctx, "%s", problem)
			}
			phone(t, pctx)
			p.visit(t, pctx)
			if overflow := eval[[]string](t, pctx, overflowJS); len(overflow) > 0 {
				errorf(t, pctx, "wider than a phone's 375px: %s", strings.Join(overflow, "; "))
			}
		})
	}
}

// overflowJS lists what makes a page on a phone scroll sideways: nothing
// when the page is no wider than the 375px viewport, else the elements
// that reach beyond it (a page without a viewport meta tag is laid out
// 980px wide, and said so).
const overflowJS = `(() => {
	const root = document.scrollingElement, width = root.clientWidth;
	if (width > 375) return ["the layout is " + width + "px wide: no <meta name=viewport content=width=device-width>"];
	if (root.scrollWidth <= width) return [];
	const wide = [];
	for (const el of document.body.querySelectorAll("*")) {
		const r = el.getBoundingClientRect();
		if (r.right > width + 1 && el.closest("[data-scroll], .scroll") === null)
			wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + String(el.className).replace(/ /g, ".") : "") + " right=" + Math.round(r.right));
	}
	return ["scrollWidth " + root.scrollWidth + " > " + width].concat(wide.slice(0, 8));
})()`

// a11yJS lists a page's accessibility problems: no lang, not one h1, no
// main landmark, a control without a label, an image without alt text, a
// button or link without a name, a th without scope, and text whose
// contrast with the background it is drawn on is under 4.5:1 (3:1 for
// large text), computed from the colours as the page styles them.
const a11yJS = `(() => {
	const problems = [];
	if (!document.documentElement.lang) problems.push("no lang on <html>");
	const h1 = document.querySelectorAll("h1").length;
	if (h1 !== 1) problems.push(h1 + " h1 elements, want 1");
	if (!document.querySelector("main")) problems.push("no <main> landmark");
	const visible = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
	for (const el of document.querySelectorAll("input, select, textarea")) {
		if (el.type === "hidden") continue;
		if (el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
			problems.push("no label for " + el.tagName.toLowerCase() + " " + (el.id ? "#" + el.id : "name=" + el.name));
	}
	for (const img of document.querySelectorAll("img"))
		if (!img.hasAttribute("alt")) problems.push("no alt on img " + img.src);
	for (const b of document.querySelectorAll("button, a[href]"))
		if (visible(b) && !b.textContent.trim() && !b.getAttribute("aria-label")) problems.push("no accessible name for " + b.outerHTML.slice(0, 80));
	for (const th of document.querySelectorAll("th"))
		if (!th.getAttribute("scope")) problems.push("th without scope: " + th.textContent.trim());

	// WCAG relative luminance and contrast of computed colours.
	const rgba = s => { const m = s.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
	const lum = c => {
		const ch = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
	};
	const over = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1});
	const background = el => {
		const layers = [];
		for (let e = el; e; e = e.parentElement) {
			const c = rgba(getComputedStyle(e).backgroundColor);
			if (c.a > 0) { layers.push(c); if (c.a === 1) break; }
		}
		let bg = {r: 255, g: 255, b: 255, a: 1};
		for (const c of layers.reverse()) bg = over(c, bg);
		return bg;
	};
	const seen = new Set();
	for (const el of document.body.querySelectorAll("*")) {
		if (!visible(el) || el.closest("[disabled]")) continue;
		const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== "");
		const control = el.matches("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea, select");
		if (!own && !control) continue;
		const st = getComputedStyle(el);
		const bg = background(el);
		const fg = over(rgba(st.color), bg);
		const l1 = lum(fg), l2 = lum(bg);
		const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
		const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
		const key = st.color + "/" + st.backgroundColor + "/" + el.tagName;
		if (ratio < need && !seen.has(key)) {
			seen.add(key);
			problems.push("contrast " + ratio.toFixed(2) + " < " + need + " for " + el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " " + JSON.stringify((el.textContent || el.value || "").trim().slice(0, 30)) + " (" + st.color + " on rgb(" + [bg.r, bg.g, bg.b].map(Math.round) + "))");
		}
	}
	return problems;
})()`

// testKeyboard: the login form is used with the keyboard alone: Tab to the
// token field, type, Tab to the button (which shows that it has the focus),
// Enter signs in; on the signed-in page the first Tab reaches a skip link.
func testKeyboard(t *testing.T, b context.Context) {
	s := startConsole(t)
	ctx := tab(t, b)
	s.open(t, ctx, "/ui/login")
	tabTo := func(id string) {
		t.Helper()
		for range 30 {
			do(t, ctx, chromedp.KeyEvent("\t"))
			if eval[string](t, ctx, `document.activeElement.id`) == id {
				return
			}
		}
		t.Fatalf("30 presses of Tab never reached #%s", id)
	}
	tabTo("token")
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: s.api}); err != nil {
		t.Fatal(err)
	}
	tabTo("sign-in")
	if shown := eval[bool](t, ctx, `(s => s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0 || s.boxShadow !== "none")(getComputedStyle(document.activeElement))`); !shown {
		t.Error("the focused sign-in button shows no focus outline")
	}
	do(t, ctx, chromedp.KeyEvent("\r"))
	if err := doErr(ctx, chromedp.WaitReady(chromedp.ID("whoami"))); err != nil {
		t.Fatalf("Enter on the sign-in button did not sign in (page %s): %v", path(t, ctx), err)
	}
	do(t, ctx, chromedp.KeyEvent("\t"))
	if skip := eval[string](t, ctx, `(e => e.tagName === "A" ? e.getAttribute("href") : "")(document.activeElement)`); !strings.HasPrefix(skip, "#") {
		t.Errorf("the first Tab reached %q, want a skip link to the main content", skip)
	}
}

// testScreenshots saves a PNG of every page, and the tokens list at a
// phone's size, in the directory WRIT_SCREENSHOTS names
// (scripts/console-screenshots: docs/console).
func testScreenshots(t *testing.T, b context.Context) {
	dir := os.Getenv("WRIT_SCREENSHOTS")
	if dir == "" {
		t.Skip("WRIT_SCREENSHOTS names no directory to save screenshots in")
	}
	s := startConsole(t)
	ctx := tab(t, b)
	pages := tour(t, b, s, ctx)
	save := func(t *testing.T, ctx context.Context, name string) {
		t.Helper()
		png := get(t, ctx, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			pctx := pageTab(t, b, ctx, p)
			do(t, pctx, chromedp.EmulateViewport(1200, 800))
			p.visit(t, pctx)
			if p.name == "created" {
				// No token in the repository, even one of a throwaway
				// database: the picture shows only its start.
				do(t, pctx, chromedp.Evaluate[chromedp.Void](`(e => e.value = e.value.slice(0, 20) + "… (cut for this picture)")(document.getElementById("new-token"))`))
			}
			save(t, pctx, fmt.Sprintf("%02d-%s", i+1, p.name))
		})
	}
	phone(t, ctx)
	s.open(t, ctx, "/ui/tokens")
	save(t, ctx, fmt.Sprintf("%02d-tokens-phone", len(pages)+1))
}
