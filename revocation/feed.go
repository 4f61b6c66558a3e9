package revocation

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier/revoked"
)

var _ revoked.Feed = (*List)(nil)

// Changes implements revoked.Feed, for a revoked.Snapshot. Reading from
// sequence 0 takes the token entries from the packed table, so that a
// million of them load in a fraction of a second; later reads take the few
// rows above since.
func (l *List) Changes(ctx context.Context, since int64) (*revoked.Batch, error) {
	// A read-only transaction is a consistent snapshot that does not block
	// writers (WAL).
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer tx.Rollback()
	b := &revoked.Batch{}
	var epoch []byte
	err = tx.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0),
		(SELECT value FROM meta WHERE name = 'revocation_epoch')`).Scan(&b.Seq, &epoch)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	b.Epoch = hex.EncodeToString(epoch)
	switch {
	case since > b.Seq:
		return nil, fmt.Errorf("%w: asked for changes after %d, the list is at %d", revoked.ErrAhead, since, b.Seq)
	case since == b.Seq:
		return b, nil
	}
	horizon := l.now().Add(-l.leeway).Unix()
	kinds := `kind != 'token'`
	if since > 0 {
		kinds = `1 = 1`
	} else if b.Tokens, err = readPacked(ctx, tx, horizon); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, value, coalesce(issued_before, 0), effective_at, expires_at
		FROM revocations WHERE seq > ? AND expires_at >= ? AND `+kinds+` ORDER BY seq`, since, horizon)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, value string
		var before, eff, exp int64
		if err := rows.Scan(&kind, &value, &before, &eff, &exp); err != nil {
			return nil, fmt.Errorf("revocation: %w", err)
		}
		switch Kind(kind) {
		case Token:
			b.Tokens = append(b.Tokens, revoked.RevokedToken{ID: revoked.TokenIDOf(value), EffectiveAt: int64(feed.Effective32(eff)), ExpiresAt: int64(feed.Time32(exp))})
		case Subject:
			b.Subjects = append(b.Subjects, revoked.SubjectCutoff{Subject: value, IssuedBefore: before, ExpiresAt: exp})
		case Key:
			b.Keys = append(b.Keys, revoked.RevokedKey{KID: value, ExpiresAt: exp})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return b, nil
}

const (
	packedSize  = 24
	packedChunk = 1024 // entries per row
)

// appendRecord appends t as a packed record: the token id, then its
// effective time and expiry as 32-bit big-endian unix seconds, held as
// feed.Effective32 and feed.Time32 hold them.
func appendRecord(dst []byte, t revoked.RevokedToken) []byte {
	dst = append(dst, t.ID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, feed.Effective32(t.EffectiveAt))
	return binary.BigEndian.AppendUint32(dst, feed.Time32(t.ExpiresAt))
}

func readPacked(ctx context.Context, tx *sql.Tx, horizon int64) ([]revoked.RevokedToken, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(length(data)), 0) FROM revoked_tokens_packed`).Scan(&n); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	out := make([]revoked.RevokedToken, 0, n/packedSize)
	rows, err := tx.QueryContext(ctx, `SELECT data FROM revoked_tokens_packed ORDER BY chunk`)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("revocation: %w", err)
		}
		if len(data)%packedSize != 0 {
			return nil, errors.New("revocation: corrupt packed token chunk")
		}
		for p := data; len(p) > 0; p = p[packedSize:] {
			t := revoked.RevokedToken{
				ID:          revoked.TokenID(p[:16]),
				EffectiveAt: int64(binary.BigEndian.Uint32(p[16:])),
				ExpiresAt:   int64(binary.BigEndian.Uint32(p[20:])),
			}
			if t.ExpiresAt >= horizon {
				out = append(out, t)
			}
		}
	}
	return out, rows.Err()
}

// appendPacked adds a token entry to the last packed chunk, or starts one.
func appendPacked(ctx context.Context, tx *sql.Tx, t revoked.RevokedToken) error {
	rec := appendRecord(make([]byte, 0, packedSize), t)
	var chunk int64
	var data []byte
	err := tx.QueryRowContext(ctx, `SELECT chunk, data FROM revoked_tokens_packed ORDER BY chunk DESC LIMIT 1`).Scan(&chunk, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && len(data) >= packedChunk*packedSize:
		_, err = tx.ExecContext(ctx, `INSERT INTO revoked_tokens_packed (chunk, data) VALUES (?, ?)`, chunk+1, rec)
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE revoked_tokens_packed SET data = ? WHERE chunk = ?`, append(data, rec...), chunk)
	}
	return err
}

// repack rewrites the packed table from the token entries of revocations.
func repack(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens_packed`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT value, effective_at, expires_at FROM revocations WHERE kind = 'token' ORDER BY seq`)
	if err != nil {
		return err
	}
	var chunks [][]byte
	var cur []byte
	for rows.Next() {
		var value string
		var eff, exp int64
		if err := rows.Scan(&value, &eff, &exp); err != nil {
			rows.Close()
			return err
		}
		cur = appendRecord(cur, revoked.RevokedToken{ID: revoked.TokenIDOf(value), EffectiveAt: eff, ExpiresAt: exp})
		if len(cur) == packedChunk*packedSize {
			chunks, cur = append(chunks, cur), nil
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	for i, c := range chunks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens_packed (chunk, data) VALUES (?, ?)`, i+1, c); err != nil {
			return err
		}
	}
	return nil
}
