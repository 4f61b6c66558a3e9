package verifier_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// TestMiddlewareAllowedIPs: over a real loopback server, a token bound to
// networks passes the middleware only from inside them, the client being
// the connection (127.0.0.1) unless it is a trusted proxy, whose
// forwarding headers then name the client.
func TestMiddlewareAllowedIPs(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	loopback := "Bearer " + fx.ed.jwt(nil, set("allowed_ips", []string{"127.0.0.0/8", "::1/128"}))
	tenNet := "Bearer " + fx.ed.jwt(nil, set("allowed_ips", []string{"10.0.0.0/8"}))
	unbound := "Bearer " + fx.ed.jwt(nil, nil)
	trusted := bearer.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	const refused = `Bearer error="invalid_token", error_description="client address not allowed"`
	for _, tc := range []struct {
		name      string
		cfg       bearer.Config
		token     string
		forwarded map[string]string
		status    int
		challenge string
	}{
		{name: "inside", token: loopback, status: 200},
		{name: "outside", token: tenNet, status: 401, challenge: refused},
		{name: "unbound", token: unbound, status: 200},
		{name: "spoofed X-Forwarded-For", token: tenNet, forwarded: map[string]string{"X-Forwarded-For": "10.1.2.3"}, status: 401, challenge: refused},
		{name: "spoofed Forwarded", token: tenNet, forwarded: map[string]string{"Forwarded": "for=10.1.2.3"}, status: 401, challenge: refused},
		{name: "trusted proxy, X-Forwarded-For", cfg: trusted, token: tenNet, forwarded: map[string]string{"X-Forwarded-For": "10.1.2.3"}, status: 200},
		{name: "trusted proxy, Forwarded", cfg: trusted, token: tenNet, forwarded: map[string]string{"Forwarded": `for="10.1.2.3:80"`}, status: 200},
		{name: "trusted proxy, client outside", cfg: trusted, token: loopback, forwarded: map[string]string{"X-Forwarded-For": "192.0.2.1"}, status: 401, challenge: refused},
		{name: "trusted proxy, spoof on the left", cfg: trusted, token: tenNet, forwarded: map[string]string{"X-Forwarded-For": "10.1.2.3, 192.0.2.1"}, status: 401, challenge: refused},
		{name: "trusted proxy, unknown client", cfg: trusted, token: loopback, forwarded: map[string]string{"Forwarded": "for=unknown"}, status: 401, challenge: refused},
		{name: "trusted proxy, unknown client, unbound token", cfg: trusted, token: unbound, forwarded: map[string]string{"Forwarded": "for=unknown"}, status: 200},
		{name: "trusted proxy, malformed", cfg: trusted, token: unbound, forwarded: map[string]string{"X-Forwarded-For": "10.1.2.3, junk"}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="malformed or conflicting forwarding headers from a trusted proxy"`},
		{name: "trusted proxy, headers disagree", cfg: trusted, token: tenNet, forwarded: map[string]string{"X-Forwarded-For": "10.1.2.3", "Forwarded": "for=192.0.2.1"}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="malformed or conflicting forwarding headers from a trusted proxy"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(bearer.Middleware(v, tc.cfg)(claimsHandler(t)))
			defer srv.Close()
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tc.token)
			for name, value := range tc.forwarded {
				req.Header.Set(name, value)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
	// The refusal carries its sentinel for OnRefused.
	var got error
	cfg := bearer.Config{OnRefused: func(_ *http.Request, err error) { got = err }}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:4711"
	r.Header.Set("Authorization", loopback)
	bearer.Middleware(v, cfg)(claimsHandler(t)).ServeHTTP(httptest.NewRecorder(), r)
	checkSentinel(t, got, verifier.ErrClientIP)
}
