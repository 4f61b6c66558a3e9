package issuer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/keys"
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
// are durable. Concurrent calls share transactions (a group commit): one
// caller at a time, the leader, commits everything queued so far in one
// transaction and one sync, then hands the lead to the next caller queued,
// if any. SQLite has one writer at a time anyway; this way concurrent
// issuers queue in memory instead of in SQLite's busy handler, whose sleeps
// made their latency jump, and pay one sync per batch instead of one each.
//
// A token is recorded only if its key is active, or retired (a rotation
// came between reading the key and the commit: the token is good, and Expire
// keeps the key published until it has expired). A token whose key was
// withdrawn meanwhile (compromised) is not, and record returns
// errKeyWithdrawn.
func (i *Issuer) record(ctx context.Context, req Request, t *Token) error {
	e := &ledgerEntry{req: req, t: t, done: make(chan error, 1)}
	l := &i.ledger
	l.mu.Lock()
	l.queue = append(l.queue, e)
	lead := !l.leading
	l.leading = true
	l.mu.Unlock()
	if !lead {
		if err := <-e.done; err != errLead {
			return err
		}
	}
	// The commit must not fail because this caller went away: the batch
	// holds other callers' records too.
	i.commitQueued(context.WithoutCancel(ctx))
	return <-e.done
}

// ledger is the queue of records waiting for the group commit.
type ledger struct {
	mu      sync.Mutex
	queue   []*ledgerEntry
	leading bool // a caller is committing; the others wait on done
}

type ledgerEntry struct {
	req  Request
	t    *Token
	done chan error // the outcome of the commit, or errLead
}

// errLead tells a queued caller that it now leads the group commit.
var errLead = errors.New("issuer: lead the group commit")

// maxBatch bounds the records committed in one transaction.
const maxBatch = 256

// commitQueued commits the queue, then passes the lead to the first caller
// queued meanwhile, or gives it up.
func (i *Issuer) commitQueued(ctx context.Context) {
	l := &i.ledger
	l.mu.Lock()
	batch := l.queue[:min(len(l.queue), maxBatch)]
	l.queue = l.queue[len(batch):]
	l.mu.Unlock()

	outcomes, err := i.commit(ctx, batch)
	for n, e := range batch {
		switch {
		case err == nil:
			e.done <- outcomes[n]
		case len(batch) == 1:
			e.done <- err
		default:
			// One bad record must not fail the others: retry each alone.
			o, err := i.commit(ctx, batch[n:n+1])
			if err == nil {
				err = o[0]
			}
			e.done <- err
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		l.leading = false
		l.queue = nil // let a burst's backing array go
		return
	}
	l.queue[0].done <- errLead
}

// errKeyWithdrawn is the outcome of a record whose token was signed by a
// key that may no longer sign: compromised, or removed, since it was read.
var errKeyWithdrawn = errors.New("issuer: the signing key was withdrawn")

// commit records entries and their audit events in one transaction, each
// only if its key is still active or retired (see record).
func (i *Issuer) commit(ctx context.Context, entries []*ledgerEntry) ([]error, error) {
	tx, err := i.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO tokens
		(jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	defer insert.Close()
	events, err := audit.NewRecorder(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer events.Close()
	now := i.cfg.Now()
	outcomes := make([]error, len(entries))
	states := map[string]keys.State{} // a batch has one or two kids
	for n, e := range entries {
		req, t := e.req, e.t
		state, ok := states[t.KeyID]
		if !ok {
			err := tx.QueryRowContext(ctx, `SELECT state FROM keys WHERE kid = ?`, t.KeyID).Scan(&state)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("issuer: record token: %w", err)
			}
			states[t.KeyID] = state
		}
		if state != keys.Active && state != keys.Retired {
			outcomes[n] = errKeyWithdrawn
			continue
		}
		_, err = insert.ExecContext(ctx, t.ID, string(t.Format), t.KeyID, req.Subject, req.Name,
			strings.Join(req.Scopes, " "), strings.Join(req.Audience, " "),
			t.IssuedAt.Unix(), t.ExpiresAt.Unix(), req.IssuedBy)
		if err != nil {
			return nil, fmt.Errorf("issuer: record token: %w", err)
		}
		err = events.Record(ctx, audit.Event{At: now, Actor: req.IssuedBy, Action: req.action,
			Subject: req.Subject, JTI: t.ID, KID: t.KeyID, Detail: req.detail})
		if err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("issuer: record token: %w", err)
	}
	return outcomes, nil
}

// ErrNotFound is returned for a jti that was never issued here.
var ErrNotFound = errors.New("no such token")

// Get returns the record of the token jti.
func (i *Issuer) Get(ctx context.Context, jti string) (*Record, error) {
	recs, err := i.list(ctx, `jti = ?`, []any{jti}, 1)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, jti)
	}
	return &recs[0], nil
}

// Filter selects records for List. Zero fields match everything.
type Filter struct {
	Subject string
	Name    string
	// Status selects the tokens with this status now.
	Status Status
	// Limit caps the number of records; zero means 1000.
	Limit int
}

// List returns the recorded tokens that match f, newest first, each with
// its status now: revoked when a revocation in force covers it (its jti,
// its subject before its issuance, or its key), else expired or active.
// The status is part of the query, so that Limit counts matching tokens.
func (i *Issuer) List(ctx context.Context, f Filter) ([]Record, error) {
	where := `1 = 1`
	var args []any
	if f.Subject != "" {
		where += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Name != "" {
		where += ` AND name = ?`
		args = append(args, f.Name)
	}
	if f.Status != "" {
		if _, err := ParseStatus(string(f.Status)); err != nil {
			return nil, err
		}
		where += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	return i.list(ctx, where, args, f.Limit)
}

// statusColumn computes a token's status at the time bound to ?1 (the
// first argument: the later plain ? are numbered from 2), as
// revocation.List.Revoked does for one token.
const statusColumn = `CASE
	WHEN EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'token' AND r.value = t.jti AND r.effective_at <= ?1)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'subject' AND r.value = t.subject AND r.issued_before > t.issued_at)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'key' AND r.value = t.kid) THEN 'revoked'
	WHEN t.expires_at <= ?1 THEN 'expired'
	ELSE 'active' END`

func (i *Issuer) list(ctx context.Context, where string, args []any, limit int) ([]Record, error) {
	q := `SELECT jti, status, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by FROM
		(SELECT t.*, t.rowid AS row, ` + statusColumn + ` AS status FROM tokens t)
		WHERE ` + where + ` ORDER BY issued_at DESC, row DESC LIMIT ?`
	args = append(append([]any{i.cfg.Now().Unix()}, args...), limit)
	rows, err := i.cfg.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("issuer: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var status, format, scopes, aud string
		var iat, exp int64
		if err := rows.Scan(&r.ID, &status, &format, &r.KeyID, &r.Subject, &r.Name, &scopes, &aud, &iat, &exp, &r.IssuedBy); err != nil {
			return nil, fmt.Errorf("issuer: list tokens: %w", err)
		}
		r.Status = Status(status)
		r.Format = keys.Format(format)
		r.Scopes = append([]string{}, strings.Fields(scopes)...) // [] rather than null in JSON
		r.Audience = strings.Fields(aud)
		r.IssuedAt = time.Unix(iat, 0).UTC()
		r.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
