package bearer

import (
	"net/http"
	"strings"

	"github.com/writ-dev/writ/internal/permission"
)

// RequirePermission returns middleware, mounted within Middleware, that
// guards a subtree of routes by permission: a request for prefix+RESOURCE
// needs a token allowing action on RESOURCE (see verifier.Claims.Allows),
// so that under prefix "/api/", GET /api/orders/42 needs a permission
// such as orders/42:read, orders/*:read, orders/**:write or
// orders/42:admin. An empty action is taken from the method: read for
// GET, HEAD and OPTIONS, write for every other.
//
// It answers 403 with error="insufficient_scope" when the token does not
// allow it, naming the permission required in the challenge's scope, and
// 401 when there are no claims (a handler mounted outside Middleware).
//
// A path that names no resource is answered 404 before any permission is
// looked at: a path not below prefix, or whose remainder is not a valid
// resource, segments of A-Z a-z 0-9 . _ - separated by single '/' (no
// wildcard, no "." or "..", no empty segment, so no trailing '/'), or one
// sent with escapes (r.URL.RawPath set, as "%2F" or "%2E" make it), which
// the application behind might read otherwise than the guard. It reads
// r.URL.Path, as cleaned by http.ServeMux (or left as received by other
// routers: the checks above hold either way).
//
// It panics, as http.ServeMux does for a bad pattern, when prefix does not
// begin and end with '/' or when action is not a valid action.
func RequirePermission(prefix, action string) func(http.Handler) http.Handler {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		panic("bearer: RequirePermission: the prefix must begin and end with '/'")
	}
	if action != "" {
		if err := permission.CheckRequest("x", action); err != nil {
			panic("bearer: RequirePermission: " + err.Error())
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := claims(w, r)
			if c == nil {
				return
			}
			resource, ok := strings.CutPrefix(r.URL.Path, prefix)
			if !ok || r.URL.RawPath != "" || permission.CheckRequest(resource, permission.Read) != nil {
				w.Header().Set("Cache-Control", "no-store")
				http.NotFound(w, r)
				return
			}
			act := action
			if act == "" {
				act = MethodAction(r.Method)
			}
			if err := c.RequirePermission(resource, act); err != nil {
				recordRefusal(r, c, err)
				challenge(w, http.StatusForbidden, Challenge{Error: "insufficient_scope", Description: "the token lacks a required permission", Scope: resource + ":" + act})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// MethodAction is the action that RequirePermission requires for an HTTP
// method when it is given none: read for GET, HEAD and OPTIONS, which
// change nothing, and write for every other.
func MethodAction(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return permission.Read
	}
	return permission.Write
}
