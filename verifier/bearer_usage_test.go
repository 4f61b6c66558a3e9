package verifier_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// TestMiddlewareRecordsUsage: behind the middleware, a verifier with a
// UsageRecorder records each request that presents a verified token with
// the client address, and a refusal by scope or permission after Verify
// adds its own record.
func TestMiddlewareRecordsUsage(t *testing.T) {
	fx := fixedKeys()
	rec := &uses{}
	v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Usage = rec })
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("/any", bearer.Middleware(v, bearer.Config{})(ok))
	mux.Handle("/admin", bearer.Middleware(v, bearer.Config{Scopes: []string{"admin"}})(ok))
	mux.Handle("/guarded", bearer.Middleware(v, bearer.Config{})(bearer.RequireScopes("admin")(ok)))
	mux.Handle("/api/", bearer.Middleware(v, bearer.Config{})(bearer.RequirePermission("/api/", "")(ok)))
	// Behind a trusted proxy on loopback, the client is the forwarded one.
	mux.Handle("/proxied", bearer.Middleware(v, bearer.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})(ok))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	loopback := netip.MustParseAddr("127.0.0.1")
	valid := fx.ed.jwt(nil, set("scope", "read orders/*:read"))
	expired := fx.ed.jwt(nil, set("exp", testNow.Add(-time.Hour)))
	for _, tc := range []struct {
		name, method, path, token string
		forwarded                 string // X-Forwarded-For
		status                    int
		outcomes                  string // the outcomes recorded, in order
		client                    netip.Addr
	}{
		{name: "accepted", path: "/any", token: valid, status: 200, outcomes: "accepted", client: loopback},
		{name: "scope of the middleware", path: "/admin", token: valid, status: 403, outcomes: "accepted scope", client: loopback},
		{name: "RequireScopes", path: "/guarded", token: valid, status: 403, outcomes: "accepted scope", client: loopback},
		{name: "permission allowed", path: "/api/orders/42", token: valid, status: 200, outcomes: "accepted", client: loopback},
		{name: "permission refused", method: "POST", path: "/api/orders/42", token: valid, status: 403, outcomes: "accepted permission", client: loopback},
		{name: "no resource: 404 before any permission", path: "/api/orders/", token: valid, status: 404, outcomes: "accepted", client: loopback},
		{name: "expired", path: "/any", token: expired, status: 401, outcomes: "expired", client: loopback},
		{name: "forwarded client", path: "/proxied", token: valid, forwarded: "203.0.113.9", status: 200, outcomes: "accepted", client: netip.MustParseAddr("203.0.113.9")},
		{name: "forged: nothing", path: "/admin", token: fx.other.jwt(nil, nil), status: 401},
		{name: "no token: nothing", path: "/admin", status: 401},
		{name: "malformed forwarding: nothing", path: "/proxied", token: valid, forwarded: "not an address", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.forwarded != "" {
				req.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			var outcomes []string
			for _, u := range rec.take() {
				outcomes = append(outcomes, u.Outcome)
				if u.JTI != testJTI || u.Client != tc.client || !u.At.Equal(testNow) {
					t.Errorf("recorded %+v, want jti %s from %s at %s", u, testJTI, tc.client, testNow)
				}
			}
			if got := strings.Join(outcomes, " "); got != tc.outcomes {
				t.Fatalf("recorded %q, want %q", got, tc.outcomes)
			}
		})
	}
}
