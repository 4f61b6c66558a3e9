package server

import (
	"net/http"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// issuing guards the routes that a token with issuer.IssueScope may use
// as well as an admin's: a token of this server, for its own audience,
// with AdminScope issues, lists, reads and revokes any token; one with
// issuer.IssueScope instead issues tokens within its own grants (see
// delegator), lists and reads those of its own subject (ownTokens,
// mayShow) and revokes itself and those it issued (mayRevoke). Others get
// 401 or 403 per RFC 6750.
func (s *Server) issuing(h http.HandlerFunc) http.HandlerFunc {
	mw := bearer.Middleware(s.verify, s.bearerConfig())
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _ := verifier.ClaimsFromContext(r.Context()); !c.HasScope(AdminScope) && !c.HasScope(issuer.IssueScope) {
			w.Header().Set("WWW-Authenticate", bearer.Challenge{Realm: realm, Error: "insufficient_scope",
				Description: "the token lacks a required scope", Scope: AdminScope + " " + issuer.IssueScope}.String())
			writeError(w, http.StatusForbidden, "insufficient_scope", "this takes the scope "+AdminScope+" or "+issuer.IssueScope)
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

// ownTokens narrows f, a listing of tokens, to the subject of a token
// that issues by delegation (see delegator): such a token lists the
// tokens of its own subject only, and asking for another's is answered
// 403. It reports whether the request may go on.
func ownTokens(w http.ResponseWriter, r *http.Request, f *issuer.Filter) bool {
	d := delegator(r)
	switch {
	case d == nil:
		return true
	case f.Subject != "" && f.Subject != d.Subject:
		writeError(w, http.StatusForbidden, "access_denied", "delegation: a token with "+issuer.IssueScope+" lists the tokens of its own subject only")
		return false
	}
	f.Subject = d.Subject
	return true
}

// mayShow reports whether the token of r may read rec: an admin may, a
// token that issues by delegation only the records of its own subject,
// others being answered 404 as if they did not exist.
func mayShow(w http.ResponseWriter, r *http.Request, rec *issuer.Record) bool {
	if !issuer.Sees(delegator(r), rec) {
		writeError(w, http.StatusNotFound, "not_found", "unknown token")
		return false
	}
	return true
}

// mayRevoke reports whether the token of r may revoke the token jti: an
// admin may revoke any, a token that issues by delegation only itself and
// the tokens it issued. Others are answered 403, or 404 when they are
// not of its subject.
func (s *Server) mayRevoke(w http.ResponseWriter, r *http.Request, jti string) bool {
	d := delegator(r)
	if d == nil || jti == d.ID {
		return true
	}
	rec, err := s.cfg.Tokens.Get(r.Context(), jti)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if !mayShow(w, r, rec) {
		return false
	}
	if !issuer.MayRevoke(d, rec) {
		writeError(w, http.StatusForbidden, "access_denied", "delegation: a token with "+issuer.IssueScope+" revokes only itself and the tokens it issued")
		return false
	}
	return true
}
