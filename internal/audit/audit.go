// Package audit records who did what to writ's tokens and keys, in the same
// transaction as the change itself, and lists the record back.
package audit

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
// most MaxActor bytes, see text.Plain), else an error wrapping
// text.ErrNotPlain. The packages that record changes check their actors
// with it before they change anything.
func CheckActor(actor string) error {
	return text.Plain("actor", actor, MaxActor)
}

// Execer is a *sql.DB or *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const insertEvent = `INSERT INTO audit (at, actor, action, subject, jti, kid, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`

// Record appends e to the log through x, usually the transaction that makes
// the change e describes.
func Record(ctx context.Context, x Execer, e Event) error {
	if _, err := x.ExecContext(ctx, insertEvent, values(e)...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Recorder appends events through one prepared statement, for a
// transaction that records many: the issuer's group commit, where parsing
// the statement for each token was a tenth of the CPU.
type Recorder struct{ stmt *sql.Stmt }

// NewRecorder prepares a Recorder in tx. Close it when done.
func NewRecorder(ctx context.Context, tx *sql.Tx) (*Recorder, error) {
	stmt, err := tx.PrepareContext(ctx, insertEvent)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Recorder{stmt}, nil
}

// Record appends e to the log.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if _, err := r.stmt.ExecContext(ctx, values(e)...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Close releases the prepared statement.
func (r *Recorder) Close() error { return r.stmt.Close() }

// values are e's columns for insertEvent.
func values(e Event) []any {
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	return []any{e.At.UnixMilli(), e.Actor, e.Action, e.Subject, e.JTI, e.KID, e.Detail}
}

// Filter selects events. Zero fields match everything.
type Filter struct {
	Subject string
	JTI     string
	Since   time.Time
	Limit   int // zero means 1000
}

// List returns the events that match f, oldest first.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Event, error) {
	q := `SELECT id, at, actor, action, subject, jti, kid, detail FROM audit WHERE at >= ?`
	args := []any{f.Since.UnixMilli()}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.JTI != "" {
		q += ` AND jti = ?`
		args = append(args, f.JTI)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	// The newest Limit events, shown oldest first.
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	args = append(args, f.Limit)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.JTI, &e.KID, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
