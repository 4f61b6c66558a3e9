// Package audit is writ's record of who did what to its tokens and keys.
//
// Packages keys, issuer and revocation record each change in the audit log
// in the transaction that makes it, naming its [Event.Actor] (checked with
// [CheckActor] before anything changes) and its action ([Issue], [Revoke],
// [KeyRotate], …). A [Log] lists the record back, as writ audit does,
// page by page back in time ([Log.ListPage]); it never holds a token or a
// secret.
package audit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
)

// Actions recorded in the log.
const (
	Issue         = "token.issue"
	Revoke        = "token.revoke"
	RevokeSubject = "subject.revoke"
	Regenerate    = "token.regenerate"
	KeyAdd        = "key.add"
	KeyCompromise = "key.compromise"
	KeyRevoke     = "key.revoke"
	KeyRotate     = "key.rotate"
	KeyRemove     = "key.remove"
	Prune         = "revocations.prune"
	// MasterKeyRotate: every private key sealed anew under a new master
	// key; MasterKeyFinish: the previous one no longer opens anything.
	MasterKeyRotate = "master_key.rotate"
	MasterKeyFinish = "master_key.finish"
	// PolicySet: the lifetime policy changed (its detail says how).
	PolicySet = "policy.set"
	// PermissionsDefine: a resource type declared in the permission
	// catalogue, or its actions changed; PermissionsRemove: one removed.
	PermissionsDefine = "permissions.define"
	PermissionsRemove = "permissions.remove"
	// UsedNewNetwork: a verifier reported a use of a token from a network
	// that none of its earlier uses came from; UsedAfterRevocation: one
	// reported a use after the token's revocation (at most one event per
	// token an hour). Their detail names the network or time and client.
	UsedNewNetwork      = "token.used.new_network"
	UsedAfterRevocation = "token.used.after_revocation"
)

// Event is one line of the audit log. It never holds a token or a secret.
type Event struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Subject string    `json:"subject,omitempty"`
	JTI     string    `json:"jti,omitempty"`
	KID     string    `json:"kid,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// MaxActor is the longest actor, in bytes: "api:" and the admin's subject
// (with escapes, see text.Escape) and jti, or "cli:" and a user name.
const MaxActor = 1024

// CheckActor returns nil when actor is fit for the log (plain text of at
// most MaxActor bytes), else an error wrapping ErrNotPlain. The packages
// that record changes check their actors with it before they change
// anything.
func CheckActor(actor string) error {
	return text.Plain("actor", actor, MaxActor)
}

// Filter selects events. Zero fields match everything.
type Filter struct {
	Subject string
	JTI     string
	Since   time.Time
	// Before selects the events recorded before the event of this ID:
	// the ID of the oldest event of a page gives the page before it.
	Before int64
	Limit  int // zero means 1000
}

// Log is the audit log in writ's database. It is safe for concurrent use.
type Log struct {
	store store.Executor
}

// NewLog returns the log of s, writ's storage as writ.Open opens it.
func NewLog(s store.Executor) (*Log, error) {
	if s == nil {
		return nil, errors.New("audit: a store is required")
	}
	return &Log{store: s}, nil
}

// List returns the newest events that match f, up to f.Limit, oldest
// first.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	p, err := l.ListPage(ctx, f)
	return p.Events, err
}

// Page is a page of the audit log, as ListPage returns it.
type Page struct {
	Events []Event // oldest first
	// Next, when older events match, is the Filter.Before of the page
	// before this one (the ID of its oldest event); zero on the oldest
	// page. Events recorded meanwhile neither repeat nor shift a page.
	Next int64
}

// ListPage returns the newest events that match f, up to f.Limit, oldest
// first, and the cursor of the page of older ones when more match.
func (l *Log) ListPage(ctx context.Context, f Filter) (Page, error) {
	if !text.Storable(f.Subject) || !text.Storable(f.JTI) {
		return Page{Events: []Event{}}, nil // no event names it (see text.Storable)
	}
	switch {
	case f.Limit <= 0:
		f.Limit = 1000
	case f.Limit > maxLimit:
		f.Limit = maxLimit
	}
	// One more than a page: whether there are older ones.
	rows, err := l.store.AuditList(ctx, store.AuditFilter{Subject: f.Subject, JTI: f.JTI, Since: f.Since.UnixMilli(), Before: f.Before, Limit: f.Limit + 1})
	if err != nil {
		return Page{}, fmt.Errorf("audit: %w", err)
	}
	var p Page
	if len(rows) > f.Limit {
		rows = rows[1:] // oldest first: the one beyond the page
		p.Next = rows[0].ID
	}
	p.Events = make([]Event, 0, len(rows))
	for _, r := range rows {
		p.Events = append(p.Events, Event{ID: r.ID, At: time.UnixMilli(r.At).UTC(), Actor: r.Actor, Action: r.Action,
			Subject: r.Subject, JTI: r.JTI, KID: r.KID, Detail: r.Detail})
	}
	return p, nil
}

// maxLimit bounds Filter.Limit, so that one more than a page cannot
// overflow.
const maxLimit = math.MaxInt32
