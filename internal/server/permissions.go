package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/writ-dev/writ/internal/permission"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// listPermissions answers the permission catalogue: the resource types
// declared, and their actions.
func (s *Server) listPermissions(w http.ResponseWriter, r *http.Request) {
	types, err := s.cfg.Tokens.Permissions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if types == nil {
		types = []issuer.ResourceType{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"types": types})
}

type defineRequest struct {
	Actions []string `json:"actions"`
}

// definePermissions declares the resource type of the path with the
// actions of the body, or replaces its actions.
func (s *Server) definePermissions(w http.ResponseWriter, r *http.Request) {
	var req defineRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	t, err := s.cfg.Tokens.DefineResourceType(completing(r), issuer.ResourceType{Name: r.PathValue("type"), Actions: req.Actions}, actor(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// removePermissions removes the resource type of the path.
func (s *Server) removePermissions(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Tokens.RemoveResourceType(completing(r), r.PathValue("type"), actor(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// maxRequiredPermissions bounds whoami's permission parameters.
const maxRequiredPermissions = 16

// requiredPermissions reads whoami's permission parameters, each
// RESOURCE:ACTION naming one resource without wildcards.
func requiredPermissions(r *http.Request) ([]string, error) {
	ps := r.URL.Query()["permission"]
	if len(ps) > maxRequiredPermissions {
		return nil, fmt.Errorf("at most %d permission parameters", maxRequiredPermissions)
	}
	for _, p := range ps {
		if _, _, err := permission.ParseRequest(p); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// checkPermissions answers 403 insufficient_scope, and returns false,
// unless c allows each of required.
func checkPermissions(w http.ResponseWriter, c *verifier.Claims, required []string) bool {
	for _, p := range required {
		if err := c.RequirePermission(permission.Split(p)); err != nil {
			w.Header().Set("WWW-Authenticate", bearer.Challenge{Realm: realm, Error: "insufficient_scope",
				Description: "the token lacks a required permission", Scope: strings.Join(required, " ")}.String())
			writeError(w, http.StatusForbidden, "insufficient_scope", err.Error())
			return false
		}
	}
	return true
}

// grantedPermission is a permission of a token, as whoami shows it.
type grantedPermission struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// appendPermissions appends to the claims object claims the member
// "permissions": c's scopes that are valid permissions (writ's own
// scopes aside), parsed.
func appendPermissions(claims []byte, c *verifier.Claims) []byte {
	ps := []grantedPermission{}
	for _, s := range c.Scopes() {
		if permission.IsPermission(s) && !strings.HasPrefix(s, "writ:") {
			resource, action := permission.Split(s)
			ps = append(ps, grantedPermission{resource, action})
		}
	}
	b, _ := json.Marshal(ps) // no value of these types fails
	// A verified payload is an object with members (iss, sub, …), which
	// ends with its '}'.
	claims = bytes.TrimRight(claims, " \t\r\n")
	if len(claims) < 2 || claims[len(claims)-1] != '}' {
		return claims
	}
	return append(append(append(claims[:len(claims)-1:len(claims)-1], `,"permissions":`...), b...), '}')
}
