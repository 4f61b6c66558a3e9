package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/writ-dev/writ/internal/store"
)

const insertToken = `INSERT INTO tokens (` + store.TokenColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// TokenInsertMany sends the inserts of the tokens and events in one batch:
// one round trip to the server for the issuer's group commit.
func (e *executor) TokenInsertMany(ctx context.Context, tokens []store.TokenRow, events []store.AuditRow) error {
	if len(tokens)+len(events) == 0 {
		return nil
	}
	return e.inTx(ctx, func(e *executor) error {
		b := &pgx.Batch{}
		for _, t := range tokens {
			b.Queue(insertToken, t.Values()...)
		}
		for _, ev := range events {
			b.Queue(insertEvent, eventValues(ev)...)
		}
		return e.batch(ctx, b)
	})
}

func (e *executor) TokenGet(ctx context.Context, jti string) (store.TokenRow, error) {
	var t store.TokenRow
	err := e.q.QueryRow(ctx, `SELECT `+store.TokenColumns+` FROM tokens WHERE jti = $1`, jti).Scan(t.Fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.TokenRow{}, fmt.Errorf("token %q: %w", jti, store.ErrNotFound)
	}
	return t, err
}

func (e *executor) TokenGetMany(ctx context.Context, jtis []string) ([]store.TokenRow, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	var out []store.TokenRow
	err := e.scanRows(ctx, `SELECT `+store.TokenColumns+` FROM tokens WHERE jti = ANY($1)`, jtis, func(rows store.Row) error {
		var t store.TokenRow
		err := rows.Scan(t.Fields()...)
		out = append(out, t)
		return err
	})
	return out, err
}

// statusColumn computes a token's status at the time bound to $1, as
// RevocationCovers does for one token.
const statusColumn = `CASE
	WHEN t.revoked_at <> 0 AND t.revoked_at <= $1 THEN 'revoked'
	WHEN EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'token' AND r.value = t.jti AND r.effective_at <= $1)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'subject' AND r.value = t.subject AND r.issued_before > t.issued_at)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'key' AND r.value = t.kid) THEN 'revoked'
	WHEN t.expires_at <= $1 THEN 'expired'
	ELSE 'active' END`

// tokenSelect returns the statement that selects the tokens of f, with
// their status and row, and its arguments; the caller orders and limits.
func tokenSelect(f store.TokenFilter) (string, args) {
	a := args{f.At}
	where := `true`
	for _, c := range []struct{ column, value string }{{"jti", f.JTI}, {"subject", f.Subject}, {"name", f.Name}, {"parent", f.Parent}, {"status", f.Status}} {
		if c.value != "" {
			where += ` AND ` + c.column + ` = ` + a.add(c.value)
		}
	}
	if f.Search != "" {
		// Under the C collation lower() folds ASCII letters only, as
		// SQLite's does, whatever the database's locale.
		search := `lower(` + a.add(f.Search) + ` COLLATE "C")`
		where += ` AND (strpos(lower(name COLLATE "C"), ` + search + `) > 0 OR strpos(lower(subject COLLATE "C"), ` + search + `) > 0)`
	}
	if f.ExpiresBy != 0 {
		// $1 is At: the expired tokens, which only ever grow in number,
		// are left out by the index rather than by the status.
		where += ` AND expires_at > $1 AND expires_at <= ` + a.add(f.ExpiresBy)
	}
	if f.NeverUsed {
		where += ` AND last_use = 0`
	}
	switch b := f.Before; {
	case f.ByLastUse && b.Row != 0:
		at := a.add(b.LastUse)
		where += ` AND (last_use < ` + at + ` OR (last_use = ` + at + ` AND row_id < ` + a.add(b.Row) + `))`
	case !f.ByLastUse && b.IssuedAt != 0:
		at := a.add(b.IssuedAt)
		where += ` AND (issued_at < ` + at + ` OR (issued_at = ` + at + ` AND row_id < ` + a.add(b.Row) + `))`
	}
	return `SELECT status, row_id, last_use, ` + store.TokenColumns + ` FROM
		(SELECT t.*, ` + statusColumn + ` AS status,
			coalesce((SELECT u.last_use FROM usage_tokens u WHERE u.jti = t.jti), 0) AS last_use FROM tokens t) AS t
		WHERE ` + where, a
}

// tokenOrder is the order of TokenList for f.
func tokenOrder(f store.TokenFilter) string {
	if f.ByLastUse {
		return ` ORDER BY last_use DESC, row_id DESC`
	}
	return ` ORDER BY issued_at DESC, row_id DESC`
}

// TokenList computes the status in the query, so that the limit counts
// the tokens that match it.
func (e *executor) TokenList(ctx context.Context, f store.TokenFilter) ([]store.TokenRow, error) {
	q, a := tokenSelect(f)
	q += tokenOrder(f) + ` LIMIT ` + a.add(f.Limit)
	rows, err := e.q.Query(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TokenRow
	for rows.Next() {
		var t store.TokenRow
		if err := rows.Scan(append([]any{&t.Status, &t.Row, &t.LastUse}, t.Fields()...)...); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (e *executor) TokenCount(ctx context.Context, f store.TokenFilter) (int64, error) {
	q, a := tokenSelect(f)
	var n int64
	err := e.q.QueryRow(ctx, `SELECT count(*) FROM (`+q+`) AS c`, a...).Scan(&n)
	return n, err
}

func (e *executor) TokenNamed(ctx context.Context, subject, name string, at int64, except string) (string, error) {
	var jti string
	err := e.q.QueryRow(ctx, `SELECT jti FROM tokens t WHERE subject = $1 AND name = $2 AND expires_at > $3 AND jti <> $4
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'token' AND r.value = t.jti)
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'subject' AND r.value = t.subject AND r.issued_before > t.issued_at)
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'key' AND r.value = t.kid)
		LIMIT 1`, subject, name, at, except).Scan(&jti)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return jti, err
}

func (e *executor) TokenSubjectKnown(ctx context.Context, subject string) (bool, error) {
	var known bool
	err := e.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE subject = $1)`, subject).Scan(&known)
	return known, err
}

func (e *executor) TokenLastExpiry(ctx context.Context, kid string) (int64, bool, error) {
	var exp pgtype.Int8
	err := e.q.QueryRow(ctx, `SELECT max(expires_at) FROM tokens WHERE kid = $1`, kid).Scan(&exp)
	return exp.Int64, exp.Valid, err
}

func (e *executor) TokenDescendants(ctx context.Context, jti string) ([]store.TokenRow, error) {
	if jti == "" {
		return nil, nil
	}
	return e.descendants(ctx, `SELECT jti FROM tokens WHERE parent = $1 AND parent <> ''`, ``, jti)
}

func (e *executor) TokenDescendantsOfKey(ctx context.Context, kid string) ([]store.TokenRow, error) {
	return e.descendants(ctx, `SELECT c.jti FROM tokens p JOIN tokens c ON c.parent = p.jti
		WHERE p.kid = $1 AND c.parent <> ''`, `AND kid <> $1`, kid)
}

func (e *executor) TokenDescendantsOfSubject(ctx context.Context, subject string, before int64) ([]store.TokenRow, error) {
	return e.descendants(ctx, `SELECT c.jti FROM tokens p JOIN tokens c ON c.parent = p.jti
		WHERE p.subject = $1 AND p.issued_at < $2 AND c.parent <> ''`, `AND NOT (subject = $1 AND issued_at < $2)`, subject, before)
}

// descendants returns the tokens whose jti the query seed selects, with
// the arguments args, and their descendants, as TokenDescendants does,
// those that the condition and (which may use args too) selects: it walks
// tokens.parent with a recursive query, where UNION, not UNION ALL, keeps
// a cycle from looping, and asking for a non-empty parent lets the engine
// use the partial index tokens_parent.
func (e *executor) descendants(ctx context.Context, seed, and string, args ...any) ([]store.TokenRow, error) {
	rows, err := e.q.Query(ctx, `WITH RECURSIVE d(jti) AS (
			`+seed+`
			UNION
			SELECT t.jti FROM tokens t JOIN d ON t.parent = d.jti WHERE t.parent <> '')
		SELECT `+store.TokenColumns+` FROM tokens WHERE jti IN (SELECT jti FROM d) `+and+` ORDER BY row_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TokenRow
	for rows.Next() {
		var t store.TokenRow
		if err := rows.Scan(t.Fields()...); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (e *executor) TokenEach(ctx context.Context, fn func(*store.TokenRow) error) error {
	rows, err := e.q.Query(ctx, `SELECT `+store.TokenColumns+` FROM tokens ORDER BY row_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var t store.TokenRow
	fields := t.Fields()
	for rows.Next() {
		if err := rows.Scan(fields...); err != nil {
			return err
		}
		if err := fn(&t); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (e *executor) TokenJTIEach(ctx context.Context, issuedBefore, expiresFrom int64, fn func([]byte) error) error {
	rows, err := e.q.Query(ctx, `SELECT jti FROM tokens WHERE expires_at >= $1 AND issued_at < $2`, expiresFrom, issuedBefore)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		// A text column's raw value is its UTF-8 bytes in either format.
		if err := fn(rows.RawValues()[0]); err != nil {
			return err
		}
	}
	return rows.Err()
}
