package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

const revocationColumns = `seq, kind, value, issued_before, effective_at, expires_at, reason, actor, created_at`

func (e *executor) RevocationInsert(ctx context.Context, r store.RevocationRow) (int64, error) {
	var seq int64
	err := e.inTx(ctx, func(e *executor) error {
		// seq is the rowid: LastInsertId is the new entry's.
		res, err := e.q.ExecContext(ctx, `INSERT INTO revocations (kind, value, issued_before, effective_at, expires_at, reason, actor, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Kind, r.Value, null(r.IssuedBefore), r.EffectiveAt, r.ExpiresAt, r.Reason, r.Actor, r.CreatedAt)
		if err != nil {
			return revocationConflict(err, r)
		}
		if seq, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = e.q.ExecContext(ctx, markRevoked, r.EffectiveAt, r.Kind, r.Value, null(r.IssuedBefore))
		return err
	})
	return seq, err
}

// markRevoked records on the rows of the tokens that r covers when r
// takes effect (TokenRow.RevokedAt), unless an earlier revocation did.
const markRevoked = `UPDATE tokens SET revoked_at = ?1
	WHERE (revoked_at = 0 OR revoked_at > ?1) AND CASE ?2
		WHEN 'token' THEN jti = ?3
		WHEN 'subject' THEN subject = ?3 AND issued_at < ?4
		WHEN 'key' THEN kid = ?3
		ELSE 0 END`

// revocationConflict turns the refusal of a second entry for a token or
// key into an error wrapping store.ErrConflict.
func revocationConflict(err error, r store.RevocationRow) error {
	if strings.Contains(err.Error(), "UNIQUE constraint failed: revocations.value") {
		return fmt.Errorf("%w: the %s %q is revoked already", store.ErrConflict, r.Kind, r.Value)
	}
	return err
}

// RevocationRestore inserts each entry with its number: SQLite records the
// largest as the last given out (sqlite_sequence).
func (e *executor) RevocationRestore(ctx context.Context, rows []store.RevocationRow) error {
	if len(rows) == 0 {
		return nil
	}
	return e.inTx(ctx, func(e *executor) error {
		last, _, err := e.RevocationHead(ctx)
		if err != nil {
			return err
		}
		insert, err := e.q.PrepareContext(ctx, `INSERT INTO revocations (`+revocationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insert.Close()
		for _, r := range rows {
			if r.Seq <= last {
				return fmt.Errorf("%w: entry %d is not above the last sequence number given out, %d", store.ErrConflict, r.Seq, last)
			}
			_, err := insert.ExecContext(ctx, r.Seq, r.Kind, r.Value, null(r.IssuedBefore), r.EffectiveAt, r.ExpiresAt, r.Reason, r.Actor, r.CreatedAt)
			if err != nil {
				return revocationConflict(err, r)
			}
			last = r.Seq
		}
		return nil
	})
}

func (e *executor) RevocationGet(ctx context.Context, kind, value string) (store.RevocationRow, error) {
	// One statement per kind: SQLite uses a partial index only for a
	// query that repeats its WHERE term.
	q := `SELECT ` + revocationColumns + ` FROM revocations WHERE kind = 'token' AND value = ?`
	switch kind {
	case store.RevokeToken:
	case store.RevokeKey:
		q = `SELECT ` + revocationColumns + ` FROM revocations WHERE kind = 'key' AND value = ?`
	default:
		return store.RevocationRow{}, fmt.Errorf("RevocationGet of a %s entry: only token and key entries are one per value", kind)
	}
	var r store.RevocationRow
	err := scanRevocation(e.q.QueryRowContext(ctx, q, value), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RevocationRow{}, fmt.Errorf("%s entry %q: %w", kind, value, store.ErrNotFound)
	}
	return r, err
}

func scanRevocation(row interface{ Scan(...any) error }, r *store.RevocationRow) error {
	var before sql.NullInt64
	err := row.Scan(&r.Seq, &r.Kind, &r.Value, &before, &r.EffectiveAt, &r.ExpiresAt, &r.Reason, &r.Actor, &r.CreatedAt)
	r.IssuedBefore = unix(before)
	return err
}

func (e *executor) RevocationDelete(ctx context.Context, seq int64) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM revocations WHERE seq = ?`, seq)
	return err
}

func (e *executor) RevocationEach(ctx context.Context, f store.RevocationFilter, fn func(*store.RevocationRow) error) error {
	where := []string{"1 = 1"}
	var args []any
	if len(f.Kinds) > 0 {
		where = append(where, "kind IN ("+placeholders(len(f.Kinds))+")")
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	if f.Value != "" {
		where, args = append(where, "value = ?"), append(args, f.Value)
	}
	if f.After != 0 {
		where, args = append(where, "seq > ?"), append(args, f.After)
	}
	if f.ExpiresFrom.Valid {
		where, args = append(where, "expires_at >= ?"), append(args, f.ExpiresFrom.Sec)
	}
	if f.Before != 0 {
		where, args = append(where, "seq < ?"), append(args, f.Before)
	}
	order := ` ORDER BY seq`
	if f.Newest != 0 {
		order = ` ORDER BY seq DESC LIMIT ?`
		args = append(args, f.Newest)
	}
	rows, err := e.q.QueryContext(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE `+strings.Join(where, " AND ")+order, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r store.RevocationRow
	for rows.Next() {
		if err := scanRevocation(rows, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (e *executor) RevocationHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var epoch []byte
	err := e.q.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0),
		(SELECT value FROM meta WHERE name = '`+store.MetaRevocationEpoch+`')`).Scan(&seq, &epoch)
	return seq, epoch, err
}

func (e *executor) RevocationCovers(ctx context.Context, at int64, jti, subject, kid string, issuedAt int64) (bool, error) {
	var n int
	err := e.q.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'token' AND value = ?2 AND effective_at <= ?1) +
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'subject' AND value = ?3 AND issued_before > ?5) +
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'key' AND value = ?4)`,
		at, jti, subject, kid, issuedAt).Scan(&n)
	return n > 0, err
}

func (e *executor) RevocationPrune(ctx context.Context, cutoff int64) (tokens, others int64, err error) {
	err = e.inTx(ctx, func(e *executor) error {
		deleted := func(kinds string) (int64, error) {
			res, err := e.q.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at < ? AND `+kinds, cutoff)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		}
		var err error
		if tokens, err = deleted(`kind = 'token'`); err != nil {
			return err
		}
		others, err = deleted(`kind != 'token'`)
		return err
	})
	return tokens, others, err
}

func (e *executor) PackedAppend(ctx context.Context, record []byte, chunkSize int) error {
	return e.inTx(ctx, func(e *executor) error {
		var chunk int64
		var data []byte
		err := e.q.QueryRowContext(ctx, `SELECT chunk, data FROM revoked_tokens_packed ORDER BY chunk DESC LIMIT 1`).Scan(&chunk, &data)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && len(data) >= chunkSize:
			_, err = e.q.ExecContext(ctx, `INSERT INTO revoked_tokens_packed (chunk, data) VALUES (?, ?)`, chunk+1, record)
		case err == nil:
			_, err = e.q.ExecContext(ctx, `UPDATE revoked_tokens_packed SET data = ? WHERE chunk = ?`, append(data, record...), chunk)
		}
		return err
	})
}

func (e *executor) PackedReplace(ctx context.Context, chunks [][]byte) error {
	return e.inTx(ctx, func(e *executor) error {
		if _, err := e.q.ExecContext(ctx, `DELETE FROM revoked_tokens_packed`); err != nil {
			return err
		}
		for i, c := range chunks {
			if _, err := e.q.ExecContext(ctx, `INSERT INTO revoked_tokens_packed (chunk, data) VALUES (?, ?)`, i+1, c); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *executor) PackedSize(ctx context.Context) (int64, error) {
	var n int64
	err := e.q.QueryRowContext(ctx, `SELECT coalesce(sum(length(data)), 0) FROM revoked_tokens_packed`).Scan(&n)
	return n, err
}

// PackedEach hands fn the bytes of each chunk as the driver holds them
// (sql.RawBytes), without copying them.
func (e *executor) PackedEach(ctx context.Context, fn func([]byte) error) error {
	rows, err := e.q.QueryContext(ctx, `SELECT data FROM revoked_tokens_packed ORDER BY chunk`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		if err := fn(data); err != nil {
			return err
		}
	}
	return rows.Err()
}
