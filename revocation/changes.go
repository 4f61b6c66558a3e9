package revocation

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier/revoked"
)

// Changes implements revoked.Feed. Reading from sequence 0 takes the token entries
// from their packed copy, so that a million of them load in a fraction of a
// second; later reads take the few entries above since.
func (l *List) Changes(ctx context.Context, since int64) (*feed.Batch, error) {
	// A read-only transaction is a consistent snapshot that does not block
	// writers.
	tx, err := l.store.BeginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer tx.Rollback()
	return l.read(ctx, tx, since)
}

// read returns the changes after since, read in tx.
func (l *List) read(ctx context.Context, tx store.Tx, since int64) (*feed.Batch, error) {
	b := &feed.Batch{}
	seq, epoch, err := tx.RevocationHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	b.Seq, b.Epoch = seq, hex.EncodeToString(epoch)
	switch {
	case since > b.Seq:
		return nil, fmt.Errorf("%w: asked for changes after %d, the list is at %d", revoked.ErrAhead, since, b.Seq)
	case since == b.Seq:
		return b, nil
	}
	horizon := l.now().Add(-l.keepExpired).Unix()
	f := store.RevocationFilter{After: since, ExpiresFrom: store.At(horizon)}
	if since == 0 {
		f.Kinds = []string{string(Subject), string(Key)}
		if b.Tokens, err = readPacked(ctx, tx, horizon); err != nil {
			return nil, err
		}
	}
	err = tx.RevocationEach(ctx, f, func(r *store.RevocationRow) error {
		switch Kind(r.Kind) {
		case Token:
			b.Tokens = append(b.Tokens, feed.RevokedToken{ID: feed.TokenIDOf(r.Value), EffectiveAt: int64(feed.Effective32(r.EffectiveAt)), ExpiresAt: int64(feed.Time32(r.ExpiresAt))})
		case Subject:
			b.Subjects = append(b.Subjects, feed.SubjectCutoff{Subject: r.Value, IssuedBefore: r.IssuedBefore.Sec, ExpiresAt: r.ExpiresAt})
		case Key:
			b.Keys = append(b.Keys, feed.RevokedKey{KID: r.Value, ExpiresAt: r.ExpiresAt})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return b, nil
}

// The packed copy of the token entries: records of packedSize bytes (16 of
// token id, then the effective time and the expiry as 32-bit big-endian unix
// seconds, held as feed.Effective32 and feed.Time32 hold them), packedChunk records
// to a chunk of storage.
const (
	packedSize  = 24
	packedChunk = 1024 // records per chunk
)

// appendRecord appends t as a packed record.
func appendRecord(dst []byte, t feed.RevokedToken) []byte {
	dst = append(dst, t.ID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, feed.Effective32(t.EffectiveAt))
	return binary.BigEndian.AppendUint32(dst, feed.Time32(t.ExpiresAt))
}

// readPacked returns the packed token entries that expire at or after
// horizon.
func readPacked(ctx context.Context, tx store.Tx, horizon int64) ([]feed.RevokedToken, error) {
	n, err := tx.PackedSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	out := make([]feed.RevokedToken, 0, n/packedSize)
	err = tx.PackedEach(ctx, func(data []byte) error {
		if len(data)%packedSize != 0 {
			return errCorruptChunk
		}
		for p := data; len(p) > 0; p = p[packedSize:] {
			t := feed.RevokedToken{
				ID:          feed.TokenID(p[:16]),
				EffectiveAt: int64(binary.BigEndian.Uint32(p[16:])),
				ExpiresAt:   int64(binary.BigEndian.Uint32(p[20:])),
			}
			if t.ExpiresAt >= horizon {
				out = append(out, t)
			}
		}
		return nil
	})
	if errors.Is(err, errCorruptChunk) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	return out, nil
}

var errCorruptChunk = errors.New("revocation: corrupt packed token chunk")

// repack makes the packed copy again from the token entries.
func repack(ctx context.Context, tx store.Tx) error {
	var chunks [][]byte
	var cur []byte
	err := tx.RevocationEach(ctx, store.RevocationFilter{Kinds: []string{string(Token)}}, func(r *store.RevocationRow) error {
		cur = appendRecord(cur, feed.RevokedToken{ID: feed.TokenIDOf(r.Value), EffectiveAt: r.EffectiveAt, ExpiresAt: r.ExpiresAt})
		if len(cur) == packedChunk*packedSize {
			chunks, cur = append(chunks, cur), nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return tx.PackedReplace(ctx, chunks)
}
