package console

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

// keysData is the keys page.
type keysData struct {
	Formats []formatKeys
	// Format, Force, KID and Reason are the forms' values, after an
	// error.
	Format string
	Force  bool
	KID    string
	Reason string
}

// formatKeys are the keys of a format, in the order of their lives: next,
// active, retired, then those out of the key set.
type formatKeys struct {
	Format keys.Format
	Keys   []keys.Record
}

// stateOrder orders key states along a key's life.
var stateOrder = map[keys.State]int{keys.Next: 0, keys.Active: 1, keys.Retired: 2, keys.Removed: 3, keys.Compromised: 4}

// flashes of the keys page, after ?done=.
var keyFlashes = map[string]string{"rotated": "The keys were rotated.", "compromised": "The key is compromised: out of the key set, and every token it signed revoked."}

func (c *Console) keys(w http.ResponseWriter, r *http.Request, u *user) {
	c.renderKeys(w, r, u, http.StatusOK, &keysData{Format: string(keys.JWT)}, keyFlashes[r.URL.Query().Get("done")], nil)
}

func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, u *user, status int, d *keysData, flash string, problems []string) {
	recs, err := c.cfg.Ring.List(r.Context())
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	d.Formats = []formatKeys{{Format: keys.JWT}, {Format: keys.PASETO}}
	for _, k := range recs {
		i := 0
		if k.Format == keys.PASETO {
			i = 1
		}
		d.Formats[i].Keys = append(d.Formats[i].Keys, k)
	}
	for _, f := range d.Formats {
		slices.SortStableFunc(f.Keys, func(a, b keys.Record) int {
			return cmp.Or(cmp.Compare(stateOrder[a.State], stateOrder[b.State]), b.CreatedAt.Compare(a.CreatedAt))
		})
	}
	c.render(w, r, status, "keys", &page{Title: "Keys", User: u, Data: d, Flash: flash, Errors: problems})
}

func (c *Console) rotate(w http.ResponseWriter, r *http.Request, u *user) {
	d := &keysData{Format: r.PostForm.Get("format"), Force: r.PostForm.Get("force") == "on"}
	format, err := keys.ParseFormat(d.Format)
	if err != nil {
		c.renderKeys(w, r, u, http.StatusBadRequest, d, "", []string{"Choose the format to rotate: jwt or paseto."})
		return
	}
	_, err = c.cfg.Ring.Rotate(context.WithoutCancel(r.Context()), format, keys.RotateOptions{Force: d.Force, Actor: u.actor()})
	if err != nil {
		status, msg := c.explain(r, err)
		if status == http.StatusBadRequest {
			msg += " (tick \"rotate now\" to rotate anyway: verifiers with a cached key set may then refuse new tokens until they refetch it)"
		}
		c.renderKeys(w, r, u, status, d, "", []string{msg})
		return
	}
	c.cfg.KeysChanged(r.Context())
	http.Redirect(w, r, "/ui/keys?done=rotated", http.StatusSeeOther)
}

func (c *Console) compromise(w http.ResponseWriter, r *http.Request, u *user) {
	d := &keysData{Format: string(keys.JWT), KID: r.PostForm.Get("kid"), Reason: r.PostForm.Get("reason")}
	if d.KID == "" || r.PostForm.Get("confirm") != d.KID {
		c.renderKeys(w, r, u, http.StatusBadRequest, d, "", []string{"To compromise a key, type its kid exactly in the confirmation field."})
		return
	}
	_, err := c.cfg.Ring.Compromise(context.WithoutCancel(r.Context()), d.KID, revocation.Options{Reason: d.Reason, Actor: u.actor()})
	if err != nil {
		status, msg := c.explain(r, err)
		c.renderKeys(w, r, u, status, d, "", []string{msg})
		return
	}
	c.cfg.KeysChanged(r.Context())
	c.cfg.Revoked(r.Context(), "key")
	http.Redirect(w, r, "/ui/keys?done=compromised", http.StatusSeeOther)
}

// auditData is the audit page.
type auditData struct {
	Subject, JTI string
	Limit        int
	// Before is where the page starts (the events before the event of
	// this ID), zero for the newest.
	Before int64
	Events []audit.Event // newest first
	// Older is the URL of the page of older events, empty when there are
	// none; Newest the URL of the newest events, empty on that page.
	// Whole URLs, as listData.Next.
	Older, Newest string
}

// url returns the URL of the audit page of d's filter, of the events
// before the event before (0: the newest).
func (d *auditData) url(before int64) string {
	v := url.Values{}
	for k, s := range map[string]string{"subject": d.Subject, "jti": d.JTI} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if d.Limit != auditLimits[0] {
		v.Set("limit", strconv.Itoa(d.Limit))
	}
	if before != 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/ui/audit"
	}
	return "/ui/audit?" + v.Encode()
}

// before returns where the page of q starts, the ?before= of the link to
// older items (0 without one), and whether it is one.
func before(q url.Values) (int64, bool) {
	b := q.Get("before")
	if b == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(b, 10, 64)
	return n, err == nil && n > 0
}

// auditLimits are the page sizes of the audit log.
var auditLimits = []int{100, 500, 1000}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	d := &auditData{Subject: strings.TrimSpace(q.Get("subject")), JTI: strings.TrimSpace(q.Get("jti")), Limit: auditLimits[0]}
	var problems []string
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || !slices.Contains(auditLimits, n) {
			problems = append(problems, "Show must be 100, 500 or 1000 events.")
		}
		d.Limit = n
	}
	var ok bool
	if d.Before, ok = before(q); !ok {
		problems = append(problems, "This page of the audit log is not one the console made: start again from the newest events.")
	}
	if len(problems) > 0 {
		c.render(w, r, http.StatusBadRequest, "audit", &page{Title: "Audit log", User: u, Data: d, Errors: problems})
		return
	}
	p, err := c.cfg.Audit.ListPage(r.Context(), audit.Filter{Subject: d.Subject, JTI: d.JTI, Before: d.Before, Limit: d.Limit})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	events := p.Events
	if p.Next != 0 {
		d.Older = d.url(p.Next)
	}
	if d.Before != 0 {
		d.Newest = d.url(0)
	}
	slices.Reverse(events)
	d.Events = events
	c.render(w, r, http.StatusOK, "audit", &page{Title: "Audit log", User: u, Data: d})
}

// revocationsData is the revocations page.
type revocationsData struct {
	Kind string
	// Before is where the page starts (the entries before this sequence
	// number), zero for the newest.
	Before  int64
	Entries []revocation.Entry // newest first, at most maxEntries
	// Older is the URL of the page of older entries, empty when there are
	// none; Newest the URL of the newest entries, empty on that page.
	Older, Newest string
}

// url returns the URL of the revocations page of d's kind, of the entries
// before the sequence number before (0: the newest).
func (d *revocationsData) url(before int64) string {
	v := url.Values{}
	if d.Kind != "" {
		v.Set("kind", d.Kind)
	}
	if before != 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/ui/revocations"
	}
	return "/ui/revocations?" + v.Encode()
}

// maxEntries is the most revocation entries a page shows.
const maxEntries = 1000

func (c *Console) revocations(w http.ResponseWriter, r *http.Request, u *user) {
	q := r.URL.Query()
	d := &revocationsData{Kind: q.Get("kind")}
	var problems []string
	switch revocation.Kind(d.Kind) {
	case "", revocation.Token, revocation.Subject, revocation.Key:
	default:
		problems = append(problems, "Kind must be token, subject or key.")
	}
	var ok bool
	if d.Before, ok = before(q); !ok {
		problems = append(problems, "This page of the revocations is not one the console made: start again from the newest entries.")
	}
	if len(problems) > 0 {
		c.render(w, r, http.StatusBadRequest, "revocations", &page{Title: "Revocations", User: u, Data: d, Errors: problems})
		return
	}
	// One more than a page: whether there are older ones.
	entries, err := c.cfg.Revocations.Entries(r.Context(), revocation.Filter{Kind: revocation.Kind(d.Kind), Before: d.Before, Newest: maxEntries + 1})
	if err != nil {
		c.fail(w, r, u, err)
		return
	}
	if len(entries) > maxEntries {
		entries = entries[:maxEntries]
		d.Older = d.url(entries[maxEntries-1].Seq)
	}
	if d.Before != 0 {
		d.Newest = d.url(0)
	}
	d.Entries = entries
	c.render(w, r, http.StatusOK, "revocations", &page{Title: "Revocations", User: u, Data: d})
}
