package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/writ-dev/writ/internal/store"
)

const revocationColumns = `seq, kind, value, issued_before, effective_at, expires_at, reason, actor, created_at`

// RevocationInsert takes the next number from revocation_head, within the
// write lock, and inserts with ON CONFLICT DO NOTHING, so that a second
// entry for a token or key leaves the transaction usable.
func (e *executor) RevocationInsert(ctx context.Context, r store.RevocationRow) (int64, error) {
	var seq int64
	err := e.inTx(ctx, func(e *executor) error {
		err := e.writeRow(ctx, `INSERT INTO revocations (`+revocationColumns+`)
			SELECT seq + 1, $1, $2, $3, $4, $5, $6, $7, $8 FROM revocation_head
			ON CONFLICT DO NOTHING RETURNING seq`,
			r.Kind, r.Value, null(r.IssuedBefore), r.EffectiveAt, r.ExpiresAt, r.Reason, r.Actor, r.CreatedAt).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: the %s %q is revoked already", store.ErrConflict, r.Kind, r.Value)
		}
		if err != nil {
			return err
		}
		if _, err := e.q.Exec(ctx, `UPDATE revocation_head SET seq = $1`, seq); err != nil {
			return err
		}
		if _, err := e.q.Exec(ctx, markRevoked, r.EffectiveAt, r.Kind, r.Value, null(r.IssuedBefore)); err != nil {
			return err
		}
		e.changed(store.ChangedRevocations)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// RevocationRestore checks the numbers, then sends the inserts in one
// batch with ON CONFLICT DO NOTHING, so that a second entry for a token or
// key leaves the transaction usable, and counts what it inserted.
func (e *executor) RevocationRestore(ctx context.Context, rows []store.RevocationRow) error {
	if len(rows) == 0 {
		return nil
	}
	return e.inTx(ctx, func(e *executor) error {
		var last int64
		if err := e.q.QueryRow(ctx, `SELECT seq FROM revocation_head`).Scan(&last); err != nil {
			return err
		}
		first := rows[0].Seq
		b := &pgx.Batch{}
		for _, r := range rows {
			if r.Seq <= last {
				return fmt.Errorf("%w: entry %d is not above the last sequence number given out, %d", store.ErrConflict, r.Seq, last)
			}
			last = r.Seq
			b.Queue(`INSERT INTO revocations (`+revocationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
				r.Seq, r.Kind, r.Value, null(r.IssuedBefore), r.EffectiveAt, r.ExpiresAt, r.Reason, r.Actor, r.CreatedAt)
		}
		b.Queue(`UPDATE revocation_head SET seq = $1`, last)
		if err := e.batch(ctx, b); err != nil {
			return err
		}
		// No entry was numbered from first to last before: those there
		// now are the ones inserted.
		var n int
		if err := e.q.QueryRow(ctx, `SELECT count(*) FROM revocations WHERE seq BETWEEN $1 AND $2`, first, last).Scan(&n); err != nil {
			return err
		}
		if n != len(rows) {
			return fmt.Errorf("%w: %d of %d entries are for a token or key revoked already", store.ErrConflict, len(rows)-n, len(rows))
		}
		return nil
	})
}

func (e *executor) RevocationGet(ctx context.Context, kind, value string) (store.RevocationRow, error) {
	switch kind {
	case store.RevokeToken, store.RevokeKey:
	default:
		return store.RevocationRow{}, fmt.Errorf("RevocationGet of a %s entry: only token and key entries are one per value", kind)
	}
	var r store.RevocationRow
	err := scanRevocation(e.q.QueryRow(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE kind = $1 AND value = $2`, kind, value), &r)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RevocationRow{}, fmt.Errorf("%s entry %q: %w", kind, value, store.ErrNotFound)
	}
	return r, err
}

func scanRevocation(row pgx.Row, r *store.RevocationRow) error {
	var before pgtype.Int8
	err := row.Scan(&r.Seq, &r.Kind, &r.Value, &before, &r.EffectiveAt, &r.ExpiresAt, &r.Reason, &r.Actor, &r.CreatedAt)
	r.IssuedBefore = unix(before)
	return err
}

func (e *executor) RevocationDelete(ctx context.Context, seq int64) error {
	return e.exec(ctx, store.ChangedRevocations, `DELETE FROM revocations WHERE seq = $1`, seq)
}

func (e *executor) RevocationEach(ctx context.Context, f store.RevocationFilter, fn func(*store.RevocationRow) error) error {
	where := []string{"true"}
	var a args
	if len(f.Kinds) > 0 {
		where = append(where, "kind = ANY("+a.add(f.Kinds)+")")
	}
	if f.Value != "" {
		where = append(where, "value = "+a.add(f.Value))
	}
	if f.After != 0 {
		where = append(where, "seq > "+a.add(f.After))
	}
	if f.ExpiresFrom.Valid {
		where = append(where, "expires_at >= "+a.add(f.ExpiresFrom.Sec))
	}
	if f.Before != 0 {
		where = append(where, "seq < "+a.add(f.Before))
	}
	order := ` ORDER BY seq`
	if f.Newest != 0 {
		order = ` ORDER BY seq DESC LIMIT ` + a.add(f.Newest)
	}
	rows, err := e.q.Query(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE `+strings.Join(where, " AND ")+order, a...)
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
	err := e.q.QueryRow(ctx, `SELECT (SELECT seq FROM revocation_head),
		(SELECT value FROM meta WHERE name = '`+store.MetaRevocationEpoch+`')`).Scan(&seq, &epoch)
	return seq, epoch, err
}

func (e *executor) RevocationCovers(ctx context.Context, at int64, jti, subject, kid string, issuedAt int64) (bool, error) {
	var covered bool
	err := e.q.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'token' AND value = $2 AND effective_at <= $1) OR
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'subject' AND value = $3 AND issued_before > $5) OR
		EXISTS (SELECT 1 FROM revocations WHERE kind = 'key' AND value = $4)`,
		at, jti, subject, kid, issuedAt).Scan(&covered)
	return covered, err
}

func (e *executor) RevocationPrune(ctx context.Context, cutoff int64) (tokens, others int64, err error) {
	err = e.inTx(ctx, func(e *executor) error {
		deleted := func(kinds string) (int64, error) {
			tag, err := e.q.Exec(ctx, `DELETE FROM revocations WHERE expires_at < $1 AND `+kinds, cutoff)
			return tag.RowsAffected(), err
		}
		var err error
		if tokens, err = deleted(`kind = 'token'`); err != nil {
			return err
		}
		if others, err = deleted(`kind <> 'token'`); err != nil {
			return err
		}
		if tokens+others > 0 {
			e.changed(store.ChangedRevocations)
		}
		return nil
	})
	return tokens, others, err
}

func (e *executor) PackedAppend(ctx context.Context, record []byte, chunkSize int) error {
	return e.inTx(ctx, func(e *executor) error {
		var chunk int64
		var size int
		err := e.q.QueryRow(ctx, `SELECT chunk, length(data) FROM revoked_tokens_packed ORDER BY chunk DESC LIMIT 1`).Scan(&chunk, &size)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || err == nil && size >= chunkSize:
			_, err = e.q.Exec(ctx, `INSERT INTO revoked_tokens_packed (chunk, data) VALUES ($1, $2)`, chunk+1, record)
		case err == nil:
			_, err = e.q.Exec(ctx, `UPDATE revoked_tokens_packed SET data = data || $1 WHERE chunk = $2`, record, chunk)
		}
		return err
	})
}

func (e *executor) PackedReplace(ctx context.Context, chunks [][]byte) error {
	return e.inTx(ctx, func(e *executor) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM revoked_tokens_packed`)
		for i, c := range chunks {
			b.Queue(`INSERT INTO revoked_tokens_packed (chunk, data) VALUES ($1, $2)`, i+1, c)
		}
		return e.batch(ctx, b)
	})
}

func (e *executor) PackedSize(ctx context.Context) (int64, error) {
	var n int64
	err := e.q.QueryRow(ctx, `SELECT coalesce(sum(length(data)), 0) FROM revoked_tokens_packed`).Scan(&n)
	return n, err
}

// PackedEach hands fn the bytes of each chunk as pgx received them,
// without copying them.
func (e *executor) PackedEach(ctx context.Context, fn func([]byte) error) error {
	rows, err := e.q.Query(ctx, `SELECT data FROM revoked_tokens_packed ORDER BY chunk`)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Scanned into one buffer, reused: RawValues would hand out the text
	// form of the bytes under the simple protocol (PgBouncer's).
	var chunk []byte
	for rows.Next() {
		if err := rows.Scan(&chunk); err != nil {
			return err
		}
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return rows.Err()
}

// markRevoked records on the rows of the tokens that r covers when r
// takes effect (TokenRow.RevokedAt), unless an earlier revocation did.
const markRevoked = `UPDATE tokens SET revoked_at = $1
	WHERE (revoked_at = 0 OR revoked_at > $1) AND CASE $2::text
		WHEN 'token' THEN jti = $3
		WHEN 'subject' THEN subject = $3 AND issued_at < $4::bigint
		WHEN 'key' THEN kid = $3
		ELSE false END`
