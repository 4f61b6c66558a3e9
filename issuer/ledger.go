package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

// Record is what writ remembers of an issued token: everything but the
// token itself, and its status when it was read.
type Record struct {
	ID        string      `json:"jti"`
	Status    Status      `json:"status"`
	Format    keys.Format `json:"format"`
	KeyID     string      `json:"kid"`
	Subject   string      `json:"subject"`
	Name      string      `json:"name"`
	Scopes    []string    `json:"scopes"`
	Audience  []string    `json:"audience"`
	IssuedAt  time.Time   `json:"issued"`
	ExpiresAt time.Time   `json:"expires"`
	IssuedBy  string      `json:"issued_by"`
	// Description, AllowedIPs and Parent are left out when empty.
	Description string         `json:"description,omitempty"`
	AllowedIPs  []netip.Prefix `json:"allowed_ips,omitempty"`
	Parent      string         `json:"parent,omitempty"`
	// LastUsed is the last use that verifiers reported (see
	// RecordUsage); zero, and left out, when none did.
	LastUsed time.Time `json:"last_used,omitzero"`
	// RevokedAt is when a revocation of the token takes effect, as
	// recorded on its row: in the future for a revocation scheduled after
	// a grace period (Status is still active then); zero, and left out,
	// when none is recorded. Status is the authority on whether the token
	// is revoked now.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Status says whether a recorded token is still good.
type Status string

// The statuses of a token.
const (
	StatusActive  Status = "active"
	StatusExpired Status = "expired"
	StatusRevoked Status = "revoked"
)

// ParseStatus returns the status named s, or an error wrapping ErrRequest.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusActive, StatusExpired, StatusRevoked:
		return st, nil
	}
	return "", fmt.Errorf("%w: status %q: want active, revoked or expired", ErrRequest, s)
}

// record commits the issuance and its audit event, and returns once they
// are durable. Concurrent calls share transactions and their sync (a group
// commit, see internal/groupcommit): SQLite has one writer at a time
// anyway, and so has PostgreSQL under writ's write lock; this way
// concurrent issuers queue in memory instead of in the engine's lock, and
// pay one sync per batch instead of one each.
//
// A token is recorded only if its key is active, or retired (a rotation
// came between reading the key and the commit: the token is good, and Expire
// keeps the key published until it has expired). A token whose key was
// withdrawn meanwhile (compromised) is not, and record returns
// errKeyWithdrawn. A token signed by a key from the cache of signers
// (cached) is recorded only if its key is active, else record returns
// errKeyStale.
func (i *Issuer) record(ctx context.Context, req Request, t *Token, cached bool) error {
	return i.ledger.Do(ctx, &ledgerEntry{req: req, t: t, cached: cached})
}

// MaxClockSkew is how far a token's issuance time (iat) may be behind the
// database's clock (store.Executor.Now) when its record commits: half of
// revocation.UniverseMargin. A revocation snapshot's universe, the tokens
// that its filter answers for, ends UniverseMargin before the database's
// clock at its read, so a token recorded after that read has its iat
// after the universe's end, whatever the clocks of the hosts that issued
// it and built the snapshot: the filter never answers for a token it was
// not built from.
const MaxClockSkew = revocation.UniverseMargin / 2

// ledgerEntry is a token waiting for its record to be committed.
type ledgerEntry struct {
	req    Request
	t      *Token
	cached bool // t's key came from the cache of signers
}

// commit records entries and their audit events in one transaction, each
// only if its key is still active or retired (see record).
func (i *Issuer) commit(ctx context.Context, entries []*ledgerEntry) ([]error, error) {
	tx, err := i.cfg.Store.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	defer tx.Rollback()
	outcomes, err := i.recordIn(ctx, tx, entries)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	return outcomes, nil
}

// recordIn records entries and their audit events within tx, each only if
// its key is still active or retired: the outcome of the others is
// errKeyWithdrawn. An entry signed by a cached key is recorded only if the
// key is active: else its outcome is errKeyStale. A key that is not active
// leaves the cache of signers. An entry whose iat is more than
// MaxClockSkew behind the database's clock, read once for the batch, is
// not recorded: its outcome wraps ErrClockSkew.
func (i *Issuer) recordIn(ctx context.Context, tx store.Tx, entries []*ledgerEntry) ([]error, error) {
	now := i.cfg.Now()
	outcomes := make([]error, len(entries))
	states := map[string]keys.State{} // a batch has one or two kids
	tokens := make([]store.TokenRow, 0, len(entries))
	events := make([]store.AuditRow, 0, len(entries))
	rules, err := i.recordRules(ctx, tx, now)
	if err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	catalogue, err := i.perms.readIn(ctx, tx) // in the transaction: a change committed before applies
	if err != nil {
		return nil, err
	}
	// Once for the batch, after the reads of its rules.
	dbNow, err := store.DatabaseNow(ctx, tx, i.cfg.UnsafeDatabaseNow)
	if err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	oldest := dbNow.Add(-MaxClockSkew).Unix()
	for n, e := range entries {
		req, t := e.req, e.t
		if t.IssuedAt.Unix() < oldest {
			outcomes[n] = fmt.Errorf("issuer: record token: %w: the token's issuance time is %v behind the database's clock, beyond the %v allowed: check this host's clock",
				ErrClockSkew, dbNow.Sub(t.IssuedAt).Truncate(time.Second), MaxClockSkew)
			continue
		}
		if err := catalogue.check(req.Scopes); err != nil {
			outcomes[n] = err
			continue
		}
		state, ok := states[t.KeyID]
		if !ok {
			s, err := tx.KeyState(ctx, t.KeyID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("issuer: record token: %w", err)
			}
			state = keys.State(s)
			states[t.KeyID] = state
			if state != keys.Active {
				i.signers.drop(t.KeyID)
			}
		}
		switch {
		case state != keys.Active && state != keys.Retired:
			outcomes[n] = errKeyWithdrawn
			continue
		case state != keys.Active && e.cached:
			outcomes[n] = errKeyStale
			continue
		}
		if req.Parent != "" {
			if err := checkParent(ctx, tx, &req, t.ExpiresAt, now); errors.Is(err, ErrDelegation) {
				outcomes[n] = err
				continue
			} else if err != nil {
				return nil, err
			}
		}
		if outcomes[n], err = rules.check(ctx, tx, req, t); err != nil {
			return nil, fmt.Errorf("issuer: record token: %w", err)
		} else if outcomes[n] != nil {
			continue
		}
		tokens = append(tokens, store.TokenRow{JTI: t.ID, Format: string(t.Format), KID: t.KeyID, Subject: req.Subject, Name: req.Name,
			Scopes: strings.Join(req.Scopes, " "), Audience: strings.Join(req.Audience, " "),
			IssuedAt: t.IssuedAt.Unix(), ExpiresAt: t.ExpiresAt.Unix(), IssuedBy: req.IssuedBy,
			Description: req.Description, AllowedIPs: joinPrefixes(req.AllowedIPs), Parent: req.Parent})
		events = append(events, store.AuditRow{At: now.UnixMilli(), Actor: req.IssuedBy, Action: req.action,
			Subject: req.Subject, JTI: t.ID, KID: t.KeyID, Detail: req.detail})
	}
	if err := tx.TokenInsertMany(ctx, tokens, events); err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	return outcomes, nil
}

// Get returns the record of the token jti, or an error wrapping
// ErrUnknownToken.
func (i *Issuer) Get(ctx context.Context, jti string) (*Record, error) {
	recs, err := i.list(ctx, store.TokenFilter{JTI: jti, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownToken, jti)
	}
	return &recs[0], nil
}

// Filter selects records for List. Zero fields match everything.
type Filter struct {
	Subject string
	Name    string
	// Search selects the tokens whose name or subject contains it,
	// ignoring the case of ASCII letters (A-Z) only: other letters match
	// as written (É does not find é).
	Search string
	// Parent selects the tokens that the token Parent issued.
	Parent string
	// Status selects the tokens with this status now.
	Status Status
	// ExpiringWithin, when set, selects the active tokens that expire
	// within it from now (and sets Status to active).
	ExpiringWithin time.Duration
	// NeverUsed selects the tokens of which verifiers reported no use.
	NeverUsed bool
	// Sort orders the records: by issuance, newest first (SortIssued,
	// the default), or by last use (SortLastUsed).
	Sort Sort
	// After is where the previous page ended: the Next of its Page.
	After string
	// Limit caps the number of records; zero means 1000.
	Limit int
}

// Sort is an order of List.
type Sort string

// The orders of List.
const (
	// SortIssued: newest first.
	SortIssued Sort = ""
	// SortLastUsed: the most recently used first, the tokens never used
	// last, each group newest first. Paging follows the order as each page
	// is read: a token used meanwhile may move to a page already read, or
	// from one not read yet.
	SortLastUsed Sort = "last_used"
)

// ParseSort returns the order named s ("issued" or "last_used"), or an
// error wrapping ErrRequest.
func ParseSort(s string) (Sort, error) {
	switch s {
	case "issued":
		return SortIssued, nil
	case string(SortLastUsed):
		return SortLastUsed, nil
	}
	return "", fmt.Errorf("%w: sort %q: want issued or last_used", ErrRequest, s)
}

// List returns the recorded tokens that match f, newest first, each with
// its status now: revoked when a revocation in force covers it (its jti,
// its subject before its issuance, or its key), else expired or active.
// The status is part of the query, so that Limit counts matching tokens.
func (i *Issuer) List(ctx context.Context, f Filter) ([]Record, error) {
	p, err := i.ListPage(ctx, f)
	return p.Records, err
}

func (i *Issuer) list(ctx context.Context, f store.TokenFilter) ([]Record, error) {
	if !text.Storable(f.JTI) {
		return nil, nil // no token has it (see text.Storable)
	}
	f.At = i.cfg.Now().Unix()
	rows, err := i.cfg.Store.TokenList(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("issuer: list tokens: %w", err)
	}
	return records(rows), nil
}

// records returns the records of rows.
func records(rows []store.TokenRow) []Record {
	var out []Record
	for _, t := range rows {
		out = append(out, Record{
			ID: t.JTI, Status: Status(t.Status), Format: keys.Format(t.Format), KeyID: t.KID,
			Subject: t.Subject, Name: t.Name,
			Scopes:    append([]string{}, strings.Fields(t.Scopes)...), // [] rather than null in JSON
			Audience:  strings.Fields(t.Audience),
			IssuedAt:  time.Unix(t.IssuedAt, 0).UTC(),
			ExpiresAt: time.Unix(t.ExpiresAt, 0).UTC(),
			IssuedBy:  t.IssuedBy,

			Description: t.Description,
			AllowedIPs:  parsePrefixes(t.AllowedIPs),
			Parent:      t.Parent,
			LastUsed:    optionalTime(t.LastUse),
			RevokedAt:   optionalTime(t.RevokedAt),
		})
	}
	return out
}

// optionalTime is the time of unix seconds sec of a column where 0 means
// none (TokenRow.LastUse, RevokedAt): the zero Time for none.
func optionalTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// joinPrefixes returns the prefixes space-separated, as the store keeps them.
func joinPrefixes(ps []netip.Prefix) string {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, ' ')
		}
		b = p.AppendTo(b)
	}
	return string(b)
}

// parsePrefixes reads what joinPrefixes wrote; a prefix that does not
// parse (a tampered row) is left out.
func parsePrefixes(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}
