package verifier_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/verifier/bearer"
)

// TestRequirePermission: the route guard takes the resource from the path
// below its prefix and the action from the method, or a fixed one.
func TestRequirePermission(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	var reached string
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = r.Method + " " + r.URL.Path
		io.WriteString(w, "ok")
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", bearer.Middleware(v, bearer.Config{})(bearer.RequirePermission("/api/", "")(ok)))
	mux.Handle("/export/", bearer.Middleware(v, bearer.Config{})(bearer.RequirePermission("/export/", "export")(ok)))
	mux.Handle("/unguarded/", bearer.RequirePermission("/unguarded/", "")(ok)) // mounted outside Middleware
	srv := httptest.NewServer(mux)
	defer srv.Close()
	token := "Bearer " + fx.ed.jwt(nil, set("scope", "read orders/*:write repos/acme/**:read billing:export"))
	for _, tc := range []struct {
		method, path string
		status       int
		challenge    string
	}{
		{"GET", "/api/orders/42", 200, ""},
		{"HEAD", "/api/orders/42", 200, ""},
		{"POST", "/api/orders/42", 200, ""},
		{"DELETE", "/api/orders/42", 200, ""},
		{"GET", "/api/repos/acme", 200, ""},
		{"GET", "/api/repos/acme/api/v2", 200, ""},
		{"PUT", "/api/repos/acme/api", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="repos/acme/api:write"`},
		{"GET", "/api/orders/42/items", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="orders/42/items:read"`},
		{"GET", "/api/orders", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="orders:read"`},
		{"GET", "/api/read", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="read:read"`},
		{"GET", "/export/billing", 200, ""},
		{"POST", "/export/billing", 200, ""},
		{"GET", "/export/orders/42", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required permission", scope="orders/42:export"`},
		{"GET", "/unguarded/orders/42", 401, "Bearer"},
		// Paths that name no resource: 404, whatever the token.
		{"GET", "/api/", 404, ""},
		{"GET", "/api/orders/42/", 404, ""},
		{"GET", "/api/orders/*", 404, ""},
		{"GET", "/api/orders/%2A", 404, ""},
		{"GET", "/api/orders%2F42", 404, ""},
		{"GET", "/api/orders/4%32", 404, ""},
		{"GET", "/api/orders/4 2", 404, ""},
		{"GET", "/api/orders/~42", 404, ""},
		{"GET", "/api/orders/42:admin", 404, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			reached = ""
			req, err := http.NewRequestWithContext(context.Background(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
			if (reached != "") != (tc.status == 200) {
				t.Errorf("the handler was reached (%q) for a %d", reached, resp.StatusCode)
			}
		})
	}
}

// TestRequirePermissionUncleanPath: without http.ServeMux to clean the
// path, a guard still refuses dot segments rather than take them for a
// resource.
func TestRequirePermissionUncleanPath(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	reached := false
	h := bearer.Middleware(v, bearer.Config{})(bearer.RequirePermission("/api/", "")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })))
	token := "Bearer " + fx.ed.jwt(nil, set("scope", "orders/**:admin"))
	for _, path := range []string{"/api/orders/../admin", "/api/orders/./42", "/api/../api/orders/42", "/api//orders", "/other/orders/42", "/api"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		r.Header.Set("Authorization", token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound || reached {
			t.Errorf("%s: %d (handler reached: %v), want 404", path, w.Code, reached)
		}
	}
}

func TestRequirePermissionPanicsOnMisuse(t *testing.T) {
	for _, tc := range [][2]string{{"api/", ""}, {"/api", ""}, {"", ""}, {"/api/", "Read"}, {"/api/", "read write"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequirePermission(%q, %q) did not panic", tc[0], tc[1])
				}
			}()
			bearer.RequirePermission(tc[0], tc[1])
		}()
	}
}

func TestMethodAction(t *testing.T) {
	for m, want := range map[string]string{"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "write", "PUT": "write", "PATCH": "write", "DELETE": "write", "PROPFIND": "write"} {
		if got := bearer.MethodAction(m); got != want {
			t.Errorf("MethodAction(%s) = %s, want %s", m, got, want)
		}
	}
}
