package server

import (
	"mime"
	"net/http"

	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// whoami returns the verified claims of the caller's token, and its
// permissions parsed (member "permissions"): the way to test a token. Its
// audience is the issuer's unless ?audience= names another; each
// ?permission=RESOURCE:ACTION must be allowed (403 insufficient_scope
// otherwise).
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	v := s.verify
	if aud := r.URL.Query().Get("audience"); aud != "" {
		var err error
		// A verifier for this request alone: no token cache to allocate.
		if v, err = s.verifierFor(aud, 0); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
	}
	required, err := requiredPermissions(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	refused := func(_ *http.Request, err error) { s.metrics.verifications.WithLabelValues(resultLabel(err)).Inc() }
	cfg := s.bearerConfig()
	cfg.OnRefused = refused
	bearer.Middleware(v, cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFromContext(r.Context())
		s.metrics.verifications.WithLabelValues("valid").Inc()
		if !checkPermissions(w, c, required) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(appendPermissions(c.RawJSON(), c))
	})).ServeHTTP(w, r)
}

// readToken reads an application/x-www-form-urlencoded body with one token.
func readToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return "", false
	}
	if vs := r.PostForm["token"]; len(vs) != 1 || vs[0] == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", `exactly one "token" parameter is required`)
		return "", false
	}
	return r.PostForm.Get("token"), true
}

// introspect is RFC 7662 token introspection, for admins. A token is active
// when it verifies for its own audience: signature, key, times, issuer and
// revocation all hold. The caller is not the token's client: a token bound
// to networks is active wherever the caller is, and the answer carries its
// allowed_ips for the resource server to check against its own client.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	token, ok := readToken(w, r)
	if !ok {
		return
	}
	c, err := s.anyAudience.Verify(r.Context(), token)
	if err != nil {
		s.metrics.verifications.WithLabelValues(resultLabel(err)).Inc()
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	s.metrics.verifications.WithLabelValues("valid").Inc()
	resp := map[string]any{
		"active": true, "iss": c.Issuer, "sub": c.Subject, "aud": c.Audience, "jti": c.ID,
		"exp": c.ExpiresAt.Unix(), "iat": c.IssuedAt.Unix(), "client_id": c.ClientID, "token_type": "Bearer",
	}
	if c.Scope != "" {
		resp["scope"] = c.Scope
	}
	if !c.NotBefore.IsZero() {
		resp["nbf"] = c.NotBefore.Unix()
	}
	if len(c.AllowedIPs) > 0 {
		resp["allowed_ips"] = c.AllowedIPs
	}
	writeJSON(w, http.StatusOK, resp)
}

// revoke is RFC 7009 token revocation. The caller authenticates with an
// admin token, from inside its networks if it is bound to any, or with the
// very token it revokes, from anywhere: revoking a token bound to networks
// only takes it away from whoever holds it. As the RFC asks, an invalid or
// unknown token gets 200 too.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	token, ok := readToken(w, r)
	if !ok {
		return
	}
	// The caller first, so that one who is neither learns nothing about the
	// token, not even whether it is valid.
	var caller string
	auth, err := bearer.Token(r)
	if err != nil {
		// Two Authorization headers, or an empty token: answered as the
		// middleware answers it on every other endpoint.
		w.Header().Set("WWW-Authenticate", bearer.Challenge{Realm: realm, Error: "invalid_request", Description: err.Error()}.String())
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if auth == token {
		caller = "self"
	} else if auth != "" {
		client, err := bearer.ClientAddr(r, s.cfg.TrustedProxies)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		ac, err := s.verify.VerifyFrom(r.Context(), auth, client)
		if err == nil && ac.HasScope(AdminScope) {
			caller = adminActor(ac)
		}
	}
	if caller == "" {
		w.Header().Set("WWW-Authenticate", bearer.Challenge{Realm: realm}.String())
		writeError(w, http.StatusUnauthorized, "invalid_client", "authenticate with an admin token or the token itself")
		return
	}
	c, err := s.anyAudience.Verify(r.Context(), token)
	if err != nil {
		s.metrics.verifications.WithLabelValues(resultLabel(err)).Inc()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	s.metrics.verifications.WithLabelValues("valid").Inc()
	if caller == "self" {
		caller = "self:" + text.Escape(c.Subject)
	}
	if _, err := s.cfg.Revocations.RevokeToken(completing(r), c.ID, revocation.Options{Reason: "RFC 7009 revocation", Actor: caller}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.revocations.WithLabelValues("token").Inc()
	s.snap.Refresh(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
