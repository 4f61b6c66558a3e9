package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	verifierusage "github.com/writ-dev/writ/verifier/usage"
)

// report is the body of a usage report of uses.
func report(uses ...usage.Use) string { return string(usage.Append(nil, uses)) }

func used(jti string, at time.Time, client, outcome string) usage.Use {
	u := usage.Use{JTI: jti, At: at, Outcome: outcome}
	if client != "" {
		u.Client = netip.MustParseAddr(client)
	}
	return u
}

// usageEvents returns the actions of the token.used.* events of jti.
func usageEvents(t *testing.T, f *fixture, jti string) []string {
	t.Helper()
	log, err := audit.NewLog(f.db)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := log.List(context.Background(), audit.Filter{JTI: jti})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "token.used.") {
			out = append(out, e.Action)
		}
	}
	return out
}

// apiToken issues a token of subject for https://api, whose uses the
// tests report.
func apiToken(t *testing.T, f *fixture, subject string) *issuer.Token {
	t.Helper()
	tok, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: subject, Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestUsageAuth: POST /v1/usage takes a token of this server with
// writ:usage; the admin scope is not it.
func TestUsageAuth(t *testing.T) {
	f := newFixture(t)
	reporter := f.issue("verifier", []string{f.url}, server.UsageScope)
	elsewhere := f.issue("verifier", []string{"https://api"}, server.UsageScope)
	body := report()
	for _, tc := range []struct {
		name, token string
		code        int
	}{
		{"no token", "", 401},
		{"another audience", elsewhere, 401},
		{"admin", f.admin, 403},
		{"usage", reporter, 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, resp := f.do("POST", "/v1/usage", tc.token, "application/json", body)
			if code != tc.code {
				t.Errorf("%d %s, want %d", code, resp, tc.code)
			}
			if code == 403 && !strings.Contains(h.Get("WWW-Authenticate"), `scope="writ:usage"`) {
				t.Errorf("challenge %q", h.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestUsageReports: reports are recorded and answered 202 with their
// counts; malformed ones 400, large ones 413; uses of unknown tokens are
// ignored; a new network and a use after revocation make audit events
// and metrics; the admin API shows and sorts by the usage.
func TestUsageReports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reporter := f.issue("verifier", []string{f.url}, server.UsageScope)
	tok, unused := apiToken(t, f, "alice"), apiToken(t, f, "bob")
	now := time.Now()
	for _, tc := range []struct {
		name, contentType, body string
		code                    int
		want                    string
	}{
		{"recorded", "application/json", report(used(tok.ID, now, "192.0.2.1", "accepted"), used(tok.ID, now, "192.0.2.1", "scope"),
			used("made-up", now, "192.0.2.1", "accepted")), 202, `{"accepted":2,"ignored":1}`},
		{"new network", "application/json", report(used(tok.ID, now, "198.51.100.7", "frobbed")), 202, `{"accepted":1,"ignored":0}`},
		{"empty", "application/json", `{"uses":[]}`, 202, `{"accepted":0,"ignored":0}`},
		{"not JSON", "application/json", `{"uses":[`, 400, "malformed usage report"},
		{"unknown member", "application/json", `{"uses":[],"x":1}`, 400, `unknown member \"x\"`},
		{"bad outcome", "application/json", `{"uses":[{"jti":"a","at":"2026-01-01T00:00:00Z","outcome":"Yes"}]}`, 400, `outcome \"Yes\"`},
		{"bad address", "application/json", `{"uses":[{"jti":"a","at":"2026-01-01T00:00:00Z","client_ip":"nope","outcome":"accepted"}]}`, 400, "not an IP address"},
		{"too many uses", "application/json", report(slices.Repeat([]usage.Use{used("made-up", now, "", "accepted")}, usage.MaxUses+1)...), 400, "more than 10000 uses"},
		{"too large", "application/json", `{"uses":[` + strings.Repeat(" ", usage.MaxBody) + `]}`, 413, "exceeds"},
		{"not JSON content", "text/plain", `{"uses":[]}`, 415, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := f.do("POST", "/v1/usage", reporter, tc.contentType, tc.body)
			compact := strings.Join(strings.Fields(body), "")
			if code != tc.code || !strings.Contains(body, tc.want) && !strings.Contains(compact, tc.want) {
				t.Errorf("%d %s, want %d and %s", code, body, tc.code, tc.want)
			}
		})
	}
	if got := usageEvents(t, f, tok.ID); strings.Join(got, " ") != audit.UsedNewNetwork {
		t.Errorf("events after the reports: %q, want one new network", got)
	}

	// Revoked: a use reported afterwards is an event, once an hour.
	if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		code, _, body := f.do("POST", "/v1/usage", reporter, "application/json", report(used(tok.ID, time.Now(), "192.0.2.1", "revoked")))
		if code != 202 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if got := usageEvents(t, f, tok.ID); strings.Join(got, " ") != audit.UsedNewNetwork+" "+audit.UsedAfterRevocation {
		t.Errorf("events after the revocation: %q", got)
	}

	code, _, body := f.do("GET", "/v1/tokens/"+tok.ID, f.admin, "", "")
	var d issuer.Details
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil || d.Usage == nil {
		t.Fatalf("show: %d %s", code, body)
	}
	if d.Usage.Uses != 1 || d.Usage.Refusals["scope"] != 1 || d.Usage.Refusals["frobbed"] != 1 || d.Usage.Refusals["revoked"] != 2 ||
		len(d.Usage.Clients) != 2 || d.Usage.LastClient != netip.MustParseAddr("192.0.2.1") || len(d.Usage.Days) == 0 || d.LastUsed.IsZero() {
		t.Errorf("usage shown: %s", body)
	}
	for _, m := range []string{`"first_use"`, `"last_use"`, `"last_client_ip": "192.0.2.1"`, `"clients_overflow": 0`, `"last_used"`, `"days"`, `"refusals"`} {
		if !strings.Contains(body, m) {
			t.Errorf("show lacks %s: %s", m, body)
		}
	}
	for _, tc := range []struct {
		query  string
		before string // listed before the next, whatever else is listed
		next   string // listed after before; "" for not at all
		not    string
	}{
		// The admin's and the reporter's own uses, which the server
		// records in the background, may be later than tok's.
		{"?sort=last_used", tok.ID, unused.ID, ""},
		{"?used=never", unused.ID, "", tok.ID},
		{"?used=never&sort=last_used&subject=bob", unused.ID, "", tok.ID},
	} {
		code, _, body := f.do("GET", "/v1/tokens"+tc.query, f.admin, "", "")
		var got struct{ Tokens []issuer.Record }
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || len(got.Tokens) == 0 {
			t.Fatalf("list%s: %d %s", tc.query, code, body)
		}
		i := slices.IndexFunc(got.Tokens, func(r issuer.Record) bool { return r.ID == tc.before })
		j := slices.IndexFunc(got.Tokens, func(r issuer.Record) bool { return r.ID == tc.next })
		if i < 0 || tc.next != "" && j < i || tc.not != "" && strings.Contains(body, tc.not) {
			t.Errorf("list%s: %s", tc.query, body)
		}
	}
	for _, q := range []string{"?sort=oldest", "?used=yes", "?sort=last_used&cursor=1.2"} {
		if code, _, body := f.do("GET", "/v1/tokens"+q, f.admin, "", ""); code != 400 {
			t.Errorf("list%s: %d %s, want 400", q, code, body)
		}
	}

	_, _, metrics := f.do("GET", "/metrics", "", "", "")
	for _, want := range []string{
		`writ_usage_uses_total{outcome="accepted"} 2`, `writ_usage_uses_total{outcome="scope"} 1`,
		`writ_usage_uses_total{outcome="other"} 1`, `writ_usage_uses_total{outcome="revoked"} 2`,
		"writ_usage_unknown_tokens_total 1\n", "writ_usage_new_network_total 1\n", "writ_usage_after_revocation_total 2\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestServePrunesUsage: the server's prune loop deletes the summaries of
// tokens expired more than the retention ago.
func TestServePrunesUsage(t *testing.T) {
	f := newFixture(t, func(c *server.Config, db *sqlite.DB) {
		c.RotationCheck = 20 * time.Millisecond
		later, err := issuer.New(issuer.Config{Issuer: c.Issuer, Keys: c.Ring, Store: db,
			Now: func() time.Time { return time.Now().Add(issuer.UsageRetention + 2*time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Tokens = later
	})
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "heidi", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.RecordUsage(ctx, []issuer.Use{{JTI: tok.ID, At: time.Now(), Outcome: "accepted"}}, "test"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := f.tokens.Show(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Usage == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the usage of a token expired long ago is still there: %+v", d.Usage)
		}
	}
}

// TestUsageHostile: full reports of made-up jtis, or of one token from
// as many addresses, are answered 202 and stay bounded.
func TestUsageHostile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reporter := f.issue("verifier", []string{f.url}, server.UsageScope)
	tok := apiToken(t, f, "alice")
	now := time.Now()
	for _, tc := range []struct {
		name string
		use  func(n int) usage.Use
		want string
	}{
		{"made-up jtis", func(n int) usage.Use { return used(fmt.Sprint("made-up-", n), now, "192.0.2.1", "accepted") }, `{"accepted":0,"ignored":10000}`},
		{"distinct addresses", func(n int) usage.Use {
			return used(tok.ID, now, fmt.Sprintf("2001:db8:%x::1", n), "accepted")
		}, `{"accepted":10000,"ignored":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uses := make([]usage.Use, usage.MaxUses)
			for n := range uses {
				uses[n] = tc.use(n)
			}
			code, _, body := f.do("POST", "/v1/usage", reporter, "application/json", report(uses...))
			if code != 202 || strings.Join(strings.Fields(body), "") != tc.want {
				t.Errorf("%d %s, want 202 %s", code, body, tc.want)
			}
		})
	}
	d, err := f.tokens.Show(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Usage; u == nil || len(u.Clients) != issuer.MaxUsageClients || u.ClientsOverflow != usage.MaxUses-issuer.MaxUsageClients {
		t.Errorf("usage after 10,000 addresses: %+v", u)
	}
	if n := len(usageEvents(t, f, tok.ID)); n != issuer.MaxUsageNetworks-1 {
		t.Errorf("%d new-network events, want %d", n, issuer.MaxUsageNetworks-1)
	}
	// The token's summary, and perhaps the reporter's own (the server
	// records the uses of the tokens it verifies): none of a made-up jti.
	if err := f.db.UsageEach(ctx, func(u *store.Usage) error {
		if strings.HasPrefix(u.JTI, "made-up-") {
			t.Errorf("a summary of the made-up %s", u.JTI)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	_, _, metrics := f.do("GET", "/metrics", "", "", "")
	if !strings.Contains(metrics, "writ_usage_unknown_tokens_total 10000\n") {
		t.Errorf("the made-up jtis are not counted: %q", regexp.MustCompile(`(?m)^writ_usage_unknown_tokens_total .*$`).FindString(metrics))
	}
}

// TestUsageFromReporter: a verifier with a usage.Reporter reports the uses
// of the tokens it verifies to a real server, which summarises them.
func TestUsageFromReporter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rep, err := verifierusage.NewReporter(verifierusage.Config{
		URL:   f.url + "/v1/usage",
		Token: verifierusage.StaticToken(f.issue("api", []string{f.url}, server.UsageScope)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := f.ring.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys: ks, Usage: rep})
	if err != nil {
		t.Fatal(err)
	}
	open := apiToken(t, f, "erin")
	bound, err := f.tokens.Issue(ctx, issuer.Request{Subject: "erin", Audience: []string{"https://api"},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("203.0.113.9")
	for range 3 {
		if _, err := v.VerifyFrom(ctx, open.Token, client); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.VerifyFrom(ctx, bound.Token, client); !errors.Is(err, verifier.ErrClientIP) {
		t.Fatalf("the bound token from outside its network: %v", err)
	}
	if _, err := v.Verify(ctx, open.Token+"x"); err == nil {
		t.Fatal("a tampered token verified")
	}
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rep.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if st := rep.Stats(); st.Sent != 4 || st.Dropped != 0 || st.Pending != 0 {
		t.Errorf("reporter stats: %+v, want 4 sent", st)
	}
	d, err := f.tokens.Show(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Usage; u == nil || u.Uses != 3 || u.LastClient != client || len(u.Clients) != 1 || len(u.Refusals) != 0 {
		t.Errorf("the open token's usage: %+v", u)
	}
	d, err = f.tokens.Show(ctx, bound.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Usage; u == nil || u.Uses != 0 || u.Refusals["ip"] != 1 {
		t.Errorf("the bound token's usage: %+v", u)
	}
}

// TestUsageOneAtATime: while a report is being recorded, another is
// answered 429 with Retry-After, and accepted once the first is done.
func TestUsageOneAtATime(t *testing.T) {
	f := newFixture(t)
	reporter := f.issue("verifier", []string{f.url}, server.UsageScope)
	tok := apiToken(t, f, "frank")
	body := report(used(tok.ID, time.Now(), "192.0.2.1", "accepted"))
	release := f.srv.HoldUsageSlot()
	status, hdr, _ := f.do("POST", "/v1/usage", reporter, "application/json", body)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("a report while another is recorded: %d, Retry-After %q; want 429 with Retry-After", status, hdr.Get("Retry-After"))
	}
	release()
	if status, _, body := f.do("POST", "/v1/usage", reporter, "application/json", body); status != http.StatusAccepted {
		t.Errorf("the report sent again: %d %s", status, body)
	}
}

// TestUsageOwnTokens: the uses of the tokens that the server verifies
// itself (an admin's API calls) are recorded as reported ones are.
func TestUsageOwnTokens(t *testing.T) {
	f := newFixture(t)
	if status, _, body := f.do("GET", "/v1/whoami", f.admin, "", ""); status != http.StatusOK {
		t.Fatalf("whoami: %d %s", status, body)
	}
	admin, err := f.tokens.List(context.Background(), issuer.Filter{Subject: "admin", Limit: 1})
	if err != nil || len(admin) != 1 {
		t.Fatal(admin, err)
	}
	// The server records its own uses in the background, about every
	// second.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := f.tokens.Show(context.Background(), admin[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if u := d.Usage; u != nil {
			if u.Uses != 1 || !u.LastClient.IsLoopback() {
				t.Errorf("the admin token's usage: %+v", u)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the admin token's use was not recorded")
		}
	}
}

// sendSlowly starts a usage report with token (none if "") and
// contentType that sends the start of its body, then nothing until abort;
// done is closed when it is answered.
func sendSlowly(t *testing.T, f *fixture, token, contentType string) (abort func(), done chan struct{}) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", f.url+"/v1/usage", pr)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	req.ContentLength = 100000
	done = make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte(`{"uses":[`)); err != nil {
		t.Fatal(err)
	}
	return func() { pw.CloseWithError(errors.New("gone")); <-done }, done
}

// TestUsageSlowReporter: a reporter that sends its body slowly holds only
// its own token's turn: another reporter's report is recorded meanwhile
// (the slot for recording was once taken before the body was read).
func TestUsageSlowReporter(t *testing.T) {
	f := newFixture(t)
	slow := f.issue("slow", []string{f.url}, server.UsageScope)
	other := f.issue("other", []string{f.url}, server.UsageScope)
	tok := apiToken(t, f, "hank")
	abort, done := sendSlowly(t, f, slow, "application/json")
	defer func() { abort() }()
	body := report(used(tok.ID, time.Now(), "192.0.2.1", "accepted"))
	// The slow report is in the handler once its token's second report
	// is refused as in flight. A second report that took the turn first
	// had the slow one refused instead: then it starts again.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, _, _ := f.do("POST", "/v1/usage", slow, "application/json", body)
		if status == http.StatusTooManyRequests {
			break
		}
		select {
		case <-done:
			abort()
			abort, done = sendSlowly(t, f, slow, "application/json")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow report never held its token's turn: %d", status)
		}
	}
	if status, _, resp := f.do("POST", "/v1/usage", other, "application/json", body); status != http.StatusAccepted {
		t.Errorf("another reporter's report while one is slow: %d %s", status, resp)
	}
	// A report refused before the server reads its body is answered
	// without it (net/http would wait for up to 256 KiB of it first, to
	// keep the connection): a second of the same token, and those
	// refused by the authentication or for their content type.
	for _, tc := range []struct{ name, token, contentType string }{
		{"in flight", slow, "application/json"},
		{"no token", "", "application/json"},
		{"bad token", slow[:len(slow)-2] + "AA", "application/json"},
		{"without the scope", f.admin, "application/json"},
		{"not JSON", other, "text/plain"},
	} {
		abort, answered := sendSlowly(t, f, tc.token, tc.contentType)
		select {
		case <-answered:
		case <-time.After(20 * time.Second):
			t.Errorf("%s: refused before its body is read, answered only once its body is sent", tc.name)
		}
		abort()
	}
}

// TestUsageOwnAfterRevocation: a revoked admin token presented to the
// server itself raises the after-revocation event and its metric.
func TestUsageOwnAfterRevocation(t *testing.T) {
	f := newFixture(t)
	victim := f.issue("victim", []string{f.url}, server.AdminScope)
	recs, err := f.tokens.List(context.Background(), issuer.Filter{Subject: "victim", Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	c := recs[0].ID
	f.revoke(c)
	if status, _, _ := f.do("GET", "/v1/whoami", victim, "", ""); status != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", status)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, _, metrics := f.do("GET", "/metrics", "", "", "")
		if strings.Contains(metrics, "writ_usage_after_revocation_total 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the use after revocation is not counted")
		}
	}
	if evs := usageEvents(t, f, c); !slices.Contains(evs, audit.UsedAfterRevocation) {
		t.Errorf("events of the revoked token: %v", evs)
	}
}
