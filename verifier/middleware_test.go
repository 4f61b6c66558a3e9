package verifier_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// Tests of the RFC 6750 middleware (package verifier/bearer) over a real
// loopback server, with tokens that the verifier tests make.

// middlewareCase is one request and the answer it must get.
type middlewareCase struct {
	name      string
	cfg       bearer.Config
	checker   error // the revocation checker's answer
	header    []string
	query     []string // access_token values
	status    int
	challenge string // the exact WWW-Authenticate; "" when none
	subject   string // the subject the handler must see on 200
}

func TestMiddleware(t *testing.T) {
	fx := fixedKeys()
	valid := fx.ed.jwt(nil, nil)
	paseto := fx.pk.paseto(set("sub", "bob"))
	expired := fx.ed.jwt(nil, set("exp", testNow.Add(-time.Hour)))
	forged := fx.other.jwt(nil, nil)
	const invalid = `Bearer error="invalid_token", error_description=`
	for _, tc := range []middlewareCase{
		{name: "no token", status: 401, challenge: "Bearer"},
		{name: "no token, realm", cfg: bearer.Config{Realm: "writ"}, status: 401, challenge: `Bearer realm="writ"`},
		{name: "no token, quotes dropped from the realm", cfg: bearer.Config{Realm: `a"b`}, status: 401, challenge: `Bearer realm="ab"`},
		{name: "valid", header: []string{"Bearer " + valid}, status: 200, subject: "alice"},
		{name: "valid PASETO", header: []string{"Bearer " + paseto}, status: 200, subject: "bob"},
		{name: "scheme in lower case", header: []string{"bearer " + valid}, status: 200, subject: "alice"},
		{name: "scheme in upper case", header: []string{"BEARER " + valid}, status: 200, subject: "alice"},
		{name: "several spaces after the scheme", header: []string{"Bearer   " + valid}, status: 200, subject: "alice"},
		{name: "another scheme", header: []string{"Basic YWxpY2U6cHc="}, status: 401, challenge: "Bearer"},
		{name: "scheme alone", header: []string{"Bearer"}, status: 401, challenge: "Bearer"},
		{name: "scheme and spaces, trimmed by HTTP", header: []string{"Bearer   "}, status: 401, challenge: "Bearer"},
		{name: "invalid", header: []string{"Bearer " + forged}, status: 401, challenge: invalid + `"invalid signature"`},
		{name: "invalid, realm", cfg: bearer.Config{Realm: "writ"}, header: []string{"Bearer " + forged}, status: 401, challenge: `Bearer realm="writ", error="invalid_token", error_description="invalid signature"`},
		{name: "expired", header: []string{"Bearer " + expired}, status: 401, challenge: invalid + `"token expired"`},
		{name: "garbage", header: []string{"Bearer not-a-token"}, status: 401, challenge: invalid + `"malformed token"`},
		{name: "token with a quote", header: []string{`Bearer a"b`}, status: 401, challenge: invalid + `"malformed token"`},
		{name: "too large", header: []string{"Bearer " + strings.Repeat("a", verifier.MaxTokenSize+1)}, status: 401, challenge: invalid + `"token too large"`},
		{name: "two Authorization headers", header: []string{"Bearer " + valid, "Bearer " + valid}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="more than one Authorization header"`},
		{name: "two Authorization headers, one Basic", header: []string{"Basic YWxpY2U6cHc=", "Bearer " + valid}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="more than one Authorization header"`},
		{name: "scope required and present", cfg: bearer.Config{Scopes: []string{"read:all"}}, header: []string{"Bearer " + valid}, status: 200, subject: "alice"},
		{name: "scope missing", cfg: bearer.Config{Scopes: []string{"read:all", "admin"}}, header: []string{"Bearer " + valid}, status: 403,
			challenge: `Bearer error="insufficient_scope", error_description="the token lacks a required scope", scope="read:all admin"`},
		{name: "scope prefix is not the scope", cfg: bearer.Config{Scopes: []string{"read"}}, header: []string{"Bearer " + valid}, status: 403,
			challenge: `Bearer error="insufficient_scope", error_description="the token lacks a required scope", scope="read"`},
		{name: "invalid token with scope required", cfg: bearer.Config{Scopes: []string{"admin"}}, header: []string{"Bearer " + forged}, status: 401, challenge: invalid + `"invalid signature"`},
		{name: "query token not allowed", query: []string{valid}, status: 401, challenge: "Bearer"},
		{name: "query token allowed", cfg: bearer.Config{AllowQueryToken: true}, query: []string{valid}, status: 200, subject: "alice"},
		{name: "invalid query token", cfg: bearer.Config{AllowQueryToken: true}, query: []string{forged}, status: 401, challenge: invalid + `"invalid signature"`},
		{name: "header and query tokens", cfg: bearer.Config{AllowQueryToken: true}, header: []string{"Bearer " + valid}, query: []string{valid}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="more than one token in the request"`},
		{name: "two query tokens", cfg: bearer.Config{AllowQueryToken: true}, query: []string{valid, valid}, status: 400,
			challenge: `Bearer error="invalid_request", error_description="more than one token in the request"`},
		{name: "header token, query ignored when not allowed", header: []string{"Bearer " + valid}, query: []string{forged}, status: 200, subject: "alice"},
		{name: "revoked", checker: fmt.Errorf("%w: jti", verifier.ErrRevoked), header: []string{"Bearer " + valid}, status: 401, challenge: invalid + `"token revoked"`},
		{name: "revocation data too stale", checker: errors.New("revocation snapshot 3h old"), header: []string{"Bearer " + valid}, status: 503,
			challenge: `Bearer error_description="token cannot be checked now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Revocation = &fakeChecker{err: tc.checker} })
			srv := httptest.NewServer(bearer.Middleware(v, tc.cfg)(claimsHandler(t)))
			defer srv.Close()
			resp, body := doRequest(t, srv.URL+"/resource", tc.header, tc.query)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Values("WWW-Authenticate"); tc.challenge == "" && len(got) != 0 || tc.challenge != "" && (len(got) != 1 || got[0] != tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status == 200 {
				if body != "sub="+tc.subject {
					t.Errorf("handler saw %q, want sub=%s", body, tc.subject)
				}
			} else if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q on an error", cc)
			}
			checkNoToken(t, resp, body, append(tc.header, tc.query...))
		})
	}
}

// claimsHandler answers with the subject of the claims the middleware
// stored, and fails the test when there are none.
func claimsHandler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verifier.ClaimsFromContext(r.Context())
		if !ok {
			t.Error("handler called without claims")
			http.Error(w, "no claims", 500)
			return
		}
		fmt.Fprintf(w, "sub=%s", c.Subject)
	})
}

// doRequest sends a GET to u with the given Authorization headers and
// access_token query values, and returns the response and its body.
func doRequest(t *testing.T, u string, header, query []string) (*http.Response, string) {
	t.Helper()
	if len(query) > 0 {
		u += "?" + url.Values{"access_token": query}.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		req.Header.Add("Authorization", h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// checkNoToken fails if the response's headers or body hold any of the
// request's credentials or a long piece of one.
func checkNoToken(t *testing.T, resp *http.Response, body string, creds []string) {
	t.Helper()
	var all strings.Builder
	all.WriteString(body)
	for name, values := range resp.Header {
		all.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
	}
	for _, c := range creds {
		c = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(c, "Bearer"), "bearer"))
		for _, piece := range strings.Split(c, ".") {
			if len(piece) >= 16 && strings.Contains(all.String(), piece) {
				t.Errorf("response echoes the token: %q", all.String())
			}
		}
	}
}

func TestMiddlewareRequireScopes(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/write", bearer.Middleware(v, bearer.Config{})(bearer.RequireScopes("write")(ok)))
	mux.Handle("/admin", bearer.Middleware(v, bearer.Config{})(bearer.RequireScopes("write", "admin")(ok)))
	mux.Handle("/unguarded", bearer.RequireScopes("write")(ok)) // mounted outside Middleware
	srv := httptest.NewServer(mux)
	defer srv.Close()
	token := "Bearer " + fx.ed.jwt(nil, set("scope", "read write"))
	for _, tc := range []struct {
		path      string
		header    []string
		status    int
		challenge string
	}{
		{"/write", []string{token}, 200, ""},
		{"/admin", []string{token}, 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope", scope="write admin"`},
		{"/write", nil, 401, "Bearer"},
		{"/unguarded", []string{token}, 401, "Bearer"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := doRequest(t, srv.URL+tc.path, tc.header, nil)
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
			checkNoToken(t, resp, body, tc.header)
		})
	}
}
