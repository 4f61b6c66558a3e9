package revocation

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/b64"
)

// TokenID is the 16-byte form of a jti that revocation data carries: the
// 128 random bits of writ's own jtis (22 base64url characters), or the first
// 16 bytes of the SHA-256 of any other jti.
type TokenID [16]byte

// TokenIDOf returns the TokenID of jti. It does not allocate.
func TokenIDOf(jti string) TokenID {
	if len(jti) == 22 {
		var id TokenID
		if n, err := b64.DecodeInto(id[:], jti); err == nil && n == 16 {
			return id
		}
	}
	h := sha256.Sum256([]byte(jti))
	return TokenID(h[:16])
}

// RevokedToken is a revoked jti. Times are unix seconds.
type RevokedToken struct {
	ID TokenID
	// EffectiveAt is the revocation's time, or later after a grace period,
	// which ends by ExpiresAt. Both times are held in 32 bits: one after
	// 2106-02-07 reads as that time (see effective32 and time32).
	EffectiveAt int64
	ExpiresAt   int64 // the token's own expiry
}

// SubjectCutoff revokes every token of Subject issued before IssuedBefore.
type SubjectCutoff struct {
	Subject      string
	IssuedBefore int64
	ExpiresAt    int64
}

// RevokedKey revokes every token signed by the key KID.
type RevokedKey struct {
	KID       string
	ExpiresAt int64
}

// Batch is a set of changes to the revocation list: everything in force
// when read from sequence 0, or the changes after a sequence number.
type Batch struct {
	Seq int64 // the sequence number the batch brings its reader to
	// Epoch names the list's history: sequence numbers of two epochs are
	// unrelated (a database restored from a backup), so a reader that sees
	// a new epoch reads the whole list again.
	Epoch string
	// AsOf is when the batch was current, for a feed that can be replayed
	// (the time the server signed it); zero means when it was read.
	AsOf     time.Time
	Tokens   []RevokedToken
	Subjects []SubjectCutoff
	Keys     []RevokedKey
}

// ErrAhead is returned by Changes for a sequence number beyond the list's:
// the list is not the one the reader followed (a database restored from a
// backup). The reader reads the whole list again.
var ErrAhead = errors.New("revocation: the reader is ahead of the list")

// Feed supplies revocation changes by sequence number. *List is the Feed of
// a local database; the server's signed revocation feed is another.
type Feed interface {
	// Changes returns the unexpired changes with a sequence number above
	// since, or an error wrapping ErrAhead if since is beyond the list's
	// sequence. An error leaves the reader's state as it was.
	Changes(ctx context.Context, since int64) (*Batch, error)
}

var _ Feed = (*List)(nil)

// Changes implements Feed. Reading from sequence 0 takes the token entries
// from the packed table, so that a million of them load in a fraction of a
// second; later reads take the few rows above since.
func (l *List) Changes(ctx context.Context, since int64) (*Batch, error) {
	// A read-only transaction is a consistent snapshot that does not block
	// writers (WAL).
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer tx.Rollback()
	b := &Batch{}
	var epoch []byte
	err = tx.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0),
		(SELECT value FROM meta WHERE name = 'revocation_epoch')`).Scan(&b.Seq, &epoch)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	b.Epoch = hex.EncodeToString(epoch)
	switch {
	case since > b.Seq:
		return nil, fmt.Errorf("%w: asked for changes after %d, the list is at %d", ErrAhead, since, b.Seq)
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
			b.Tokens = append(b.Tokens, RevokedToken{ID: TokenIDOf(value), EffectiveAt: int64(effective32(eff)), ExpiresAt: int64(time32(exp))})
		case Subject:
			b.Subjects = append(b.Subjects, SubjectCutoff{Subject: value, IssuedBefore: before, ExpiresAt: exp})
		case Key:
			b.Keys = append(b.Keys, RevokedKey{KID: value, ExpiresAt: exp})
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
// effective32 and time32 hold them.
func appendRecord(dst []byte, t RevokedToken) []byte {
	dst = append(dst, t.ID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, effective32(t.EffectiveAt))
	return binary.BigEndian.AppendUint32(dst, time32(t.ExpiresAt))
}

func readPacked(ctx context.Context, tx *sql.Tx, horizon int64) ([]RevokedToken, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(length(data)), 0) FROM revoked_tokens_packed`).Scan(&n); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	out := make([]RevokedToken, 0, n/packedSize)
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
			t := RevokedToken{
				ID:          TokenID(p[:16]),
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
func appendPacked(ctx context.Context, tx *sql.Tx, t RevokedToken) error {
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
		cur = appendRecord(cur, RevokedToken{ID: TokenIDOf(value), EffectiveAt: eff, ExpiresAt: exp})
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
