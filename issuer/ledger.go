package issuer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/keys"
)

// Record is what writ remembers of an issued token: everything but the
// token itself.
type Record struct {
	ID        string // jti
	Format    keys.Format
	KeyID     string
	Subject   string
	Name      string
	Scopes    []string
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	IssuedBy  string
}

// Expired reports whether the token had expired at now.
func (r *Record) Expired(now time.Time) bool { return !now.Before(r.ExpiresAt) }

func (i *Issuer) record(ctx context.Context, req Request, t *Token) error {
	_, err := i.cfg.DB.ExecContext(ctx, `INSERT INTO tokens
		(jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, string(t.Format), t.KeyID, req.Subject, req.Name,
		strings.Join(req.Scopes, " "), strings.Join(req.Audience, " "),
		t.IssuedAt.Unix(), t.ExpiresAt.Unix(), req.IssuedBy)
	if err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	return nil
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
	q := `SELECT jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by FROM tokens WHERE 1 = 1`
	var args []any
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Name != "" {
		q += ` AND name = ?`
		args = append(args, f.Name)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q += ` ORDER BY issued_at DESC, rowid DESC LIMIT ?`
	args = append(args, f.Limit)
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
		r.Scopes = strings.Fields(scopes)
		r.Audience = strings.Fields(aud)
		r.IssuedAt = time.Unix(iat, 0).UTC()
		r.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
