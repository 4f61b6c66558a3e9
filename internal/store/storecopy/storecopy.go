// Package storecopy copies a whole writ database from one store to
// another over the storage contract, whatever their engines: SQLite to
// PostgreSQL and back, as writ db copy does.
//
// Every row is copied as it is: key rows with their sealed private halves,
// times and MACs, and the meta values that bind them to the master key (the
// check value and the key-set seal), so that the copy's keyring is the
// same master key's and nothing is unsealed; tokens in the order they were
// inserted; revocation entries with their sequence numbers, and the packed
// copy of the token entries byte for byte; audit events with their times,
// in order (their IDs are numbered anew). The copy gets a revocation
// epoch of its own, as a restored backup does: verifiers that followed the
// original read the whole list again. The web console's sessions and
// sign-in links are not copied: a copy signs everyone out of the console.
package storecopy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

var (
	// ErrNotEmpty: the destination holds rows already.
	ErrNotEmpty = errors.New("the destination database is not empty")
	// ErrSameDatabase: the destination is the source itself (it has the
	// source's revocation epoch).
	ErrSameDatabase = errors.New("the destination is the source database")
	// ErrMismatch: what the destination holds after the copy is not what
	// was read from the source.
	ErrMismatch = errors.New("the copy differs from the source")
)

// Counts are the rows of each kind that a copy read and wrote.
type Counts struct {
	// Meta counts the meta values, but the revocation epoch, which the
	// copy does not take.
	Meta int64
	Keys int64
	// Tokens counts the records of issued tokens.
	Tokens int64
	// Revocations counts the entries of the revocation list.
	Revocations int64
	// PackedChunks counts the chunks of the packed token entries.
	PackedChunks int64
	// Audit counts the events of the audit log.
	Audit int64
}

// batch is how many rows a copy writes with one operation.
const batch = 1000

// Copy copies every row of src into dst, which must be empty (a writ
// schema without rows, ErrNotEmpty otherwise) and not src itself
// (ErrSameDatabase), and returns how many rows of each kind it copied.
//
// It reads src in one read-only transaction, a consistent snapshot that
// does not block src's writers, and writes dst in one transaction, which
// it commits only once it has read dst again and found there what it read
// from src, row for row (ErrMismatch otherwise): on any error, dst is left
// as it was.
func Copy(ctx context.Context, src, dst store.Store) (Counts, error) {
	from, err := src.BeginRead(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("read the source: %w", err)
	}
	defer from.Rollback()
	to, err := dst.Begin(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("write the destination: %w", err)
	}
	defer to.Rollback()
	_, fromEpoch, err := from.RevocationHead(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("read the source: %w", err)
	}
	_, toEpoch, err := to.RevocationHead(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("read the destination: %w", err)
	}
	if bytes.Equal(fromEpoch, toEpoch) {
		return Counts{}, ErrSameDatabase
	}
	if err := empty(ctx, to); err != nil {
		return Counts{}, err
	}
	// A new epoch, not the one the empty database had: verifiers may have
	// followed a database emptied by hand.
	epoch := make([]byte, 16)
	rand.Read(epoch)
	if err := to.MetaPut(ctx, store.MetaRevocationEpoch, epoch); err != nil {
		return Counts{}, fmt.Errorf("write the destination: %w", err)
	}
	read := newTally()
	w := newWriter(to)
	if err := walk(ctx, from, read, w); err != nil {
		return Counts{}, err
	}
	written := newTally()
	if err := walk(ctx, to, written, nil); err != nil {
		return Counts{}, fmt.Errorf("read the copy again: %w", err)
	}
	if err := written.compare(read); err != nil {
		return Counts{}, err
	}
	if err := to.Commit(); err != nil {
		return Counts{}, fmt.Errorf("write the destination: %w", err)
	}
	return read.counts(), nil
}

// empty returns an error wrapping ErrNotEmpty, saying what it holds, unless
// x holds no row but its revocation epoch.
func empty(ctx context.Context, x store.Executor) error {
	var held []string
	stop := errors.New("stop")
	err := x.MetaEach(ctx, func(name string, _ []byte) error {
		if name != store.MetaRevocationEpoch {
			held = append(held, "meta values")
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return err
	}
	ks, _, err := x.KeyRows(ctx, store.KeyFilter{})
	if err != nil {
		return err
	}
	if len(ks) > 0 {
		held = append(held, "keys")
	}
	// Tokens name keys: without keys there are none, and reading the
	// first is cheap.
	if err := x.TokenEach(ctx, func(*store.TokenRow) error { return stop }); errors.Is(err, stop) {
		held = append(held, "tokens")
	} else if err != nil {
		return err
	}
	seq, _, err := x.RevocationHead(ctx)
	if err != nil {
		return err
	}
	packed, err := x.PackedSize(ctx)
	if err != nil {
		return err
	}
	if seq > 0 || packed > 0 {
		held = append(held, "revocations")
	}
	events, err := x.AuditList(ctx, store.AuditFilter{Limit: 1})
	if err != nil {
		return err
	}
	if len(events) > 0 {
		held = append(held, "audit events")
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: it holds %s", ErrNotEmpty, strings.Join(held, ", "))
	}
	return nil
}

// walk reads every row of x, kind by kind, and adds it to t; with w set,
// it writes it there too, keys before the tokens that name them.
func walk(ctx context.Context, x store.Executor, t *tally, w *writer) error {
	err := x.MetaEach(ctx, func(name string, value []byte) error {
		if name == store.MetaRevocationEpoch {
			return nil // the copy's is its own
		}
		// A value is never NULL: an empty one may read as nil.
		t.add(kindMeta, [2]string{name, string(value)})
		return w.meta(ctx, name, value)
	})
	if err != nil {
		return fmt.Errorf("meta: %w", err)
	}
	ks, _, err := x.KeyRows(ctx, store.KeyFilter{})
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	for _, k := range ks {
		t.add(kindKeys, k)
		if err := w.key(ctx, k); err != nil {
			return fmt.Errorf("key %q: %w", k.KID, err)
		}
	}
	err = x.TokenEach(ctx, func(r *store.TokenRow) error {
		t.add(kindTokens, *r)
		return w.token(ctx, r)
	})
	if err == nil {
		err = w.flush(ctx, kindTokens)
	}
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	err = x.RevocationEach(ctx, store.RevocationFilter{}, func(r *store.RevocationRow) error {
		t.add(kindRevocations, *r)
		return w.revocation(ctx, r)
	})
	if err == nil {
		err = w.flush(ctx, kindRevocations)
	}
	if err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	err = x.PackedEach(ctx, func(chunk []byte) error {
		t.addBytes(kindPacked, chunk)
		w.packed(chunk)
		return nil
	})
	if err == nil {
		err = w.flush(ctx, kindPacked)
	}
	if err != nil {
		return fmt.Errorf("packed revocations: %w", err)
	}
	err = x.AuditEach(ctx, func(r *store.AuditRow) error {
		e := *r
		e.ID = 0 // the destination's to number
		t.add(kindAudit, e)
		return w.event(ctx, r)
	})
	if err == nil {
		err = w.flush(ctx, kindAudit)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// writer writes rows to the destination, in batches where an operation
// takes many. A nil writer writes nothing.
type writer struct {
	tx          store.Tx
	tokens      batcher[store.TokenRow]
	revocations batcher[store.RevocationRow]
	events      batcher[store.AuditRow]
	chunks      [][]byte
}

func newWriter(tx store.Tx) *writer {
	return &writer{
		tx:          tx,
		tokens:      batcher[store.TokenRow]{write: func(ctx context.Context, rows []store.TokenRow) error { return tx.TokenInsertMany(ctx, rows, nil) }},
		revocations: batcher[store.RevocationRow]{write: tx.RevocationRestore},
		// TokenInsertMany records events in one go, in order.
		events: batcher[store.AuditRow]{write: func(ctx context.Context, rows []store.AuditRow) error { return tx.TokenInsertMany(ctx, nil, rows) }},
	}
}

// batcher gathers rows and writes them batch at a time.
type batcher[T any] struct {
	rows  []T
	write func(ctx context.Context, rows []T) error
}

// add writes r, with those gathered before it once there are batch of
// them.
func (b *batcher[T]) add(ctx context.Context, r T) error {
	if b.rows = append(b.rows, r); len(b.rows) == batch {
		return b.flush(ctx)
	}
	return nil
}

// flush writes the rows gathered.
func (b *batcher[T]) flush(ctx context.Context) error {
	if len(b.rows) == 0 {
		return nil
	}
	err := b.write(ctx, b.rows)
	b.rows = b.rows[:0]
	return err
}

func (w *writer) meta(ctx context.Context, name string, value []byte) error {
	if w == nil {
		return nil
	}
	if value == nil {
		value = []byte{}
	}
	return w.tx.MetaPut(ctx, name, value)
}

func (w *writer) key(ctx context.Context, r store.KeyRow) error {
	if w == nil {
		return nil
	}
	return w.tx.KeyInsert(ctx, r)
}

func (w *writer) token(ctx context.Context, r *store.TokenRow) error {
	if w == nil {
		return nil
	}
	return w.tokens.add(ctx, *r)
}

func (w *writer) revocation(ctx context.Context, r *store.RevocationRow) error {
	if w == nil {
		return nil
	}
	return w.revocations.add(ctx, *r)
}

func (w *writer) event(ctx context.Context, r *store.AuditRow) error {
	if w == nil {
		return nil
	}
	return w.events.add(ctx, *r)
}

// packed keeps a copy of chunk (the engine's buffer) for flush, which
// replaces the destination's chunks with them all at once.
func (w *writer) packed(chunk []byte) {
	if w != nil {
		w.chunks = append(w.chunks, bytes.Clone(chunk))
	}
}

// flush writes what the writer gathered of rows of kind k.
func (w *writer) flush(ctx context.Context, k kind) error {
	if w == nil {
		return nil
	}
	switch k {
	case kindTokens:
		return w.tokens.flush(ctx)
	case kindRevocations:
		return w.revocations.flush(ctx)
	case kindAudit:
		return w.events.flush(ctx)
	case kindPacked:
		if len(w.chunks) == 0 {
			return nil
		}
		err := w.tx.PackedReplace(ctx, w.chunks)
		w.chunks = nil
		return err
	}
	return nil
}

// kind is a kind of row.
type kind int

const (
	kindMeta kind = iota
	kindKeys
	kindTokens
	kindRevocations
	kindPacked
	kindAudit
	kinds
)

var kindNames = [kinds]string{"meta values", "keys", "tokens", "revocations", "packed revocation chunks", "audit events"}

// tally counts the rows of each kind read from a database and hashes
// them, in order, so that two databases' rows are compared without
// keeping them.
type tally struct {
	n [kinds]int64
	h [kinds]hash.Hash
}

func newTally() *tally {
	t := &tally{}
	for i := range t.h {
		t.h[i] = sha256.New()
	}
	return t
}

// add counts row, of kind k, and hashes it whole, every field of it: Go
// syntax (%#v) quotes strings and tells a nil slice from an empty one, so
// that no two rows print alike.
func (t *tally) add(k kind, row any) {
	t.n[k]++
	fmt.Fprintf(t.h[k], "%#v\n", row)
}

// addBytes counts b, of kind k, and hashes it length-prefixed.
func (t *tally) addBytes(k kind, b []byte) {
	t.n[k]++
	t.h[k].Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	t.h[k].Write(b)
}

// compare returns an error wrapping ErrMismatch naming each kind whose
// rows differ between t, the copy, and source.
func (t *tally) compare(source *tally) error {
	var diffs []string
	for k := range kinds {
		switch {
		case t.n[k] != source.n[k]:
			diffs = append(diffs, fmt.Sprintf("%d %s where the source has %d", t.n[k], kindNames[k], source.n[k]))
		case !bytes.Equal(t.h[k].Sum(nil), source.h[k].Sum(nil)):
			diffs = append(diffs, fmt.Sprintf("%s that differ from the source's", kindNames[k]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: the copy holds %s", ErrMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

func (t *tally) counts() Counts {
	return Counts{Meta: t.n[kindMeta], Keys: t.n[kindKeys], Tokens: t.n[kindTokens], Revocations: t.n[kindRevocations],
		PackedChunks: t.n[kindPacked], Audit: t.n[kindAudit]}
}
