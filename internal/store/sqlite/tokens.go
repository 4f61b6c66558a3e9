package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

const insertToken = `INSERT INTO tokens (` + store.TokenColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// TokenInsertMany prepares the insert of a token and of an audit event
// once for all the rows: parsing the statements for each token was a tenth
// of the issuer's CPU.
func (e *executor) TokenInsertMany(ctx context.Context, tokens []store.TokenRow, events []store.AuditRow) error {
	return e.inTx(ctx, func(e *executor) error {
		if len(tokens) > 0 {
			insert, err := e.q.PrepareContext(ctx, insertToken)
			if err != nil {
				return err
			}
			defer insert.Close()
			for _, t := range tokens {
				_, err := insert.ExecContext(ctx, t.Values()...)
				if err != nil {
					return err
				}
			}
		}
		if len(events) > 0 {
			insert, err := e.q.PrepareContext(ctx, insertEvent)
			if err != nil {
				return err
			}
			defer insert.Close()
			for _, ev := range events {
				if _, err := insert.ExecContext(ctx, eventValues(ev)...); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (e *executor) TokenGet(ctx context.Context, jti string) (store.TokenRow, error) {
	var t store.TokenRow
	err := e.q.QueryRowContext(ctx, `SELECT `+store.TokenColumns+` FROM tokens WHERE jti = ?`, jti).Scan(t.Fields()...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TokenRow{}, fmt.Errorf("token %q: %w", jti, store.ErrNotFound)
	}
	return t, err
}

func (e *executor) TokenGetMany(ctx context.Context, jtis []string) ([]store.TokenRow, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(jtis)
	if err != nil {
		return nil, err
	}
	var out []store.TokenRow
	err = e.scanRows(ctx, `SELECT `+store.TokenColumns+` FROM tokens WHERE `+inList, string(list), func(rows store.Row) error {
		var t store.TokenRow
		err := rows.Scan(t.Fields()...)
		out = append(out, t)
		return err
	})
	return out, err
}

// statusColumn computes a token's status at the time bound to ?1 (the
// first argument: the later plain ? are numbered from 2), as
// RevocationCovers does for one token.
const statusColumn = `CASE
	WHEN t.revoked_at != 0 AND t.revoked_at <= ?1 THEN 'revoked'
	WHEN EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'token' AND r.value = t.jti AND r.effective_at <= ?1)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'subject' AND r.value = t.subject AND r.issued_before > t.issued_at)
	  OR EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'key' AND r.value = t.kid) THEN 'revoked'
	WHEN t.expires_at <= ?1 THEN 'expired'
	ELSE 'active' END`

// likeEscaper escapes LIKE's wildcards, and its escape character, in a
// search.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// tokenSelect returns the statement that selects the tokens of f, with
// their status and row, and its arguments; the caller orders and limits.
func tokenSelect(f store.TokenFilter) (string, []any) {
	where := `1 = 1`
	args := []any{f.At}
	for _, c := range []struct{ column, value string }{{"jti", f.JTI}, {"subject", f.Subject}, {"name", f.Name}, {"parent", f.Parent}, {"status", f.Status}} {
		if c.value != "" {
			where += ` AND ` + c.column + ` = ?`
			args = append(args, c.value)
		}
	}
	if f.Search != "" {
		// LIKE folds ASCII letters only, as PostgreSQL's lower() under
		// the C collation does; the search's own wildcards are escaped.
		where += ` AND (name LIKE ? ESCAPE '\' OR subject LIKE ? ESCAPE '\')`
		pattern := "%" + likeEscaper.Replace(f.Search) + "%"
		args = append(args, pattern, pattern)
	}
	if f.ExpiresBy != 0 {
		// ?1 is At: the expired tokens, which only ever grow in number,
		// are left out by the index rather than by the status.
		where += ` AND expires_at > ?1 AND expires_at <= ?`
		args = append(args, f.ExpiresBy)
	}
	if f.NeverUsed {
		where += ` AND last_use = 0`
	}
	switch b := f.Before; {
	case f.ByLastUse && b.Row != 0:
		where += ` AND (last_use < ? OR (last_use = ? AND row < ?))`
		args = append(args, b.LastUse, b.LastUse, b.Row)
	case !f.ByLastUse && b.IssuedAt != 0:
		where += ` AND (issued_at < ? OR (issued_at = ? AND row < ?))`
		args = append(args, b.IssuedAt, b.IssuedAt, b.Row)
	}
	return `SELECT status, row, last_use, ` + store.TokenColumns + ` FROM
		(SELECT t.*, t.rowid AS row, ` + statusColumn + ` AS status,
			coalesce((SELECT u.last_use FROM usage_tokens u WHERE u.jti = t.jti), 0) AS last_use FROM tokens t)
		WHERE ` + where, args
}

// tokenOrder is the order of TokenList for f.
func tokenOrder(f store.TokenFilter) string {
	if f.ByLastUse {
		return ` ORDER BY last_use DESC, row DESC`
	}
	return ` ORDER BY issued_at DESC, row DESC`
}

// TokenList computes the status in the query, so that the limit counts
// the tokens that match it.
func (e *executor) TokenList(ctx context.Context, f store.TokenFilter) ([]store.TokenRow, error) {
	q, args := tokenSelect(f)
	q += tokenOrder(f) + ` LIMIT ?`
	rows, err := e.q.QueryContext(ctx, q, append(args, f.Limit)...)
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
	q, args := tokenSelect(f)
	var n int64
	err := e.q.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, args...).Scan(&n)
	return n, err
}

func (e *executor) TokenNamed(ctx context.Context, subject, name string, at int64, except string) (string, error) {
	var jti string
	err := e.q.QueryRowContext(ctx, `SELECT jti FROM tokens t WHERE subject = ? AND name = ? AND expires_at > ? AND jti != ?
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'token' AND r.value = t.jti)
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'subject' AND r.value = t.subject AND r.issued_before > t.issued_at)
		AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'key' AND r.value = t.kid)
		LIMIT 1`, subject, name, at, except).Scan(&jti)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return jti, err
}

func (e *executor) TokenSubjectKnown(ctx context.Context, subject string) (bool, error) {
	var n int
	err := e.q.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE subject = ?`, subject).Scan(&n)
	return n > 0, err
}

func (e *executor) TokenLastExpiry(ctx context.Context, kid string) (int64, bool, error) {
	var exp sql.NullInt64
	err := e.q.QueryRowContext(ctx, `SELECT max(expires_at) FROM tokens WHERE kid = ?`, kid).Scan(&exp)
	return exp.Int64, exp.Valid, err
}

func (e *executor) TokenDescendants(ctx context.Context, jti string) ([]store.TokenRow, error) {
	if jti == "" {
		return nil, nil
	}
	return e.descendants(ctx, `SELECT jti FROM tokens WHERE parent = ?1 AND parent != ''`, ``, jti)
}

func (e *executor) TokenDescendantsOfKey(ctx context.Context, kid string) ([]store.TokenRow, error) {
	return e.descendants(ctx, `SELECT c.jti FROM tokens p JOIN tokens c ON c.parent = p.jti
		WHERE p.kid = ?1 AND c.parent != ''`, `AND kid != ?1`, kid)
}

func (e *executor) TokenDescendantsOfSubject(ctx context.Context, subject string, before int64) ([]store.TokenRow, error) {
	return e.descendants(ctx, `SELECT c.jti FROM tokens p JOIN tokens c ON c.parent = p.jti
		WHERE p.subject = ?1 AND p.issued_at < ?2 AND c.parent != ''`, `AND NOT (subject = ?1 AND issued_at < ?2)`, subject, before)
}

// descendants returns the tokens whose jti the query seed selects, with
// the arguments args, and their descendants, as TokenDescendants does,
// those that the condition and (which may use args too) selects: it walks
// tokens.parent with a recursive query, where UNION, not UNION ALL, keeps
// a cycle from looping, and asking for a non-empty parent lets the engine
// use the partial index tokens_parent.
func (e *executor) descendants(ctx context.Context, seed, and string, args ...any) ([]store.TokenRow, error) {
	rows, err := e.q.QueryContext(ctx, `WITH RECURSIVE d(jti) AS (
			`+seed+`
			UNION
			SELECT t.jti FROM tokens t JOIN d ON t.parent = d.jti WHERE t.parent != '')
		SELECT `+store.TokenColumns+` FROM tokens WHERE jti IN (SELECT jti FROM d) `+and+` ORDER BY rowid`, args...)
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
	rows, err := e.q.QueryContext(ctx, `SELECT `+store.TokenColumns+` FROM tokens ORDER BY rowid`)
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
	rows, err := e.q.QueryContext(ctx, `SELECT jti FROM tokens WHERE expires_at >= ? AND issued_at < ?`, expiresFrom, issuedBefore)
	if err != nil {
		return err
	}
	defer rows.Close()
	var jti sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&jti); err != nil {
			return err
		}
		if err := fn(jti); err != nil {
			return err
		}
	}
	return rows.Err()
}
