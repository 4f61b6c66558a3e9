// Package writ opens writ's database for Go programs that issue, revoke and
// rotate tokens in process, as the writ command and server do: one SQLite
// file (WAL, synchronous=FULL, schema migrated on open by a process that
// writes) shared by the keyring, the issuer and the revocation list.
//
// Programs that only verify tokens need package verifier alone, which links
// no database.
//
//	mk, err := keys.ReadMasterKeyFile("writ.db.key")
//	w, err := writ.Open(ctx, writ.Config{Path: "writ.db", MasterKey: mk, Issuer: "https://tokens.example"})
//	defer w.Close()
//	t, err := w.Issuer.Issue(ctx, issuer.Request{Subject: "ci", Audience: []string{"https://api.example"}})
//	_, err = w.Revocations.RevokeToken(ctx, t.ID, revocation.Options{Reason: "leaked"})
package writ

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

var (
	// ErrNoDatabase is returned by Open for a missing database when
	// Config.Create is unset.
	ErrNoDatabase = store.ErrNoDatabase
	// ErrNewerSchema is returned by Open for a database written by a newer
	// writ.
	ErrNewerSchema = store.ErrNewerSchema
	// ErrNotWritDatabase is returned by Open for a file that is not a writ
	// database (another program's SQLite file, a file that is not SQLite,
	// an empty file unless Config.Create is set). Open leaves it as it was.
	ErrNotWritDatabase = store.ErrNotWrit
	// ErrNotPrivate is returned by Open, to write a database, for a
	// database file, or its -wal or -shm file, that others than its owner
	// may read, or that another user owns; and by keys.ReadMasterKeyFile
	// for such a master key file.
	ErrNotPrivate = fsperm.ErrNotPrivate
)

// Config says which database to open and how to act on it.
type Config struct {
	// Path is the SQLite database file. Required.
	Path string
	// Create creates the database (mode 0600) when it does not exist, or
	// when it is an empty file. It creates no keys: see keys.Ring.Ensure.
	Create bool
	// ReadOnlyOK, for a process that only reads, lets Open fall back to a
	// read-only handle when the process may not write the database. With
	// write access it opens normally, so that closing the database removes
	// SQLite's -wal and -shm files, which a read-only handle would leave.
	// Read-only is enough to list tokens, keys and revocations and to
	// publish key sets; issuing, revoking and key changes then fail.
	// With ReadOnlyOK, Open writes nothing: a schema that is not current
	// is refused, not migrated.
	ReadOnlyOK bool
	// MasterKey seals and opens the private keys. Required.
	MasterKey *keys.MasterKey
	// Issuer is the iss claim of issued tokens. Required.
	Issuer string
	// Actor names who acts, for the audit log of key changes.
	Actor string
	// Policy is the key rotation policy; its zero value means the defaults.
	Policy keys.Policy
	// MaxTTL caps every token's lifetime; zero means issuer.DefaultMaxTTL.
	MaxTTL time.Duration
}

// DB is an open writ database. Its members share one connection pool and
// are safe for concurrent use; several processes may open one database.
type DB struct {
	Keys        *keys.Ring
	Issuer      *issuer.Issuer
	Revocations *revocation.List
	// SQL is the database handle the others use, for what has no API of
	// its own yet (writ serve's admin API, the audit log).
	SQL *sql.DB
}

// Open opens the database at cfg.Path with its keyring, issuer and
// revocation list. Before it writes anything it checks that the file is a
// writ database (ErrNotWritDatabase) and, unless it only reads, that the
// file that cfg.Path reaches, through symbolic links or not, is private to
// its owner (ErrNotPrivate).
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case cfg.Path == "" || cfg.MasterKey == nil || cfg.Issuer == "":
		return nil, errors.New("writ: Config.Path, MasterKey and Issuer are required")
	case cfg.Create && cfg.ReadOnlyOK:
		return nil, errors.New("writ: Config.Create and ReadOnlyOK exclude each other")
	}
	var db *sql.DB
	var err error
	if cfg.ReadOnlyOK {
		db, err = store.OpenForReading(ctx, cfg.Path)
	} else {
		db, err = store.Open(ctx, cfg.Path, cfg.Create)
	}
	if err != nil {
		return nil, err
	}
	w, err := attach(ctx, db, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	return w, nil
}

func attach(ctx context.Context, db *sql.DB, cfg Config) (*DB, error) {
	ring, err := keys.OpenRing(ctx, keys.RingConfig{DB: db, MasterKey: cfg.MasterKey, Actor: cfg.Actor, Policy: cfg.Policy, ReadOnly: cfg.ReadOnlyOK})
	if err != nil {
		return nil, err
	}
	iss, err := issuer.New(issuer.Config{Issuer: cfg.Issuer, Keys: ring, DB: db, MaxTTL: cfg.MaxTTL})
	if err != nil {
		return nil, err
	}
	list, err := revocation.NewList(revocation.Config{DB: db, MaxTTL: iss.MaxTTL()})
	if err != nil {
		return nil, err
	}
	return &DB{Keys: ring, Issuer: iss, Revocations: list, SQL: db}, nil
}

// CompromiseKey takes the key kid out of service at once, as writ keys
// compromise does: it leaves the key sets, its private half is destroyed,
// the next key of its format signs in its place, and every token it signed
// is revoked, all in one transaction. Compromising a key twice changes
// nothing and returns the first revocation. A row written without the
// master key whose kid the revocation list cannot hold (see
// revocation.CheckID) is only withdrawn, and the Entry returned is zero:
// writ never trusted it, so no token of it was ever accepted.
func (w *DB) CompromiseKey(ctx context.Context, kid string, o revocation.Options) (revocation.Entry, error) {
	var e revocation.Entry
	err := w.Keys.Compromise(ctx, kid, keys.CompromiseOptions{InTx: func(ctx context.Context, tx *sql.Tx) error {
		if revocation.CheckID("kid", kid) != nil {
			// writ makes no such kid: only a row written without the
			// master key has one. writ never published nor trusted it,
			// so no token of it was ever accepted and there is nothing
			// to revoke; withdrawing the row is the whole remedy.
			return o.Check()
		}
		var err error
		e, err = w.Revocations.RevokeKeyTx(ctx, tx, kid, o)
		return err
	}})
	return e, err
}

// Backup writes a consistent copy of the database to a new file at path
// (mode 0600; an existing file is an error) while it is in use, as writ
// backup does. The copy's keys are sealed with the master key, which it
// does not hold. It has a revocation epoch of its own, and another each
// time it is restored and first opened to write: verifiers that followed
// the original, or an earlier restore of the same backup, read the whole
// list again.
func (w *DB) Backup(ctx context.Context, path string) error {
	return store.Backup(ctx, w.SQL, path)
}

// Close closes the database.
func (w *DB) Close() error { return w.SQL.Close() }
