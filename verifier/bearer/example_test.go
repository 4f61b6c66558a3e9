package bearer_test

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

//go:embed testdata/example-jwks.json
var jwks []byte

//go:embed testdata/example.jwt
var exampleToken string

func Example() {
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
		Now: func() time.Time { return time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
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
