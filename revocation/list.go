// Package revocation invalidates tokens before they expire and tells
// verifiers about it.
//
// The [List] lives in writ's database. A token is revoked by its jti
// (never by its string or a hash of it: a signature can be re-encoded), every
// token of a subject issued before a time, or every token of a key. Each
// change gets the next number of one monotonic sequence and is committed
// durably before the call returns; an entry is pruned once every token it
// covers has expired.
//
// Verifiers do not read the List: a revoked.Snapshot (package
// verifier/revoked) holds it in memory, refreshed by sequence number from
// the List's [List.Changes] beside the database, or from the signed feed
// that writ serve publishes of them.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/groupcommit"
	"github.com/writ-dev/writ/internal/lifetime"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/verifier"
)

// Kind says what an entry revokes.
type Kind string

// The kinds of entries.
const (
	Token   Kind = "token"   // one token, by jti
	Subject Kind = "subject" // every token of a subject issued before a time
	Key     Kind = "key"     // every token signed by a key
)

// Entry is one revocation.
type Entry struct {
	Seq   int64  `json:"seq"`
	Kind  Kind   `json:"kind"`
	Value string `json:"value"` // the jti, subject or kid
	// IssuedBefore, for a Subject entry: tokens issued before it are revoked.
	IssuedBefore time.Time `json:"issued_before,omitzero"`
	// EffectiveAt is when the revocation takes effect: its creation, or
	// later after a grace period.
	EffectiveAt time.Time `json:"effective_at"`
	// ExpiresAt is when every token the entry covers has expired.
	ExpiresAt time.Time `json:"expires_at"`
	Reason    string    `json:"reason,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// DefaultMaxTTL is the longest lifetime of a token when nothing sets
// another: issuer.DefaultMaxTTL, and what a zero MaxTTL means to the List
// and to keys.Ring.
const DefaultMaxTTL = 90 * 24 * time.Hour

// Config configures a List.
type Config struct {
	// Store is writ's storage, as writ.Open opens it, or a transaction of
	// it, for an operation of another package that revokes within its
	// own (keys.Ring.Compromise, issuer.Issuer.Regenerate). Required.
	Store store.Executor
	// MaxTTL is the longest lifetime of any token: subject and key entries
	// are kept that long, or as long as the longest maximum the lifetime
	// policy in the database ever allowed, if that is longer. Zero means
	// DefaultMaxTTL.
	MaxTTL time.Duration
	// KeepExpired is how long an entry is kept past the expiry of the
	// tokens it covers, before Prune deletes it and Changes leaves it out:
	// a verifier accepts a token up to its clock leeway past its expiry.
	// Zero means verifier.MaxLeeway, the largest leeway a verifier takes.
	KeepExpired time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// UnsafeDatabaseNow stands in for the database's clock
	// (store.Executor.Now), from which Snapshot takes its time: for tests
	// whose Now is a fake clock, set to the same one. Nil, as it must be
	// outside tests, reads the database's.
	UnsafeDatabaseNow func() time.Time
}

// List is the revocation list in writ's database. It is safe for concurrent
// use by several goroutines and processes.
type List struct {
	store       store.Executor
	maxTTL      time.Duration
	keepExpired time.Duration
	now         func() time.Time
	databaseNow func() time.Time // Config.UnsafeDatabaseNow
	// changes group the changes of concurrent callers in one
	// transaction each (not over a Tx, whose transaction is the caller's).
	changes groupcommit.Committer[*pending]
	// others is how many unrevoked tokens of the ledger the last Snapshot
	// read: the next one's first guess.
	others atomic.Int64
}

// NewList returns the list of cfg.Store.
func NewList(cfg Config) (*List, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("revocation: Config.Store is required")
	case cfg.MaxTTL < 0 || cfg.KeepExpired < 0:
		return nil, errors.New("revocation: Config.MaxTTL and Config.KeepExpired must not be negative")
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	l := &List{store: cfg.Store, maxTTL: cfg.MaxTTL, keepExpired: cfg.KeepExpired, now: cfg.Now,
		databaseNow: cfg.UnsafeDatabaseNow}
	if l.keepExpired == 0 {
		l.keepExpired = verifier.MaxLeeway
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.changes.Commit = l.commit
	return l, nil
}

// Options describe who revokes and why.
type Options struct {
	// Reason says why, for the record: plain text (no control, invisible
	// or line-breaking characters) of at most MaxReason bytes.
	Reason string
	// Actor names who revokes, for the record: plain text of at most
	// 1024 bytes.
	Actor string
	// Grace delays a token revocation: the token stays valid this long
	// (used when a token is regenerated, so its holder can switch).
	Grace time.Duration
	// EffectiveAt, instead of Grace, is when a token revocation takes
	// effect (at once if it is past). issuer.Regenerate fixes it before it
	// issues the replacement, so that the revocation it makes afterwards
	// ends the grace it checked, however long issuing took.
	EffectiveAt time.Time
}

// MaxReason is the longest Options.Reason, in bytes.
const MaxReason = 512

// Check returns an error wrapping ErrInvalid when o's reason or actor is
// not plain text or too long. Every revocation checks its options; Check
// is for callers that must know before they do anything else.
func (o Options) Check() error {
	if err := text.Plain("reason", o.Reason, MaxReason); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := audit.CheckActor(o.Actor); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

const maxID = 256

// CheckID returns an error wrapping ErrInvalid unless s can name a token
// (what "jti"), subject or key in the list: 1 to 256 bytes without control
// characters. Every jti, subject and kid writ makes can.
func CheckID(what, s string) error {
	if s == "" || len(s) > maxID || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return fmt.Errorf("%w: malformed %s %q", ErrInvalid, what, s)
	}
	return nil
}

// CheckGrace returns an error wrapping ErrInvalid if a token revocation
// at now with the grace period grace cannot be made: a negative grace, or
// one that would end after the token's expiry (wrapping
// ErrGraceBeyondExpiry too), since such a revocation would only ever take
// effect on an expired token. A revocation without grace is always
// possible. RevokeToken checks it; a caller that must know before it acts
// (issuer.Regenerate, which issues the replacement first) checks it too.
func CheckGrace(grace time.Duration, now, expiresAt time.Time) error {
	switch {
	case grace < 0:
		return fmt.Errorf("%w: negative grace period", ErrInvalid)
	case grace > 0 && now.Add(grace).Unix() > expiresAt.Unix(): // whole seconds, as stored
		return fmt.Errorf("%w: %w: a grace of %v from %s ends after the token expires at %s",
			ErrInvalid, ErrGraceBeyondExpiry, grace, now.UTC().Format(time.RFC3339), expiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// RevokeToken revokes the token with id jti, which must have been issued from
// this database. Revoking a revoked token again returns its entry and
// changes nothing, unless the new revocation takes effect sooner. A grace
// period must end by the token's expiry (see CheckGrace).
//
// The tokens that the token issued (delegated issuing, see
// issuer.Request.Delegator), and those they issued, are revoked with it,
// in the same transaction, from the same time: each by an entry of its
// own, for the reason "parent JTI revoked", with its own audit event. The
// entry returned is the token's own.
func (l *List) RevokeToken(ctx context.Context, jti string, o Options) (Entry, error) {
	if err := CheckID("jti", jti); err != nil {
		return Entry{}, err
	}
	if err := o.Check(); err != nil {
		return Entry{}, err
	}
	switch {
	case o.Grace < 0:
		return Entry{}, fmt.Errorf("%w: negative grace period", ErrInvalid)
	case o.Grace != 0 && !o.EffectiveAt.IsZero():
		return Entry{}, fmt.Errorf("%w: a grace period and an effective time exclude each other", ErrInvalid)
	}
	return l.change(ctx, func(tx store.Tx, now time.Time) (Entry, error) {
		t, err := tx.TokenGet(ctx, jti)
		if errors.Is(err, store.ErrNotFound) {
			return Entry{}, fmt.Errorf("%w: no token with jti %q was issued here", ErrUnknownToken, jti)
		}
		if err != nil {
			return Entry{}, err
		}
		exp := t.ExpiresAt
		grace := o.Grace
		if !o.EffectiveAt.IsZero() {
			grace = max(o.EffectiveAt.Sub(now), 0)
		}
		if err := CheckGrace(grace, now, time.Unix(exp, 0)); err != nil {
			return Entry{}, err
		}
		e := Entry{Kind: Token, Value: jti, EffectiveAt: now.Add(grace), ExpiresAt: time.Unix(exp, 0), Reason: o.Reason, Actor: o.Actor, CreatedAt: now}
		if eff := e.EffectiveAt.Unix(); eff < 0 || eff > feed.MaxTime32 {
			return Entry{}, fmt.Errorf("%w: a revocation taking effect at %s, outside the times the list holds (1970 to %s)",
				ErrInvalid, e.EffectiveAt.UTC().Format(time.RFC3339), time.Unix(feed.MaxTime32, 0).UTC().Format(time.RFC3339))
		}
		e, changed, err := revokeOne(ctx, tx, e, &t)
		if err != nil || !changed {
			return e, err
		}
		return e, revokeDescendants(ctx, tx, e)
	})
}

// revokeOne records e, the revocation of the token t, unless t's entry
// takes effect as soon or sooner: it then returns that entry, unchanged.
// An entry that takes effect later is replaced.
func revokeOne(ctx context.Context, tx store.Tx, e Entry, t *store.TokenRow) (Entry, bool, error) {
	if old, err := get(ctx, tx, Token, t.JTI); err == nil {
		if !old.EffectiveAt.After(e.EffectiveAt) {
			return old, false, nil // already revoked, as soon or sooner
		}
		if err := tx.RevocationDelete(ctx, old.Seq); err != nil {
			return Entry{}, false, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return Entry{}, false, err
	}
	e, err := insert(ctx, tx, e, store.AuditRow{Action: audit.Revoke, Subject: t.Subject, JTI: t.JTI, KID: t.KID})
	return e, err == nil, err
}

// revokeDescendants revokes, as e revokes its token, the tokens that
// token issued (delegated issuing: their parent), and those they issued,
// to any depth: each by an entry of its own, since verifiers know nothing
// of parents, taking effect with e and lasting until that token expires,
// with its own audit event. A descendant that expires by the time e takes
// effect, or whose entry takes effect as soon, is left as it is.
func revokeDescendants(ctx context.Context, tx store.Tx, e Entry) error {
	tokens, err := tx.TokenDescendants(ctx, e.Value)
	if err != nil {
		return err
	}
	return revokeAll(ctx, tx, tokens, e, "parent "+e.Value+" revoked")
}

// revokeAll revokes tokens, the descendants of what e revokes, each by an
// entry of its own taking effect with e, for reason, but those that
// expire by then.
func revokeAll(ctx context.Context, tx store.Tx, tokens []store.TokenRow, e Entry, reason string) error {
	for i := range tokens {
		t := &tokens[i]
		if t.ExpiresAt <= e.EffectiveAt.Unix() {
			continue
		}
		d := Entry{Kind: Token, Value: t.JTI, EffectiveAt: e.EffectiveAt, ExpiresAt: time.Unix(t.ExpiresAt, 0),
			Reason: reason, Actor: e.Actor, CreatedAt: e.CreatedAt}
		if _, _, err := revokeOne(ctx, tx, d, t); err != nil {
			return err
		}
	}
	return nil
}

// RevokeSubject revokes every token of subject issued before the given time
// (now when zero), which must not be in the future: tokens not issued yet
// are not revoked. Times are whole seconds, as in tokens: the cut-off is
// rounded up, so a token issued in the same second as the revocation is
// revoked too. The descendants of the revoked tokens (delegated issuing)
// issued since the cut-off are revoked with them, each by an entry of its
// own, in the same transaction.
func (l *List) RevokeSubject(ctx context.Context, subject string, before time.Time, o Options) (Entry, error) {
	if err := CheckID("subject", subject); err != nil {
		return Entry{}, err
	}
	if err := o.Check(); err != nil {
		return Entry{}, err
	}
	return l.change(ctx, func(tx store.Tx, now time.Time) (Entry, error) {
		known, err := tx.TokenSubjectKnown(ctx, subject)
		if err != nil {
			return Entry{}, err
		}
		if !known {
			return Entry{}, fmt.Errorf("%w: no token was issued to %q", ErrUnknownSubject, subject)
		}
		// Not before itself: a change runs again alone when its group's
		// transaction fails, with a later now.
		cut := before
		if cut.IsZero() {
			cut = now
		}
		if cut.After(now) {
			return Entry{}, fmt.Errorf("%w: cut-off %s is in the future", ErrInvalid, cut.UTC().Format(time.RFC3339))
		}
		cutoff := cut.Truncate(time.Second)
		if cutoff.Before(cut) {
			cutoff = cutoff.Add(time.Second)
		}
		longest, err := l.longest(ctx, tx)
		if err != nil {
			return Entry{}, err
		}
		e := Entry{Kind: Subject, Value: subject, IssuedBefore: cutoff, EffectiveAt: now, ExpiresAt: cutoff.Add(longest), Reason: o.Reason, Actor: o.Actor, CreatedAt: now}
		e, err = insert(ctx, tx, e, store.AuditRow{Action: audit.RevokeSubject, Subject: subject,
			Detail: "issued before " + cutoff.UTC().Format(time.RFC3339)})
		if err != nil {
			return Entry{}, err
		}
		// What the revoked tokens issued since the cut-off, which the
		// subject's entry does not cover.
		tokens, err := tx.TokenDescendantsOfSubject(ctx, subject, cutoff.Unix())
		if err != nil {
			return Entry{}, err
		}
		return e, revokeAll(ctx, tx, tokens, e, "issued under a token of "+subject+" revoked")
	})
}

// RevokeKey revokes every token signed by the key kid, which must no longer
// sign (retired, removed or compromised): the entry lasts as long as the
// longest-lived token signed before now (Config.MaxTTL), and a key still
// signing would sign tokens that outlive it. To withdraw a signing key and
// revoke its tokens in one step, use keys.Ring.Compromise. Revoking a key
// twice is not an error: it returns the first entry.
//
// The tokens that the key's tokens issued (delegated issuing), and those
// they issued, are revoked with them, whichever key signed them, each by
// an entry of its own: whoever held the key could have forged the token
// that asked for them.
func (l *List) RevokeKey(ctx context.Context, kid string, o Options) (Entry, error) {
	return l.change(ctx, func(tx store.Tx, now time.Time) (Entry, error) {
		if err := CheckID("kid", kid); err != nil {
			return Entry{}, err
		}
		if err := o.Check(); err != nil {
			return Entry{}, err
		}
		state, err := tx.KeyState(ctx, kid)
		if errors.Is(err, store.ErrNotFound) {
			return Entry{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
		}
		if err != nil {
			return Entry{}, err
		}
		if state == "active" || state == "next" {
			return Entry{}, fmt.Errorf("%w: key %q is %s: compromise it, which withdraws it and revokes its tokens at once", ErrInvalid, kid, state)
		}
		if old, err := get(ctx, tx, Key, kid); err == nil {
			return old, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return Entry{}, err
		}
		longest, err := l.longest(ctx, tx)
		if err != nil {
			return Entry{}, err
		}
		e := Entry{Kind: Key, Value: kid, EffectiveAt: now, ExpiresAt: now.Add(longest), Reason: o.Reason, Actor: o.Actor, CreatedAt: now}
		e, err = insert(ctx, tx, e, store.AuditRow{Action: audit.KeyRevoke, KID: kid})
		if err != nil {
			return Entry{}, err
		}
		tokens, err := tx.TokenDescendantsOfKey(ctx, kid)
		if err != nil {
			return Entry{}, err
		}
		return e, revokeAll(ctx, tx, tokens, e, "issued under a token of revoked key "+kid)
	})
}

// longest returns how long a subject or key entry made in tx is kept: the
// longest lifetime of a token it may cover, Config.MaxTTL or the longest
// maximum the lifetime policy in the database ever allowed (see
// internal/lifetime), whichever is longer. A policy lowered since does not
// shorten it: tokens issued before still live as long as they were issued
// for.
func (l *List) longest(ctx context.Context, tx store.Tx) (time.Duration, error) {
	p, err := lifetime.Read(ctx, tx, l.maxTTL)
	if err != nil {
		return 0, fmt.Errorf("revocation: %w", err)
	}
	return max(l.maxTTL, p.Longest), nil
}

// change runs fn in a write transaction and commits it: when change
// returns without error, the change is durable. Concurrent changes share
// a transaction and its sync (a group commit); fn runs once in the
// transaction that commits, though it may run before in one that failed
// because of another change (it then runs again alone). Over a
// transaction (see Config.Store), fn runs in it: it commits with it, and
// a failure of fn rolls it back.
//
// fn refuses a change (an error wrapping ErrInvalid or an ErrUnknown*
// error) only before it writes anything, so that a refusal leaves the
// other changes of its transaction to commit.
func (l *List) change(ctx context.Context, fn func(store.Tx, time.Time) (Entry, error)) (Entry, error) {
	p := &pending{fn: fn}
	var err error
	if _, inTx := l.store.(store.Tx); inTx {
		var outcomes []error
		if outcomes, err = l.commit(ctx, []*pending{p}); err == nil {
			err = outcomes[0]
		}
	} else {
		err = l.changes.Do(ctx, p)
	}
	return p.entry, err
}

// pending is a change waiting for its commit, and then its entry.
type pending struct {
	fn    func(store.Tx, time.Time) (Entry, error)
	entry Entry
}

// commit runs changes in one transaction and commits it, and returns
// each one's outcome: nil, or its refusal. A change that fails otherwise
// fails them all, since it may have written before it failed: the group
// commit then runs each alone.
func (l *List) commit(ctx context.Context, changes []*pending) ([]error, error) {
	tx, err := l.store.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer tx.Rollback()
	now := l.now()
	outcomes := make([]error, len(changes))
	for n, p := range changes {
		p.entry, err = p.fn(tx, now)
		switch {
		case err == nil:
		case refused(err):
			outcomes[n] = wrap(err)
		default:
			return nil, wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("revocation: commit: %w", err)
	}
	return outcomes, nil
}

// refused reports whether err refuses a change, which a change does
// before it writes (see change).
func refused(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownToken) || errors.Is(err, ErrUnknownSubject) || errors.Is(err, ErrUnknownKey)
}

// wrap prefixes an error of a change with the package name, except the
// unknown-id errors, whose messages say all.
func wrap(err error) error {
	if err == nil || errors.Is(err, ErrUnknownToken) || errors.Is(err, ErrUnknownSubject) || errors.Is(err, ErrUnknownKey) {
		return err
	}
	return fmt.Errorf("revocation: %w", err)
}

// insert records e, with the audit event ev made by e's actor for e's
// reason, and, for a token entry, its packed record.
func insert(ctx context.Context, tx store.Tx, e Entry, ev store.AuditRow) (Entry, error) {
	r := store.RevocationRow{Kind: string(e.Kind), Value: e.Value, EffectiveAt: e.EffectiveAt.Unix(), ExpiresAt: e.ExpiresAt.Unix(),
		Reason: e.Reason, Actor: e.Actor, CreatedAt: e.CreatedAt.Unix()}
	if !e.IssuedBefore.IsZero() {
		r.IssuedBefore = store.At(e.IssuedBefore.Unix())
	}
	var err error
	if e.Seq, err = tx.RevocationInsert(ctx, r); err != nil {
		return Entry{}, err
	}
	ev.At, ev.Actor = e.CreatedAt.UnixMilli(), e.Actor
	if e.Reason != "" {
		ev.Detail = strings.TrimSpace(ev.Detail + " reason: " + e.Reason)
	}
	if err := tx.AuditInsert(ctx, ev); err != nil {
		return Entry{}, fmt.Errorf("audit: %w", err)
	}
	if e.Kind == Token {
		t := feed.RevokedToken{ID: feed.TokenIDOf(e.Value), EffectiveAt: e.EffectiveAt.Unix(), ExpiresAt: e.ExpiresAt.Unix()}
		if err := tx.PackedAppend(ctx, appendRecord(make([]byte, 0, packedSize), t), packedChunk*packedSize); err != nil {
			return Entry{}, err
		}
	}
	return normalize(e), nil
}

// get returns the entry of the token or key value.
func get(ctx context.Context, x store.Executor, kind Kind, value string) (Entry, error) {
	r, err := x.RevocationGet(ctx, string(kind), value)
	if err != nil {
		return Entry{}, err
	}
	return entryOf(&r), nil
}

// entryOf returns the entry that r stores.
func entryOf(r *store.RevocationRow) Entry {
	e := Entry{Seq: r.Seq, Kind: Kind(r.Kind), Value: r.Value, Reason: r.Reason, Actor: r.Actor,
		EffectiveAt: time.Unix(r.EffectiveAt, 0), ExpiresAt: time.Unix(r.ExpiresAt, 0), CreatedAt: time.Unix(r.CreatedAt, 0)}
	if r.IssuedBefore.Valid {
		e.IssuedBefore = time.Unix(r.IssuedBefore.Sec, 0)
	}
	return normalize(e)
}

// normalize gives an entry's times whole seconds in UTC, as they are stored.
func normalize(e Entry) Entry {
	for _, t := range []*time.Time{&e.IssuedBefore, &e.EffectiveAt, &e.ExpiresAt, &e.CreatedAt} {
		if !t.IsZero() {
			*t = t.Truncate(time.Second).UTC()
		}
	}
	return e
}

// Filter selects entries for Entries. Zero fields match everything.
type Filter struct {
	Kind  Kind
	Value string
	// Before selects the entries before the sequence number Before.
	Before int64
	// Newest, when not zero, selects at most this many entries, the
	// newest, and lists them newest first: a page of the list, read
	// without reading the rest (with the Seq of a page's oldest entry as
	// Before, the page before it).
	Newest int
}

// Entries returns the entries in force or not yet pruned, in sequence
// order (with f.Newest, newest first).
func (l *List) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	sf := store.RevocationFilter{Value: f.Value, Before: f.Before, Newest: f.Newest}
	if f.Kind != "" {
		sf.Kinds = []string{string(f.Kind)}
	}
	var out []Entry
	err := l.store.RevocationEach(ctx, sf, func(r *store.RevocationRow) error {
		out = append(out, entryOf(r))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return out, nil
}

// Revoked reports whether an entry in force revokes the token jti: its own,
// its subject's or its key's. It is for admins' tools, not for verifiers,
// which use a Snapshot; issuer.List filters by the same rule in its query
// (issuer's TestListByStatus holds the two to it).
func (l *List) Revoked(ctx context.Context, jti, subject, kid string, issuedAt time.Time) (bool, error) {
	revoked, err := l.store.RevocationCovers(ctx, l.now().Unix(), jti, subject, kid, issuedAt.Unix())
	if err != nil {
		return false, fmt.Errorf("revocation: %w", err)
	}
	return revoked, nil
}

// Prune deletes the entries whose tokens have all expired (plus
// Config.KeepExpired) and returns how many it deleted, recording the
// deletion, if any, in the audit log. The sequence is unaffected. writ
// serve prunes on its own.
func (l *List) Prune(ctx context.Context, actor string) (int64, error) {
	var n int64
	_, err := l.change(ctx, func(tx store.Tx, now time.Time) (Entry, error) {
		// Token entries apart: only their removal calls for the packed
		// copy to be made again, which rewrites it whole (seconds under
		// the write lock for a million entries).
		tokens, others, err := tx.RevocationPrune(ctx, now.Add(-l.keepExpired).Unix())
		if err != nil {
			return Entry{}, err
		}
		if n = tokens + others; n == 0 {
			return Entry{}, nil
		}
		if tokens > 0 {
			if err := repack(ctx, tx); err != nil {
				return Entry{}, err
			}
		}
		err = tx.AuditInsert(ctx, store.AuditRow{At: now.UnixMilli(), Actor: actor, Action: audit.Prune, Detail: fmt.Sprintf("%d entries", n)})
		if err != nil {
			return Entry{}, fmt.Errorf("audit: %w", err)
		}
		return Entry{}, nil
	})
	return n, err
}
