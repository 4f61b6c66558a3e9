package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
)

// Before sign-in there is no session to derive a CSRF value from: the
// sign-in forms carry the value of a random cookie that only the
// console's own pages can read (a double-submit cookie, SameSite=Strict),
// and cross-origin POSTs are refused besides (http.CrossOriginProtection).

// loginCookie is the name of the sign-in forms' CSRF cookie.
func (c *Console) loginCookie() string {
	if c.secure {
		return "__Host-writ_login"
	}
	return "writ_login"
}

// loginCSRF returns the CSRF value of the request's sign-in form, setting
// a new cookie when it has none.
func (c *Console) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.loginCookie()); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, c.cookie(c.loginCookie(), v, "/ui/login", int(session.LinkTTL/time.Second)))
	return v
}

// loginForm reads a sign-in form and reports whether its CSRF value is the
// cookie's; it answers the request when not.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	ck, err := r.Cookie(c.loginCookie())
	if v := r.PostForm.Get("csrf"); err != nil || v == "" || subtle.ConstantTimeCompare([]byte(v), []byte(ck.Value)) != 1 {
		c.renderError(w, r, nil, http.StatusForbidden, "This sign-in form is out of date or did not come from the console: reload the page and try again.")
		return false
	}
	return true
}

// loginFailed answers the sign-in page name ("login" or "link") again,
// saying msg; a refused token is not written back into it.
func (c *Console) loginFailed(w http.ResponseWriter, r *http.Request, name string, status int, msg string) {
	c.render(w, r, status, name, &page{Title: "Sign in", CSRF: c.loginCSRF(w, r), Errors: []string{msg}})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", CSRF: c.loginCSRF(w, r)})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.loginForm(w, r) {
		return
	}
	fail := func(status int, msg string) { c.loginFailed(w, r, "login", status, msg) }
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		fail(http.StatusBadRequest, "Paste a writ token to sign in.")
		return
	}
	claims, err := c.cfg.Verify(r, token)
	if err != nil {
		fail(http.StatusUnauthorized, "This token was not accepted: "+refusal(err)+".")
		return
	}
	if !claims.HasScope(AdminScope) && !claims.HasScope(issuer.IssueScope) {
		fail(http.StatusForbidden, "This token may not sign in: it needs the scope "+AdminScope+" or "+issuer.IssueScope+".")
		return
	}
	id, s, err := c.cfg.Sessions.Start(r.Context(), claims, 0)
	if err != nil {
		status, msg := c.explain(r, err)
		fail(status, msg)
		return
	}
	c.startSession(w, r, id, s)
}

// refusal says why a token was refused, without repeating any of it.
func refusal(err error) string {
	for _, e := range []struct {
		err error
		msg string
	}{
		{verifier.ErrExpired, "it has expired"},
		{verifier.ErrRevoked, "it is revoked"},
		{verifier.ErrAudience, "its audience is not this server (issue it with --audience set to the issuer URL)"},
		{verifier.ErrIssuer, "it was issued by another issuer"},
		{verifier.ErrClientIP, "it may not be used from this address"},
		{verifier.ErrNotYetValid, "it is not valid yet"},
		{verifier.ErrUnknownKey, "its signing key is not one of this server's published keys"},
		{verifier.ErrSignature, "its signature is not valid"},
		{verifier.ErrTooLarge, "it is too large"},
	} {
		if errors.Is(err, e.err) {
			return e.msg
		}
	}
	return "it is not a valid writ token"
}

func (c *Console) linkPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "link", &page{Title: "Sign in", CSRF: c.loginCSRF(w, r)})
}

// linkLogin takes a one-time sign-in link: only a POST does, so that link
// previews and prefetching, which GET, leave it.
func (c *Console) linkLogin(w http.ResponseWriter, r *http.Request) {
	if !c.loginForm(w, r) {
		return
	}
	fail := func(status int, msg string) { c.loginFailed(w, r, "link", status, msg) }
	id, s, err := c.cfg.Sessions.TakeLink(r.Context(), r.PathValue("code"))
	switch {
	case errors.Is(err, session.ErrNoLink), errors.Is(err, session.ErrNoSession):
		fail(http.StatusNotFound, "This sign-in link is unknown, used already, or expired: ask for another (writ console link).")
		return
	case err != nil:
		status, msg := c.explain(r, err)
		fail(status, msg)
		return
	}
	if err := c.cfg.Check(r, s.Claims); err != nil {
		if err := c.cfg.Sessions.End(r.Context(), id); err != nil {
			c.log.Error("console: ending a session failed", "err", err)
		}
		fail(http.StatusUnauthorized, "The token of this sign-in link was not accepted: "+refusal(err)+".")
		return
	}
	c.startSession(w, r, id, s)
}

// startSession sets the cookie of the new session id, ends the session
// the browser had, if any, and sends it to its tokens.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, id string, s *session.Session) {
	if ck, err := r.Cookie(c.cookieName()); err == nil {
		if err := c.cfg.Sessions.End(r.Context(), ck.Value); err != nil {
			c.log.Error("console: ending a session failed", "err", err)
		}
	}
	c.setCookie(w, id, s.Expires)
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *user) {
	if ck, err := r.Cookie(c.cookieName()); err == nil {
		if err := c.cfg.Sessions.End(r.Context(), ck.Value); err != nil {
			c.fail(w, r, nil, err)
			return
		}
	}
	c.clearCookie(w)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
