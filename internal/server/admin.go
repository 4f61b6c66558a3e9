package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

// admin guards h with a writ token carrying AdminScope for the issuer's own
// audience: 401 without one, 403 with too little.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return s.withScope(AdminScope, h)
}

// withScope lets through requests bearing a token of this server, for its
// own audience, with scope; others get 401 or 403 per RFC 6750.
func (s *Server) withScope(scope string, h http.HandlerFunc) http.HandlerFunc {
	mw := bearer.Middleware(s.verify, bearer.Config{Realm: "writ", Scopes: []string{scope}})
	return mw(h).ServeHTTP
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

type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, apiError{Error: code, Description: desc})
}

// decodeJSON reads a JSON object body strictly: the right content type, at
// most maxBody bytes, member names exactly as dst's json tags spell them
// (encoding/json alone would take "SUBJECT" for "subject") and none twice,
// nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body exceeds %d bytes", maxBody))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "unreadable body")
		return false
	}
	if err := knownMembers(body, dst); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(body, dst); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// knownMembers checks that body is one JSON object (jsonx: valid, no name
// twice, nothing after it) whose member names are, exactly, names that
// encoding/json gives the fields of the struct dst points to. Request
// structs are flat: embedded structs are not looked into.
func knownMembers(body []byte, dst any) error {
	t := reflect.TypeOf(dst).Elem()
	return jsonx.Members(body, func(name []byte, _ jsonx.Value) error {
		for i := range t.NumField() {
			if n := jsonName(t.Field(i)); n != "" && n == string(name) {
				return nil
			}
		}
		return fmt.Errorf("unknown field %q", name)
	})
}

// jsonName is the member name encoding/json uses for f, or "" for a field
// it leaves out.
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if !f.IsExported() || f.Anonymous || tag == "-" {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return f.Name
}

// duration reads "90s", "1h" or a number of seconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || n > 1e9 {
		return errors.New(`a duration is a string such as "1h" or a number of seconds`)
	}
	*d = duration(time.Duration(n * float64(time.Second)))
	return nil
}

type issueRequest struct {
	Subject  string   `json:"subject"`
	Audience []string `json:"audience"`
	Scopes   []string `json:"scopes"`
	TTL      duration `json:"ttl"`
	Format   string   `json:"format"`
	Name     string   `json:"name"`
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
	t, err := s.cfg.Tokens.Issue(r.Context(), issuer.Request{
		Subject: req.Subject, Audience: req.Audience, Scopes: req.Scopes, TTL: time.Duration(req.TTL),
		Format: keys.Format(req.Format), Name: req.Name, IssuedBy: actor(r),
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
	q := r.URL.Query()
	for name := range q {
		if name != "subject" && name != "name" && name != "status" && name != "limit" {
			writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("unknown query parameter %q", name))
			return
		}
	}
	f := issuer.Filter{Subject: q.Get("subject"), Name: q.Get("name"), Limit: 100}
	if st := q.Get("status"); st != "" {
		var err error
		if f.Status, err = issuer.ParseStatus(st); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "status must be active, revoked or expired")
			return
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request", "limit must be 1 to 1000")
			return
		}
		f.Limit = n
	}
	recs, err := s.cfg.Tokens.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []issuer.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": recs})
}

func (s *Server) showToken(w http.ResponseWriter, r *http.Request) {
	rec, err := s.cfg.Tokens.Get(r.Context(), r.PathValue("jti"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

type revokeRequest struct {
	Reason string   `json:"reason"`
	Grace  duration `json:"grace"`
	Before string   `json:"before"` // subjects only: RFC 3339
}

// optionalBody decodes a JSON body if there is one.
func optionalBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return true
	}
	return decodeJSON(w, r, dst)
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
	t, err := s.cfg.Tokens.Regenerate(completing(r), r.PathValue("jti"), s.cfg.Revocations,
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

// whoami returns the verified claims of the caller's token: the way to test
// a token. Its audience is the issuer's unless ?audience= names another.
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
	refused := func(_ *http.Request, err error) { s.metrics.verifications.WithLabelValues(resultLabel(err)).Inc() }
	bearer.Middleware(v, bearer.Config{Realm: "writ", OnRefused: refused})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFromContext(r.Context())
		s.metrics.verifications.WithLabelValues("valid").Inc()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(c.RawJSON())
	})).ServeHTTP(w, r)
}

// authBearer returns the token of the request's Authorization header with
// the Bearer scheme (matched case-insensitively, RFC 7235), or "".
func authBearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
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
// revocation all hold.
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
	writeJSON(w, http.StatusOK, resp)
}

// revoke is RFC 7009 token revocation. The caller authenticates with an
// admin token, or with the very token it revokes. As the RFC asks, an
// invalid or unknown token gets 200 too.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	token, ok := readToken(w, r)
	if !ok {
		return
	}
	// The caller first, so that one who is neither learns nothing about the
	// token, not even whether it is valid.
	var caller string
	if auth := authBearer(r); auth == token {
		caller = "self"
	} else if auth != "" {
		ac, err := s.verify.Verify(r.Context(), auth)
		if err == nil && ac.HasScope(AdminScope) {
			caller = adminActor(ac)
		}
	}
	if caller == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="writ"`)
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

// completing returns the context for a change that must not stop halfway
// when the client goes away: a revocation (a client may send one and leave,
// as a logout does) or a regeneration (the new token issued, then the old
// one revoked). SQLite's busy timeout still bounds it.
func completing(r *http.Request) context.Context {
	return context.WithoutCancel(r.Context())
}

// statusClientClosedRequest is nginx's 499: the client closed the
// connection before the answer was ready.
const statusClientClosedRequest = 499

// fail maps an error to a response: request errors are 4xx with their
// message; anything else is logged and answered 500 without details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, issuer.ErrRequest), errors.Is(err, revocation.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, issuer.ErrNotFound), errors.Is(err, revocation.ErrUnknownToken),
		errors.Is(err, revocation.ErrUnknownSubject), errors.Is(err, revocation.ErrUnknownKey):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away mid-request: nothing failed on this side,
		// and nobody reads the answer, whose status is for the metrics.
		s.log.Info("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosedRequest)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	}
}
