package bearer_test

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	wire "github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
	"github.com/writ-dev/writ/verifier/usage"
)

//go:embed testdata/example-jwks.json
var jwks []byte

//go:embed testdata/example.jwt
var exampleToken string

// newExampleVerifier verifies the example token, at a time it is valid,
// and records its uses with rec if not nil.
func newExampleVerifier(rec verifier.UsageRecorder) *verifier.Verifier {
	keys, err := verifier.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	v, err := verifier.New(verifier.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys:       keys,
		// The example token was issued at noon on 2026-01-01 for an hour.
		Now:   func() time.Time { return time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) },
		Usage: rec,
	})
	if err != nil {
		panic(err)
	}
	return v
}

func Example() {
	v := newExampleVerifier(nil)
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "orders of %s", c.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("/orders", bearer.Middleware(v, bearer.Config{Scopes: []string{"orders:read"}})(orders))
	mux.Handle("/admin", bearer.Middleware(v, bearer.Config{Scopes: []string{"admin"}})(orders))

	for _, path := range []string{"/orders", "/admin"} {
		for _, auth := range []string{"", "Bearer " + strings.TrimSpace(exampleToken)} {
			r := httptest.NewRequestWithContext(context.Background(), "GET", path, nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			fmt.Println(strings.TrimSpace(fmt.Sprint(path, " ", w.Code, " ", w.Header().Get("WWW-Authenticate"))))
		}
	}
	// Output:
	// /orders 401 Bearer
	// /orders 200
	// /admin 401 Bearer
	// /admin 403 Bearer error="insufficient_scope", error_description="the token lacks a required scope", scope="admin"
}

// RequirePermission guards a tree of routes: the resource is the path
// below the prefix, the action comes from the method (GET reads, POST
// writes). The example token holds orders:read and orders:write.
func ExampleRequirePermission() {
	v := newExampleVerifier(nil)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", bearer.Middleware(v, bearer.Config{})(bearer.RequirePermission("/api/", "")(api)))

	for _, req := range []string{"GET /api/orders", "POST /api/orders", "GET /api/orders/42", "GET /api/orders%2F42"} {
		method, path, _ := strings.Cut(req, " ")
		r := httptest.NewRequestWithContext(context.Background(), method, path, nil)
		r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(exampleToken))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(req, " ", w.Code, " ", w.Header().Get("WWW-Authenticate"))))
	}
	// Output:
	// GET /api/orders 200
	// POST /api/orders 200
	// GET /api/orders/42 403 Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="orders/42:read"
	// GET /api/orders%2F42 404
}

// With a usage.Reporter as the verifier's Config.Usage, the middleware
// reports each request's use to writ serve with the client's address:
// accepted, or the refusal. A request refused for a scope after Verify
// accepted its token makes a second record, scope.
func Example_usage() {
	// A stand-in for writ serve's POST /v1/usage.
	writ := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		uses, err := wire.Parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, u := range uses {
			fmt.Println(u.JTI, u.At.Format(time.RFC3339), u.Client, u.Outcome)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer writ.Close()

	reporter, err := usage.NewReporter(usage.Config{
		URL: writ.URL + "/v1/usage",
		// In production: a writ token with the scope writ:usage, read
		// from a file or the environment.
		Token: usage.StaticToken("example-usage-token"),
	})
	if err != nil {
		panic(err)
	}
	v := newExampleVerifier(reporter)
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("/orders", bearer.Middleware(v, bearer.Config{Scopes: []string{"orders:read"}})(orders))
	mux.Handle("/admin", bearer.Middleware(v, bearer.Config{Scopes: []string{"admin"}})(orders))
	for _, path := range []string{"/orders", "/admin"} {
		r := httptest.NewRequestWithContext(context.Background(), "GET", path, nil)
		r.RemoteAddr = "203.0.113.9:4711"
		r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(exampleToken))
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}

	// At shutdown, Close sends what is still pending.
	if err := reporter.Close(context.Background()); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", reporter.Stats())
	// Output:
	// _qInB0mO09uTpvcMfUzY9g 2026-01-01T12:30:00Z 203.0.113.9 accepted
	// _qInB0mO09uTpvcMfUzY9g 2026-01-01T12:30:00Z 203.0.113.9 accepted
	// _qInB0mO09uTpvcMfUzY9g 2026-01-01T12:30:00Z 203.0.113.9 scope
	// {Recorded:3 Sent:3 Dropped:0 Refused:0 Invalid:0 Failures:0 Pending:0}
}

// Behind a reverse proxy at 10.0.0.1, the client is the address the proxy
// appended; anyone else's forwarding headers are ignored.
func ExampleClientAddr() {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for _, remote := range []string{"10.0.0.1:4711", "203.0.113.9:4711"} {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.RemoteAddr = remote
		// The client wrote 192.0.2.66; the proxy appended 198.51.100.7.
		r.Header.Set("X-Forwarded-For", "192.0.2.66, 198.51.100.7")
		addr, err := bearer.ClientAddr(r, proxies)
		fmt.Println(addr, err)
	}
	// Output:
	// 198.51.100.7 <nil>
	// 203.0.113.9 <nil>
}
