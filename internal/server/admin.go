package server

import (
	"context"
	"net/http"
	"time"

	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// realm is the realm of the server's bearer challenges (RFC 6750 §3).
const realm = "writ"

// admin guards h with a writ token carrying AdminScope for the issuer's own
// audience: 401 without one, 403 with too little.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return s.withScope(AdminScope, h)
}

// withScope lets through requests bearing a token of this server, for its
// own audience, with scope; others get 401 or 403 per RFC 6750.
func (s *Server) withScope(scope string, h http.HandlerFunc) http.HandlerFunc {
	cfg := s.bearerConfig()
	cfg.Scopes = []string{scope}
	return bearer.Middleware(s.verify, cfg)(h).ServeHTTP
}

// bearerConfig is the configuration of every bearer middleware of the
// server: its realm, and the proxies whose forwarding headers name the
// client address that tokens bound to networks are checked against.
func (s *Server) bearerConfig() bearer.Config {
	return bearer.Config{Realm: realm, TrustedProxies: s.cfg.TrustedProxies}
}

// actor names the admin making a request, for the records.
func actor(r *http.Request) string {
	if c, ok := verifier.ClaimsFromContext(r.Context()); ok {
		return adminActor(c)
	}
	return "api"
}

// adminActor names the admin whose token c is. A subject that is not plain
// text (issued by an older writ) is escaped: the record stays plain.
func adminActor(c *verifier.Claims) string {
	return "api:" + text.Escape(c.Subject) + " (" + c.ID + ")"
}

type issueRequest struct {
	Subject  string        `json:"subject"`
	Audience []string      `json:"audience"`
	Scopes   []string      `json:"scopes"`
	TTL      *jsonDuration `json:"ttl"`     // nil: the issuer's default
	Expires  *time.Time    `json:"expires"` // RFC 3339, instead of ttl
	Format   string        `json:"format"`
	Name     string        `json:"name"`

	AllowedIPs jsonNetworks `json:"allowed_ips"`

	Description string `json:"description"`
}

type tokenResponse struct {
	Token  string    `json:"token"`
	JTI    string    `json:"jti"`
	Format string    `json:"format"`
	KID    string    `json:"kid"`
	Exp    int64     `json:"exp"`
	Issued time.Time `json:"issued"`
}

func newTokenResponse(t *issuer.Token) tokenResponse {
	return tokenResponse{t.Token, t.ID, string(t.Format), t.KeyID, t.ExpiresAt.Unix(), t.IssuedAt}
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Format == "" {
		req.Format = string(keys.JWT)
	}
	var ttl time.Duration
	if req.TTL != nil {
		if ttl = time.Duration(*req.TTL); ttl <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", `"ttl" must be positive: every token expires (leave it out for the default)`)
			return
		}
	}
	var expires time.Time
	if req.Expires != nil {
		// The zero time would read as no expiry given, the default.
		if expires = *req.Expires; expires.IsZero() {
			writeError(w, http.StatusBadRequest, "invalid_request", `"expires" must be in the future`)
			return
		}
	}
	t, err := s.cfg.Tokens.Issue(r.Context(), issuer.Request{
		Subject: req.Subject, Audience: req.Audience, Scopes: req.Scopes, TTL: ttl, Expires: expires,
		Format: keys.Format(req.Format), Name: req.Name, IssuedBy: actor(r),
		AllowedIPs: req.AllowedIPs, Delegator: delegator(r),
		Description: req.Description,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.issued.WithLabelValues(string(t.Format)).Inc()
	w.Header().Set("Location", "/v1/tokens/"+t.ID)
	writeJSON(w, http.StatusCreated, newTokenResponse(t))
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if !ownTokens(w, r, &f) {
		return
	}
	p, err := s.cfg.Tokens.ListPage(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Records == nil {
		p.Records = []issuer.Record{}
	}
	res := map[string]any{"tokens": p.Records}
	if p.Next != "" { // the cursor of the next page
		res["next"] = p.Next
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) showToken(w http.ResponseWriter, r *http.Request) {
	d, err := s.cfg.Tokens.Show(r.Context(), r.PathValue("jti"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !mayShow(w, r, &d.Record) {
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type revokeRequest struct {
	Reason string       `json:"reason"`
	Grace  jsonDuration `json:"grace"`
	Before string       `json:"before"` // subjects only: RFC 3339
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	var req revokeRequest
	if !optionalBody(w, r, &req) {
		return
	}
	if req.Before != "" {
		writeError(w, http.StatusBadRequest, "invalid_request", `"before" applies to subjects`)
		return
	}
	if !s.mayRevoke(w, r, r.PathValue("jti")) {
		return
	}
	e, err := s.cfg.Revocations.RevokeToken(completing(r), r.PathValue("jti"),
		revocation.Options{Reason: req.Reason, Actor: actor(r), Grace: time.Duration(req.Grace)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.revocations.WithLabelValues("token").Inc()
	s.snap.Refresh(r.Context())
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) revokeSubject(w http.ResponseWriter, r *http.Request) {
	var req revokeRequest
	if !optionalBody(w, r, &req) {
		return
	}
	var before time.Time
	if req.Before != "" {
		var err error
		// Before 1970 would read as zero, which means now to the list.
		if before, err = time.Parse(time.RFC3339, req.Before); err != nil || before.Unix() <= 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", `"before" must be an RFC 3339 time after 1970`)
			return
		}
	}
	if req.Grace != 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", `"grace" applies to single tokens`)
		return
	}
	e, err := s.cfg.Revocations.RevokeSubject(completing(r), r.PathValue("subject"), before,
		revocation.Options{Reason: req.Reason, Actor: actor(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.revocations.WithLabelValues("subject").Inc()
	s.snap.Refresh(r.Context())
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) regenerateToken(w http.ResponseWriter, r *http.Request) {
	var req revokeRequest
	if !optionalBody(w, r, &req) {
		return
	}
	t, err := s.cfg.Tokens.Regenerate(completing(r), r.PathValue("jti"),
		revocation.Options{Reason: req.Reason, Actor: actor(r), Grace: time.Duration(req.Grace)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.issued.WithLabelValues(string(t.Format)).Inc()
	s.metrics.revocations.WithLabelValues("token").Inc()
	s.snap.Refresh(r.Context())
	writeJSON(w, http.StatusCreated, newTokenResponse(t))
}

// completing returns the context for a change that must not stop halfway
// when the client goes away: a revocation (a client may send one and leave,
// as a logout does) or a regeneration (the new token issued and the old one
// revoked, in one transaction). SQLite's busy timeout still bounds it.
func completing(r *http.Request) context.Context {
	return context.WithoutCancel(r.Context())
}
