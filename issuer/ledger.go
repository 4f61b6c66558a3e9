package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/keys"
)

// Record is what writ remembers of an issued token: everything but the
// token itself.
type Record struct {
	ID        string      `json:"jti"`
	Status    Status      `json:"status,omitempty"` // set by SetStatus
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

// RevocationLookup tells whether a token is revoked: *revocation.List is one.
type RevocationLookup interface {
	Revoked(ctx context.Context, jti, subject, kid string, issuedAt time.Time) (bool, error)
}

// SetStatus sets the Status of each record: revoked when rl says so, else
// expired or active as of now.
func SetStatus(ctx context.Context, recs []Record, rl RevocationLookup, now time.Time) error {
	for i := range recs {
		r := &recs[i]
		revoked, err := rl.Revoked(ctx, r.ID, r.Subject, r.KeyID, r.IssuedAt)
		switch {
		case err != nil:
			return err
		case revoked:
			r.Status = StatusRevoked
		case !now.Before(r.ExpiresAt):
			r.Status = StatusExpired
		default:
			r.Status = StatusActive
		}
	}
	return nil
}

// record commits the issuance and its audit event together.
func (i *Issuer) record(ctx context.Context, req Request, t *Token) error {
	tx, err := i.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO tokens
		(jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, string(t.Format), t.KeyID, req.Subject, req.Name,
		strings.Join(req.Scopes, " "), strings.Join(req.Audience, " "),
		t.IssuedAt.Unix(), t.ExpiresAt.Unix(), req.IssuedBy)
	if err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	err = audit.Record(ctx, tx, audit.Event{At: i.cfg.Now(), Actor: req.IssuedBy, Action: req.action,
		Subject: req.Subject, JTI: t.ID, KID: t.KeyID, Detail: req.detail})
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	return nil
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
	// Limit caps the number of records; zero means 1000.
	Limit int
}

// List returns the recorded tokens that match f, newest first.
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
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	return i.list(ctx, where, args, f.Limit)
}

func (i *Issuer) list(ctx context.Context, where string, args []any, limit int) ([]Record, error) {
	q := `SELECT jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by FROM tokens WHERE ` +
		where + ` ORDER BY issued_at DESC, rowid DESC LIMIT ?`
	args = append(args, limit)
	rows, err := i.cfg.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("issuer: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var format, scopes, aud string
		var iat, exp int64
		if err := rows.Scan(&r.ID, &format, &r.KeyID, &r.Subject, &r.Name, &scopes, &aud, &iat, &exp, &r.IssuedBy); err != nil {
			return nil, fmt.Errorf("issuer: list tokens: %w", err)
		}
		r.Format = keys.Format(format)
		r.Scopes = append([]string{}, strings.Fields(scopes)...) // [] rather than null in JSON
		r.Audience = strings.Fields(aud)
		r.IssuedAt = time.Unix(iat, 0).UTC()
		r.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
