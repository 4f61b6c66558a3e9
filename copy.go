package writ

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storecopy"
)

// CopyCounts are the rows of each kind that CopyDatabase copied.
type CopyCounts struct {
	// Meta counts the database's own values (the master-key check value,
	// the key-set seal, ...), but the revocation epoch, which the copy
	// does not take.
	Meta int64 `json:"meta"`
	// Keys counts the keys, in every state.
	Keys int64 `json:"keys"`
	// Tokens counts the records of issued tokens.
	Tokens int64 `json:"tokens"`
	// Revocations counts the entries of the revocation list.
	Revocations int64 `json:"revocations"`
	// PackedChunks counts the chunks of the compact copy of the token
	// entries, from which verifiers load the list.
	PackedChunks int64 `json:"packed_chunks"`
	// Audit counts the events of the audit log.
	Audit int64 `json:"audit"`
	// Usage counts the usage summaries of tokens (what verifiers reported
	// of their uses).
	Usage int64 `json:"usage"`
}

// CopyDatabase copies the whole writ database at from into a new database
// at to, as writ db copy does: each is an SQLite file or a PostgreSQL URL
// (IsURL), so that a database moves from SQLite to PostgreSQL, back, or
// to another of the same engine. It returns how many rows of each kind it
// copied.
//
// It needs no master key: keys are copied sealed, with the values that
// bind them to the master key, so the copy opens with the original's
// master key and trusts the same keys. Tokens, revocations (with their
// sequence numbers), audit events (with their times, in order) and usage
// summaries are copied as they are. The copy has a revocation epoch of its own, as a
// restored backup has: verifiers that followed the original read the whole
// list again when they are pointed at the copy.
//
// from is read in one snapshot, so a copy taken while writ serve runs is
// consistent; an SQLite file is only read, and must be at this writ's
// schema. to is written in one transaction, committed once to has been read
// again and holds what was read from from (ErrCopyMismatch otherwise).
// An SQLite file at to must not exist: it is created (mode 0600) under a
// temporary name and appears at to only once the copy is complete. A
// PostgreSQL database at to must exist and be empty (ErrNotEmpty): on
// failure it is left empty, with writ's schema.
func CopyDatabase(ctx context.Context, from, to string) (CopyCounts, error) {
	c, err := copyDatabase(ctx, from, to)
	if err != nil {
		return CopyCounts{}, fmt.Errorf("writ: copy %s to %s: %w", dbName(from), dbName(to), err)
	}
	return CopyCounts(c), nil
}

func copyDatabase(ctx context.Context, from, to string) (storecopy.Counts, error) {
	if from == to || sameFile(from, to) {
		return storecopy.Counts{}, ErrSameDatabase
	}
	src, err := openForReading(ctx, from)
	if err != nil {
		return storecopy.Counts{}, err
	}
	defer src.Close()
	var c storecopy.Counts
	if !IsURL(to) {
		var copyErr error
		err := sqlite.CreateFilled(ctx, to, func(dst *sqlite.DB) error {
			c, copyErr = storecopy.Copy(ctx, src, dst)
			return copyErr
		})
		if copyErr != nil {
			return storecopy.Counts{}, copyErr
		}
		return c, err
	}
	dst, err := postgres.Open(ctx, to, true)
	if err != nil {
		return storecopy.Counts{}, err
	}
	c, err = storecopy.Copy(ctx, src, dst)
	return c, errors.Join(err, dst.Close())
}

// sameFile reports whether from and to are paths of one existing file.
func sameFile(from, to string) bool {
	if IsURL(from) || IsURL(to) {
		return false
	}
	a, err := os.Stat(from)
	if err != nil {
		return false
	}
	b, err := os.Stat(to)
	return err == nil && os.SameFile(a, b)
}

// dbName names the database db, an SQLite file or a PostgreSQL URL, in
// messages: a URL without its password.
func dbName(db string) string {
	if IsURL(db) {
		return RedactURL(db)
	}
	return fmt.Sprintf("%q", db)
}
