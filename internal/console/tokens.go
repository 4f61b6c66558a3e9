package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/duration"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

// pageSize is how many tokens a page of the list shows.
const pageSize = 50

// listData is the tokens page.
type listData struct {
	Q, Subject, Status, Expiring string
	// Used is "never" for the tokens never used; Sort is "last_used" for
	// the most recently used first.
	Used, Sort string
	Tokens     []issuer.Record
	// Next is the URL of the next page; empty on the last. It is a whole
	// URL, which html/template keeps as it is, where a query put into an
	// href would have its & and = escaped.
	Next string
}

func (c *Console) tokens(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	d := &listData{Q: strings.TrimSpace(q.Get("q")), Subject: strings.TrimSpace(q.Get("subject")), Status: q.Get("status"), Expiring: q.Get("expiring"),
		Used: q.Get("used"), Sort: q.Get("sort")}
	f := issuer.Filter{Search: d.Q, Subject: d.Subject, After: q.Get("cursor"), Limit: pageSize}
	var problems []string
	switch d.Used {
	case "":
	case "never":
		f.NeverUsed = true
	default:
		problems = append(problems, "Last use must be any or never.")
	}
	if d.Sort != "" {
		sort, err := issuer.ParseSort(d.Sort)
		if err != nil {
			problems = append(problems, "Order must be newest first or last used first.")
		}
		f.Sort = sort
	}
	if d.Status != "" {
		st, err := issuer.ParseStatus(d.Status)
		if err != nil {
			problems = append(problems, "Status must be active, revoked or expired.")
		}
		f.Status = st
	}
	if d.Expiring != "" {
		v, err := duration.Parse(d.Expiring)
		if err != nil || v <= 0 || v > issuer.MaxPolicyTTL {
			problems = append(problems, "Expiring within must be a duration such as 7d, at most "+duration.Format(issuer.MaxPolicyTTL)+".")
		}
		f.ExpiringWithin = v
	}
	if dg := u.delegator(); dg != nil {
		if f.Subject != "" && f.Subject != dg.Subject {
			problems = append(problems, "You may list the tokens of your own subject only.")
		}
		f.Subject = dg.Subject
	}
	p := &page{Title: "Tokens", User: u, Data: d, Errors: problems}
	if len(problems) > 0 {
		c.render(w, r, http.StatusBadRequest, "tokens", p)
		return
	}
	pg, err := c.cfg.Tokens.ListPage(r.Context(), f)
	if errors.Is(err, issuer.ErrRequest) {
		p.Errors = []string{"This page of the list is not one the console made: start again from the first page."}
		c.render(w, r, http.StatusBadRequest, "tokens", p)
		return
	} else if err != nil {
		c.fail(w, r, u, err)
		return
	}
	d.Tokens = pg.Records
	if pg.Next != "" {
		next := url.Values{"cursor": {pg.Next}}
		for k, v := range map[string]string{"q": d.Q, "subject": d.Subject, "status": d.Status, "expiring": d.Expiring, "used": d.Used, "sort": d.Sort} {
			if v != "" {
				next.Set(k, v)
			}
		}
		d.Next = "/ui/tokens?" + next.Encode()
	}
	c.render(w, r, http.StatusOK, "tokens", p)
}

// createForm is the form of a new token, as entered.
type createForm struct {
	Name, Subject, Audience, Description string
	Scope                                []string // the catalogue's boxes ticked
	Scopes                               string   // others, space-separated
	Lifetime, Expires, AllowIP           string
	// Catalogue is the permissions to choose from.
	Catalogue []permissionChoice
}

// permissionChoice is a box of the form: a declared type with one of its
// actions (TYPE:ACTION). Narrower or wider resources (orders/42,
// orders/**) go in the free text field.
type permissionChoice struct {
	Type, Action, Value string
	Checked             bool
}

// Lifetimes are the lifetime presets of the form.
var lifetimes = map[string]time.Duration{"7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "60d": 60 * 24 * time.Hour, "90d": 90 * 24 * time.Hour}

func (c *Console) newToken(w http.ResponseWriter, r *http.Request, u *user) {
	f := &createForm{Lifetime: "30d"}
	if dg := u.delegator(); dg != nil {
		// A delegated token ends by its parent's expiry: the preset
		// that always fits.
		f.Subject, f.Lifetime = dg.Subject, "token"
	}
	c.renderCreate(w, r, u, http.StatusOK, f, nil)
}

func (c *Console) renderCreate(w http.ResponseWriter, r *http.Request, u *user, status int, f *createForm, problems []string) {
	types, err := c.cfg.Tokens.Permissions(r.Context())
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	f.Catalogue = nil
	for _, t := range types {
		for _, a := range t.Actions {
			v := t.Name + ":" + a
			f.Catalogue = append(f.Catalogue, permissionChoice{Type: t.Name, Action: a, Value: v, Checked: slices.Contains(f.Scope, v)})
		}
	}
	c.render(w, r, status, "new", &page{Title: "New token", User: u, Data: f, Errors: problems})
}

// created is the page that shows a new token, once. The form that issues
// it does not show it: it has the session hold it (session.Store.Hold)
// and sends the browser to the page (/ui/tokens/JTI/created), which takes
// it (Post/Redirect/Get). So a reload shows the token no more, and issues
// nothing; and the token is in no URL.
type created struct {
	Token     string    `json:"token"`
	ID        string    `json:"jti"`
	ExpiresAt time.Time `json:"exp"`
	Subject   string    `json:"subject"`
	// Replaces is the jti of the token it regenerated, if any.
	Replaces string `json:"replaces,omitempty"`
}

// title is the created page's title.
func (d *created) title() string {
	if d.Replaces != "" {
		return "Your regenerated token"
	}
	return "Your new token"
}

// showOnce sends the browser to the page that shows the token of d once.
func (c *Console) showOnce(w http.ResponseWriter, r *http.Request, u *user, d *created) {
	b, err := json.Marshal(d)
	if err == nil {
		err = c.cfg.Sessions.Hold(context.WithoutCancel(r.Context()), u.Session, d.ID, b)
	}
	if err != nil {
		// The token is issued: shown now, rather than lost.
		c.log.Error("console: holding a new token for its page failed", "err", err)
		c.render(w, r, http.StatusCreated, "created", &page{Title: d.title(), User: u, Data: d})
		return
	}
	http.Redirect(w, r, "/ui/tokens/"+url.PathEscape(d.ID)+"/created", http.StatusSeeOther)
}

// shownOnce is the notice of a new token's page after it was shown.
const shownOnce = "This token was shown once, when it was created: writ keeps only its record, never the token. If it was not copied, revoke it and create another."

// created shows the new token that the session holds, once; after that,
// the token's page, saying so.
func (c *Console) created(w http.ResponseWriter, r *http.Request, u *user) {
	b, err := c.cfg.Sessions.TakeHeld(r.Context(), u.Session, r.PathValue("jti"))
	if errors.Is(err, session.ErrNothingHeld) {
		d, ok := c.detail(w, r, u)
		if !ok {
			return
		}
		c.render(w, r, http.StatusOK, "token", &page{Title: "Token " + d.Name, User: u, Data: d, Flash: shownOnce})
		return
	} else if err != nil {
		c.fail(w, r, u, err)
		return
	}
	d := &created{}
	if err := json.Unmarshal(b, d); err != nil {
		c.fail(w, r, u, fmt.Errorf("console: a held token: %w", err))
		return
	}
	c.render(w, r, http.StatusOK, "created", &page{Title: d.title(), User: u, Data: d})
}

func (c *Console) create(w http.ResponseWriter, r *http.Request, u *user) {
	pf := r.PostForm
	f := &createForm{Name: strings.TrimSpace(pf.Get("name")), Subject: strings.TrimSpace(pf.Get("subject")),
		Audience: strings.TrimSpace(pf.Get("audience")), Description: strings.TrimSpace(pf.Get("description")),
		Scope: pf["scope"], Scopes: pf.Get("scopes"), Lifetime: pf.Get("lifetime"), Expires: pf.Get("expires"),
		AllowIP: pf.Get("allow_ip")}
	req := issuer.Request{Subject: f.Subject, Audience: strings.Fields(f.Audience), Name: f.Name, Description: f.Description,
		Format: keys.JWT, IssuedBy: u.actor(), Delegator: u.delegator()}
	var problems []string
	if f.Subject == "" {
		problems = append(problems, "Subject is required: who the token acts for.")
	}
	if len(req.Audience) == 0 {
		problems = append(problems, "Audience is required: the API (or APIs, separated by spaces) that accept the token.")
	}
	req.Scopes = append(slices.Clone(f.Scope), strings.Fields(f.Scopes)...)
	switch f.Lifetime {
	case "token":
		if u.admin {
			problems = append(problems, "Choose a lifetime: 7, 30, 60 or 90 days, or a date.")
		}
		req.Expires = u.Claims.ExpiresAt
	case "date":
		t, err := time.Parse("2006-01-02", f.Expires)
		if err != nil {
			problems = append(problems, "Expires must be a date (YYYY-MM-DD) when the lifetime is a date.")
		} else if !t.After(time.Now()) {
			problems = append(problems, "Expires must be in the future.")
		}
		req.Expires = t
	default:
		ttl, ok := lifetimes[f.Lifetime]
		if !ok {
			problems = append(problems, "Choose a lifetime: 7, 30, 60 or 90 days, or a date.")
		}
		req.TTL = ttl
	}
	for line := range strings.Lines(f.AllowIP) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p, err := issuer.ParseNetwork(line)
		if err != nil {
			problems = append(problems, "IP allowlist: "+err.Error())
			continue
		}
		req.AllowedIPs = append(req.AllowedIPs, p)
	}
	if len(problems) > 0 {
		c.renderCreate(w, r, u, http.StatusBadRequest, f, problems)
		return
	}
	t, err := c.cfg.Tokens.Issue(r.Context(), req)
	if err != nil {
		if status, msg := c.explain(r, err); status < 500 {
			c.renderCreate(w, r, u, status, f, []string{msg})
			return
		}
		c.fail(w, r, u, err)
		return
	}
	c.cfg.Issued(t)
	c.showOnce(w, r, u, &created{Token: t.Token, ID: t.ID, ExpiresAt: t.ExpiresAt, Subject: f.Subject})
}

// detail is the page of a token.
type detail struct {
	*issuer.Details
	Status string // active, revoked, expired or scheduled
	// Networks are the token's allowed networks, as text.
	Networks []string
	Events   []audit.Event
	// MayRevoke and MayRegenerate say which forms the user gets.
	MayRevoke, MayRegenerate bool
	Reason, Grace            string // as entered, after an error
}

// flashes are the notices that ?done= names after an action.
var flashes = map[string]string{"revoked": "The token is revoked."}

func (c *Console) token(w http.ResponseWriter, r *http.Request, u *user) {
	d, ok := c.detail(w, r, u)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "token", &page{Title: "Token " + d.Name, User: u, Data: d, Flash: flashes[r.URL.Query().Get("done")]})
}

// detail reads the token of the request's path for the page of u: a token
// of another subject is, to a delegated user, not found.
func (c *Console) detail(w http.ResponseWriter, r *http.Request, u *user) (*detail, bool) {
	ds, err := c.cfg.Tokens.Show(r.Context(), r.PathValue("jti"))
	if err == nil && !issuer.Sees(u.delegator(), &ds.Record) {
		err = issuer.ErrUnknownToken
	}
	if err != nil {
		if errors.Is(err, issuer.ErrUnknownToken) {
			c.renderError(w, r, u, http.StatusNotFound, "There is no such token.")
		} else {
			c.fail(w, r, u, err)
		}
		return nil, false
	}
	d := &detail{Details: ds, Status: string(ds.Status), MayRevoke: issuer.MayRevoke(u.delegator(), &ds.Record) && ds.Status == issuer.StatusActive,
		MayRegenerate: u.admin && ds.Status == issuer.StatusActive, Grace: "0s"}
	if ds.Revocation != nil && ds.Revocation.Scheduled {
		d.Status = "scheduled"
	}
	for _, p := range ds.AllowedIPs {
		d.Networks = append(d.Networks, p.String())
	}
	if d.Events, err = c.cfg.Audit.List(r.Context(), audit.Filter{JTI: ds.ID, Limit: 100}); err != nil {
		c.fail(w, r, u, err)
		return nil, false
	}
	return d, true
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request, u *user) {
	d, ok := c.detail(w, r, u)
	if !ok {
		return
	}
	d.Reason = r.PostForm.Get("reason")
	if !issuer.MayRevoke(u.delegator(), &d.Record) {
		c.renderError(w, r, u, http.StatusForbidden, "You may revoke only your own token and the tokens it issued.")
		return
	}
	_, err := c.cfg.Revocations.RevokeToken(context.WithoutCancel(r.Context()), d.ID,
		revocation.Options{Reason: d.Reason, Actor: u.actor()})
	if err != nil {
		c.actionFailed(w, r, u, d, err)
		return
	}
	c.cfg.Revoked(r.Context(), "token")
	http.Redirect(w, r, "/ui/tokens/"+url.PathEscape(d.ID)+"?done=revoked", http.StatusSeeOther)
}

// actionFailed shows the token's page again with what went wrong with a
// revocation or regeneration.
func (c *Console) actionFailed(w http.ResponseWriter, r *http.Request, u *user, d *detail, err error) {
	status, msg := c.explain(r, err)
	c.render(w, r, status, "token", &page{Title: "Token " + d.Name, User: u, Data: d, Errors: []string{msg}})
}

func (c *Console) regenerate(w http.ResponseWriter, r *http.Request, u *user) {
	d, ok := c.detail(w, r, u)
	if !ok {
		return
	}
	d.Reason, d.Grace = r.PostForm.Get("reason"), strings.TrimSpace(r.PostForm.Get("grace"))
	grace, err := duration.Parse(d.Grace)
	if d.Grace == "" {
		grace, err = 0, nil
	}
	if err != nil || grace < 0 {
		c.render(w, r, http.StatusBadRequest, "token", &page{Title: "Token " + d.Name, User: u, Data: d,
			Errors: []string{"Grace period must be a duration such as 0s, 1h or 7d."}})
		return
	}
	t, err := c.cfg.Tokens.Regenerate(context.WithoutCancel(r.Context()), d.ID,
		revocation.Options{Reason: d.Reason, Actor: u.actor(), Grace: grace})
	if err != nil {
		c.actionFailed(w, r, u, d, err)
		return
	}
	c.cfg.Issued(t)
	c.cfg.Revoked(r.Context(), "token")
	c.showOnce(w, r, u, &created{Token: t.Token, ID: t.ID, ExpiresAt: t.ExpiresAt, Subject: d.Subject, Replaces: d.ID})
}
