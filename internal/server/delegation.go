package server

import (
	"net/http"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// issuing guards POST /v1/tokens: a token of this server, for its own
// audience, with AdminScope issues any token; one with issuer.IssueScope
// instead issues tokens within its own grants (see delegator). Others get
// 401 or 403 per RFC 6750.
func (s *Server) issuing(h http.HandlerFunc) http.HandlerFunc {
	mw := bearer.Middleware(s.verify, bearer.Config{Realm: realm})
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := verifier.ClaimsFromContext(r.Context()); !c.HasScope(AdminScope) && !c.HasScope(issuer.IssueScope) {
			w.Header().Set("WWW-Authenticate", bearer.Challenge{Realm: realm, Error: "insufficient_scope",
				Description: "the token lacks a required scope", Scope: AdminScope + " " + issuer.IssueScope}.String())
			writeError(w, http.StatusForbidden, "insufficient_scope", "issuing tokens takes the scope "+AdminScope+" or "+issuer.IssueScope)
			return
		}
		h(w, r)
	})).ServeHTTP
}

// delegator returns the claims of the token of r when it issues by
// delegation (issuer.Request.Delegator): when it lacks AdminScope. The
// issuer then refuses what goes beyond its grants, with an error wrapping
// issuer.ErrDelegation that fail answers 403.
func delegator(r *http.Request) *verifier.Claims {
	if c, ok := verifier.ClaimsFromContext(r.Context()); ok && !c.HasScope(AdminScope) {
		return c
	}
	return nil
}
