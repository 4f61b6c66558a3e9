// Package writ is the front door for Go programs that issue, revoke and
// rotate tokens in process, as the writ command and server do: [Open] opens
// writ's database and returns its keyring, issuer, revocation list and
// audit log over one storage handle.
//
// The storage engine is chosen by the configuration: [Config.Path] opens
// an SQLite file (WAL, synchronous=FULL, schema migrated on open by a
// process that writes), the embedded default; [Config.URL] a PostgreSQL
// database, which several writ serve replicas share. Programs that only
// verify tokens need package verifier alone, which links no database.
//
//	mk, err := keys.ReadMasterKeyFile("writ.db.key")
//	w, err := writ.Open(ctx, writ.Config{Path: "writ.db", MasterKey: mk, Issuer: "https://tokens.example"})
//	defer w.Close()
//	t, err := w.Issuer.Issue(ctx, issuer.Request{Subject: "ci", Audience: []string{"https://api.example"}})
//	_, err = w.Revocations.RevokeToken(ctx, t.ID, revocation.Options{Reason: "leaked"})
//
// # Where things happen
//
// A token is signed by package issuer with the active key of package keys,
// recorded by the issuer, revoked through package revocation, and every
// change is in the audit log of package audit. Keys are published by
// keys.Ring (JWKS, PASERK) and tokens verified by package verifier.
package writ

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

// Config says which database to open and how to act on it.
type Config struct {
	// Path is an SQLite database file, and URL a PostgreSQL database (a
	// postgres:// URL, see IsURL): exactly one is required. Keep a
	// password out of URL where others may see it (a process's
	// arguments): PostgreSQL clients read PGPASSWORD and ~/.pgpass.
	Path, URL string
	// Create creates the database (mode 0600) when it does not exist, or
	// when it is an empty file. It creates no keys: see keys.Ring.Ensure.
	Create bool
	// ReadOnlyOK, for a process that only reads, lets Open fall back to a
	// read-only handle when the process may not write the database. With
	// write access it opens normally, so that closing the database removes
	// SQLite's -wal and -shm files, which a read-only handle would leave.
	// Read-only is enough to list tokens, keys and revocations and to
	// publish key sets; issuing, revoking and key changes then fail
	// (IsReadOnly tells such a failure).
	// With ReadOnlyOK, Open writes nothing: a schema that is not current
	// is refused, not migrated. On PostgreSQL, where the database's roles
	// decide who writes, it changes nothing.
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
	// SessionIdle is how long a web console session (DB.Sessions) lasts
	// without a request: zero means 30 minutes; Open refuses one under a
	// minute or over 12 hours, a session's longest.
	SessionIdle time.Duration
}

// DB is an open writ database. Its members share one storage handle and
// are safe for concurrent use; several processes may open one database.
type DB struct {
	Keys        *keys.Ring
	Issuer      *issuer.Issuer
	Revocations *revocation.List
	Audit       *audit.Log
	// Sessions are the web console's sessions and sign-in links.
	Sessions *session.Store

	store store.Store
}

// Open opens the database that cfg names with its keyring, issuer,
// revocation list and audit log. Before it writes anything it checks that
// the database is writ's (ErrNotWritDatabase) and, for SQLite unless it
// only reads, that the file that cfg.Path reaches, through symbolic links
// or not, is private to its owner (ErrNotPrivate).
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case (cfg.Path == "") == (cfg.URL == ""):
		return nil, errors.New("writ: one of Config.Path and Config.URL is required")
	case cfg.MasterKey == nil || cfg.Issuer == "":
		return nil, errors.New("writ: Config.MasterKey and Issuer are required")
	case cfg.URL != "" && !IsURL(cfg.URL):
		return nil, errors.New("writ: Config.URL must be a postgres:// or postgresql:// URL")
	case cfg.Create && cfg.ReadOnlyOK:
		return nil, errors.New("writ: Config.Create and ReadOnlyOK exclude each other")
	case cfg.SessionIdle != 0 && (cfg.SessionIdle < session.MinIdle || cfg.SessionIdle > session.MaxAge):
		return nil, fmt.Errorf("writ: Config.SessionIdle %v is not between %v and %v", cfg.SessionIdle, session.MinIdle, session.MaxAge)
	}
	s, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w, err := attach(ctx, s, cfg)
	if err != nil {
		s.Close()
		return nil, err
	}
	return w, nil
}

// IsURL reports whether db names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than an SQLite file, as writ's --db does.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openForReading opens the existing database db, an SQLite file or a
// PostgreSQL URL, for a process that only reads it (see OpenRevocations).
func openForReading(ctx context.Context, db string) (store.Store, error) {
	if IsURL(db) {
		return postgres.Open(ctx, db, false)
	}
	return sqlite.OpenForReading(ctx, db)
}

// openStore opens the storage engine that cfg names.
func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.URL != "" {
		// PostgreSQL grants writes by role: a process that may not write
		// is refused at its first write, with ReadOnlyOK as without.
		return postgres.Open(ctx, cfg.URL, cfg.Create)
	}
	if cfg.ReadOnlyOK {
		return sqlite.OpenForReading(ctx, cfg.Path)
	}
	return sqlite.Open(ctx, cfg.Path, cfg.Create)
}

func attach(ctx context.Context, s store.Store, cfg Config) (*DB, error) {
	maxTTL := cfg.MaxTTL
	if maxTTL == 0 {
		maxTTL = issuer.DefaultMaxTTL
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: s, MasterKey: cfg.MasterKey, Actor: cfg.Actor, Policy: cfg.Policy,
		ReadOnly: cfg.ReadOnlyOK, MaxTTL: max(maxTTL, 0)})
	if err != nil {
		return nil, err
	}
	iss, err := issuer.New(issuer.Config{Issuer: cfg.Issuer, Keys: ring, Store: s, MaxTTL: cfg.MaxTTL})
	if err != nil {
		return nil, err
	}
	list, err := revocation.NewList(revocation.Config{Store: s, MaxTTL: iss.MaxTTL()})
	if err != nil {
		return nil, err
	}
	log, err := audit.NewLog(s)
	if err != nil {
		return nil, err
	}
	sessions, err := session.New(session.Config{Store: s, Issuer: cfg.Issuer, Idle: cfg.SessionIdle})
	if err != nil {
		return nil, err
	}
	return &DB{Keys: ring, Issuer: iss, Revocations: list, Audit: log, Sessions: sessions, store: s}, nil
}

// OpenRevocations opens the revocation list of the database at db, an
// SQLite file or a PostgreSQL URL (IsURL), for a process that only reads
// it, as a verifier beside the database does (writ verify --revocations
// FILE): it needs no master key, and from an SQLite file writes nothing
// and falls back to a read-only handle where the process may not write
// the database. The list is a revoked.Feed. done closes the database.
func OpenRevocations(ctx context.Context, db string) (list *revocation.List, done func() error, err error) {
	s, err := openForReading(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	if list, err = revocation.NewList(revocation.Config{Store: s, MaxTTL: issuer.DefaultMaxTTL}); err != nil {
		s.Close()
		return nil, nil, err
	}
	return list, s.Close, nil
}

// Backup writes a consistent copy of an SQLite database to a new file at
// path (mode 0600; an existing file is an error) while it is in use; a
// PostgreSQL database refuses (pg_dump copies it, or writ db copy to an
// SQLite file). The copy's
// keys are sealed with the master key, which it does not hold. It has a
// revocation epoch of its own, and another each time it is restored and
// first opened to write: verifiers that followed the original, or an
// earlier restore of the same backup, read the whole list again.
func (w *DB) Backup(ctx context.Context, path string) error {
	return w.store.Backup(ctx, path)
}

// BackupFile copies the SQLite database at path to a new file at to, as
// DB.Backup does, as writ backup does: it only reads the database and
// needs no master key, since the sealed keys are copied as they are.
func BackupFile(ctx context.Context, path, to string) error {
	s, err := sqlite.OpenForReading(ctx, path)
	if err != nil {
		return err
	}
	return errors.Join(s.Backup(ctx, to), s.Close())
}

// Changes returns channels that announce the changes to keys (and the key
// set's seal) and to revocations that any process commits to the
// database, this one included, so that a server rereads them at once
// rather than at its next poll: each holds at most one value, which may
// stand for several changes, and also receives one after a lost
// connection to the database is restored. They are closed when ctx is
// done or the database closes. Token issuance announces nothing.
//
// An engine that does not announce changes (SQLite, whose database one
// server shares with the CLI) returns nil channels: poll instead.
func (w *DB) Changes(ctx context.Context) (keys, revocations <-chan struct{}, err error) {
	watcher, ok := w.store.(store.Watcher)
	if !ok {
		return nil, nil, nil
	}
	c, err := watcher.Watch(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("writ: %w", err)
	}
	return c.Keys, c.Revocations, nil
}

// Ping checks that the database answers, for health checks.
func (w *DB) Ping(ctx context.Context) error { return w.store.Ping(ctx) }

// Close closes the database.
func (w *DB) Close() error { return w.store.Close() }

// IsReadOnly reports whether err is the database refusing to write because
// the process may not write it (for SQLite, the database file, or the
// directory where SQLite keeps its -wal and -shm files, is read-only to
// it).
func IsReadOnly(err error) bool { return sqlite.IsReadOnly(err) }
