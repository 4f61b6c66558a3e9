// Package console is writ serve's web console at /ui/: pages to issue,
// list, read, revoke and regenerate tokens, rotate and compromise keys,
// and read the audit log and the revocation list.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; one small script only adds a copy button and a live filter.
// An admin signs in by presenting a writ token once (pasted, or through a
// one-time link that writ console link prints); the console then keeps a
// session in the database (package internal/session) behind an HttpOnly,
// SameSite=Strict cookie, and checks the token again at every request, so
// that revoking it ends the session at once. Every form carries a CSRF
// value of its session, and cross-origin POSTs are refused; every answer
// carries a strict Content-Security-Policy and is never cached.
//
// The console has no rules of its own: it calls the issuer, keyring,
// revocation list and audit log as the admin API does, and names its
// actor in the audit log as "console:SUBJECT (JTI)".
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// AdminScope is the scope of a token that signs in as an admin;
// issuer.IssueScope signs in a user confined to its own subject.
const AdminScope = "writ:admin"

// Config configures a Console. Every field but Log is required.
type Config struct {
	// Issuer is the server's public base URL: under https, cookies are
	// Secure and __Host- prefixed.
	Issuer      string
	Tokens      *issuer.Issuer
	Ring        *keys.Ring
	Revocations *revocation.List
	Audit       *audit.Log
	Sessions    *session.Store
	// Verify verifies a token presented to sign in, for the issuer's own
	// audience and from the request's client, as the admin API does.
	Verify func(r *http.Request, token string) (*verifier.Claims, error)
	// Check checks the token of a session again, at every request: not
	// revoked, its key still published, the request's client inside its
	// networks.
	Check func(r *http.Request, c *verifier.Claims) error
	// Issued is told of each token the console issued; Revoked of each
	// revocation it made ("token" or "key"), and KeysChanged of each key
	// rotation or compromise, after they committed, so that the server
	// counts them and enforces them at once.
	Issued      func(t *issuer.Token)
	Revoked     func(ctx context.Context, kind string)
	KeysChanged func(ctx context.Context)
	// Log receives errors; nil means slog.Default(). It never receives a
	// token.
	Log *slog.Logger
}

// Console serves the web console. Create it with New.
type Console struct {
	cfg    Config
	log    *slog.Logger
	pages  map[string]*template.Template
	static http.Handler
	https  bool // the issuer is https: cookies are Secure (see secure)
	cop    *http.CrossOriginProtection
}

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var staticFiles embed.FS

// New returns a console for cfg.
func New(cfg Config) (*Console, error) {
	if cfg.Issuer == "" || cfg.Tokens == nil || cfg.Ring == nil || cfg.Revocations == nil || cfg.Audit == nil ||
		cfg.Sessions == nil || cfg.Verify == nil || cfg.Check == nil || cfg.Issued == nil || cfg.Revoked == nil || cfg.KeysChanged == nil {
		return nil, errors.New("console: every Config field but Log is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Console{cfg: cfg, log: cfg.Log, pages: map[string]*template.Template{},
		https: strings.HasPrefix(cfg.Issuer, "https://"), cop: http.NewCrossOriginProtection()}
	names, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templates, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")] = t
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.StripPrefix("/ui/static/", http.FileServerFS(sub))
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	return c, nil
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
}

// Handler returns the console's routes, all under /ui/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{$}", c.signedIn(c.home))
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("GET /ui/login/{code}", c.linkPage)
	mux.HandleFunc("POST /ui/login/{code}", c.linkLogin)
	mux.HandleFunc("POST /ui/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /ui/tokens", c.signedIn(c.tokens))
	mux.HandleFunc("GET /ui/tokens/new", c.signedIn(c.newToken))
	mux.HandleFunc("POST /ui/tokens", c.signedIn(c.create))
	mux.HandleFunc("GET /ui/tokens/{jti}", c.signedIn(c.token))
	mux.HandleFunc("GET /ui/tokens/{jti}/created", c.signedIn(c.created))
	mux.HandleFunc("POST /ui/tokens/{jti}/revoke", c.signedIn(c.revoke))
	mux.HandleFunc("POST /ui/tokens/{jti}/regenerate", c.admin(c.regenerate))
	mux.HandleFunc("GET /ui/keys", c.admin(c.keys))
	mux.HandleFunc("POST /ui/keys/rotate", c.admin(c.rotate))
	mux.HandleFunc("POST /ui/keys/compromise", c.admin(c.compromise))
	mux.HandleFunc("GET /ui/audit", c.admin(c.audit))
	mux.HandleFunc("GET /ui/revocations", c.admin(c.revocations))
	mux.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no listing of the files
			c.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
			return
		}
		c.static.ServeHTTP(w, r)
	})
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	return c.headers(c.cop.Handler(mux))
}

// csp is the Content-Security-Policy of every answer: no inline script or
// style, nothing from elsewhere, never framed.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the headers of every answer of the console.
func (c *Console) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if !text.StorableURL(r.URL) {
			// No stored text can equal it, and PostgreSQL refuses such
			// text even in a lookup.
			c.renderError(w, r, nil, http.StatusBadRequest, "The address holds text that is not valid UTF-8, or a NUL byte.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// user is a signed-in request's session.
type user struct {
	*session.Session
	admin bool
}

// delegator is the claims the issuer confines a delegated user to (see
// issuer.Request.Delegator), or nil for an admin.
func (u *user) delegator() *verifier.Claims {
	if u.admin {
		return nil
	}
	return u.Claims
}

// actor names the user in the audit log, as the admin API names its
// caller: the subject (escaped if not plain text) and the token's jti.
func (u *user) actor() string {
	return "console:" + text.Escape(u.Claims.Subject) + " (" + u.Claims.ID + ")"
}

type handler func(w http.ResponseWriter, r *http.Request, u *user)

// signedIn runs h for a request of a live session whose token is still
// good, and checks the CSRF value of every POST; a request without one is
// sent to the sign-in page.
func (c *Console) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := c.user(w, r)
		if !ok {
			return
		}
		if u == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if !c.parseForm(w, r, u) {
				return
			}
			if !u.CheckCSRF(r.PostForm.Get("csrf")) {
				c.renderError(w, r, u, http.StatusForbidden, "This form is out of date or did not come from the console: reload the page and try again.")
				return
			}
		}
		h(w, r, u)
	}
}

// admin is signedIn for the pages of admins only: a delegated user gets
// 403.
func (c *Console) admin(h handler) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		if !u.admin {
			c.renderError(w, r, u, http.StatusForbidden, "This page is for admins (tokens with the scope "+AdminScope+").")
			return
		}
		h(w, r, u)
	})
}

// parseForm reads the body of a form, at most maxForm bytes, whose values
// must be storable text (see text.Storable); it answers the request with
// an error and returns false when not.
func (c *Console) parseForm(w http.ResponseWriter, r *http.Request, u *user) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, u, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	for k, vs := range r.PostForm {
		for _, v := range append(vs, k) {
			if !text.Storable(v) {
				c.renderError(w, r, u, http.StatusBadRequest, "The form holds text that is not valid UTF-8, or a NUL byte.")
				return false
			}
		}
	}
	return true
}

// maxForm bounds the body of a form.
const maxForm = 64 << 10

// user returns the request's session, checked, or nil when it has none
// (the cookie is cleared if it named one no longer good): a session whose
// token is revoked, or whose key is no longer published, is ended. When
// the session cannot be checked now (the database or the revocation data
// is unavailable, or the request comes from outside the token's networks)
// it answers the request and returns ok false, leaving the session be.
func (c *Console) user(w http.ResponseWriter, r *http.Request) (u *user, ok bool) {
	ck, err := r.Cookie(c.cookieName(r))
	if err != nil {
		return nil, true
	}
	s, err := c.cfg.Sessions.Get(r.Context(), ck.Value)
	if errors.Is(err, session.ErrNoSession) {
		c.clearCookie(w, r)
		return nil, true
	} else if err != nil {
		c.log.Error("console: reading a session failed", "err", err)
		c.renderError(w, r, nil, http.StatusServiceUnavailable, "The console cannot read its database now: try again shortly.")
		return nil, false
	}
	switch err := c.cfg.Check(r, s.Claims); {
	case err == nil:
		return &user{Session: s, admin: s.Claims.HasScope(AdminScope)}, true
	case errors.Is(err, verifier.ErrRevoked) || errors.Is(err, verifier.ErrUnknownKey):
		if err := c.cfg.Sessions.End(r.Context(), ck.Value); err != nil {
			c.log.Error("console: ending a session failed", "err", err)
		}
		c.clearCookie(w, r)
		return nil, true
	case errors.Is(err, verifier.ErrClientIP):
		c.renderError(w, r, nil, http.StatusForbidden, "Your sign-in token is bound to networks that this request did not come from.")
		return nil, false
	default:
		c.log.Error("console: checking a session's token failed", "err", err)
		c.renderError(w, r, nil, http.StatusServiceUnavailable, "The console cannot check your sign-in token now: try again shortly.")
		return nil, false
	}
}

// secure reports whether the console's cookies for r are Secure (and
// __Host- prefixed): under an https issuer, or when r came over TLS (a
// server with its own certificate, whose issuer is written http).
func (c *Console) secure(r *http.Request) bool { return c.https || r.TLS != nil }

// cookieName is the session cookie's name: __Host- prefixed under https,
// where browsers then hold it to Secure, Path=/ and this host.
func (c *Console) cookieName(r *http.Request) string {
	if c.secure(r) {
		return "__Host-writ_session"
	}
	return "writ_session"
}

// cookie returns a cookie of the console: HttpOnly, SameSite=Strict,
// under https Secure and at Path=/ (as a __Host- name requires), else at
// path. maxAge is in seconds; negative deletes it.
func (c *Console) cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	if c.secure(r) {
		path = "/"
	}
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)}
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	ck := c.cookie(r, c.cookieName(r), id, "/ui/", int(time.Until(expires).Seconds()))
	ck.Expires = expires
	http.SetCookie(w, ck)
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, c.cookie(r, c.cookieName(r), "", "/ui/", -1))
}

// home sends a signed-in user to the tokens (signedIn sends the others to
// the sign-in page).
func (c *Console) home(w http.ResponseWriter, r *http.Request, _ *user) {
	http.Redirect(w, r, "/ui/tokens", http.StatusSeeOther)
}

// page is what every template gets.
type page struct {
	Title string
	User  *user
	// Flash is a notice of what was done; Errors say what went wrong.
	Flash  string
	Errors []string
	// CSRF is the value of the forms: the session's, or before sign-in
	// the login cookie's.
	CSRF string
	Data any
}

// Subject and Admin are for the navigation.
func (p *page) Subject() string { return p.User.Claims.Subject }
func (p *page) Admin() bool     { return p.User != nil && p.User.admin }

// render renders the page name with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := c.pages[name]
	if p.User != nil && p.CSRF == "" {
		p.CSRF = p.User.CSRF()
	}
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		c.log.Error("console: rendering failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// renderError answers a page that says msg.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, u *user, status int, msg string) {
	c.render(w, r, status, "error", &page{Title: http.StatusText(status), User: u, Errors: []string{msg}})
}

// fail answers err of an action: its message for a request that broke a
// rule, else a generic one (the error is logged).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, u *user, err error) {
	status, msg := c.explain(r, err)
	c.renderError(w, r, u, status, msg)
}

// explain returns the status and message of err, as the admin API maps
// them.
func (c *Console) explain(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, issuer.ErrDelegation):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, issuer.ErrRequest), errors.Is(err, revocation.ErrInvalid), errors.Is(err, issuer.ErrNameTaken),
		errors.Is(err, keys.ErrTooEarly), errors.Is(err, keys.ErrNoNextKey), errors.Is(err, keys.ErrTooManyKeys):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, issuer.ErrUnknownToken), errors.Is(err, keys.ErrUnknownKey):
		return http.StatusNotFound, err.Error()
	}
	// The route, not the path, which may hold a sign-in link's code.
	c.log.Error("console: request failed", "route", r.Pattern, "err", err)
	return http.StatusInternalServerError, "Something went wrong on the server; the error is in its log."
}
