package server_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
)

// issueBound issues a token bound to nets.
func (f *fixture) issueBound(subject string, aud []string, nets string, scopes ...string) string {
	f.t.Helper()
	req := issuer.Request{Subject: subject, Audience: aud, Scopes: scopes}
	for _, n := range strings.Fields(nets) {
		req.AllowedIPs = append(req.AllowedIPs, netip.MustParsePrefix(n))
	}
	tok, err := f.tokens.Issue(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	return tok.Token
}

// TestAuthFromClientAddress: the server authenticates its callers from
// their address (the tests' 127.0.0.1), or, behind a trusted proxy, from
// the address its forwarding headers give; a token bound to other
// networks is refused on the admin API and whoami alike.
func TestAuthFromClientAddress(t *testing.T) {
	plain := newFixture(t)
	proxied := newFixture(t, func(c *server.Config, _ *sqlite.DB) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	const refused = `Bearer realm="writ", error="invalid_token", error_description="client address not allowed"`
	for _, tc := range []struct {
		name   string
		f      *fixture
		nets   string
		hdr    []string
		status int
	}{
		{"inside", plain, "127.0.0.0/8 ::1/128", nil, 200},
		{"outside", plain, "10.0.0.0/8", nil, 401},
		{"outside, spoofing X-Forwarded-For", plain, "10.0.0.0/8", []string{"X-Forwarded-For", "10.1.2.3"}, 401},
		{"outside, spoofing Forwarded", plain, "10.0.0.0/8", []string{"Forwarded", "for=10.1.2.3"}, 401},
		{"via a trusted proxy, inside", proxied, "10.0.0.0/8", []string{"X-Forwarded-For", "10.1.2.3"}, 200},
		{"via a trusted proxy, outside", proxied, "127.0.0.0/8 ::1/128", []string{"Forwarded", `for="[2001:db8::1]:4711"`}, 401},
		{"via a trusted proxy, malformed", proxied, "10.0.0.0/8", []string{"X-Forwarded-For", "10.1.2.3, junk"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			admin := f.issueBound("root", []string{f.url}, tc.nets, server.AdminScope)
			for _, path := range []string{"/v1/tokens", "/v1/whoami"} {
				code, h, body := f.do("GET", path, admin, "", "", tc.hdr...)
				if code != tc.status {
					t.Errorf("GET %s: %d %s, want %d", path, code, body, tc.status)
				}
				if code == 401 && h.Get("WWW-Authenticate") != refused {
					t.Errorf("GET %s: challenge %q", path, h.Get("WWW-Authenticate"))
				}
			}
			// RFC 7009: an admin token from outside its networks revokes nothing.
			other := f.issue("dave", []string{"https://api"})
			code, _, _ := f.do("POST", "/v1/revoke", admin, "application/x-www-form-urlencoded", "token="+other, tc.hdr...)
			if code != tc.status {
				t.Errorf("RFC 7009 revocation by the admin: %d, want %d", code, tc.status)
			}
		})
	}
	if got := metricValue(t, plain, `writ_verifications_total{result="client_ip"}`); got == "" || got == "0" {
		t.Errorf("no client_ip refusal counted: %q", got)
	}
}

// metricValue returns the value of the metric series named by line's
// start, "" when there is none.
func metricValue(t *testing.T, f *fixture, series string) string {
	t.Helper()
	_, _, body := f.do("GET", "/metrics", "", "", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestIntrospectAndRevokeBoundTokens: introspection and RFC 7009 revocation
// are about someone else's token: a token bound to networks is active
// wherever the admin asks from, and introspection says its networks; the
// token revokes itself from anywhere.
func TestIntrospectAndRevokeBoundTokens(t *testing.T) {
	f := newFixture(t)
	form := "application/x-www-form-urlencoded"
	tok := f.issueBound("carol", []string{"https://api"}, "10.0.0.0/8 2001:db8::/32")
	code, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+tok)
	var resp struct {
		Active     bool     `json:"active"`
		AllowedIPs []string `json:"allowed_ips"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 || !resp.Active ||
		strings.Join(resp.AllowedIPs, " ") != "10.0.0.0/8 2001:db8::/32" {
		t.Fatalf("introspection: %d %s", code, body)
	}
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+f.issue("dave", []string{"https://api"})); strings.Contains(body, "allowed_ips") {
		t.Errorf("introspection of an unbound token: %s", body)
	}
	if code, _, body := f.do("POST", "/v1/revoke", tok, form, "token="+tok); code != 200 {
		t.Fatalf("self-revocation from outside the token's networks: %d %s", code, body)
	}
	if _, _, body := f.do("POST", "/v1/introspect", f.admin, form, "token="+tok); !strings.Contains(body, `"active": false`) {
		t.Errorf("after self-revocation: %s", body)
	}
}

// TestIssueAllowedIPsAPI: the admin API's "allowed_ips" binds the token,
// addresses standing for one host; a bad network is 400 naming it.
func TestIssueAllowedIPsAPI(t *testing.T) {
	f := newFixture(t)
	code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json",
		`{"subject":"svc","audience":["https://api"],"allowed_ips":["10.0.0.0/8","2001:db8::1","::ffff:192.0.2.0/120"]}`)
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	var tok struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	code, _, body = f.do("GET", "/v1/tokens/"+tok.JTI, f.admin, "", "")
	if code != 200 || !strings.Contains(body, `"allowed_ips": [
    "10.0.0.0/8",
    "2001:db8::1/128",
    "192.0.2.0/24"
  ]`) {
		t.Errorf("record: %d %s", code, body)
	}
	for _, tc := range []struct{ nets, want string }{
		{`["10.0.0.0/33"]`, `allowed network \"10.0.0.0/33\"`},
		{`["10.1.2.3/8"]`, `network \"10.1.2.3/8\" has host bits set`},
		{`["fe80::1%eth0"]`, `allowed network \"fe80::1%eth0\"`},
		{`"10.0.0.0/8"`, `\"allowed_ips\" is an array of CIDR prefixes`},
		{`[]`, `\"allowed_ips\" is empty: leave it out`},
	} {
		code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json",
			`{"subject":"svc","audience":["https://api"],"allowed_ips":`+tc.nets+`}`)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("allowed_ips %s: %d %s, want 400 saying %s", tc.nets, code, body, tc.want)
		}
	}
}
