package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/keys"
)

// keyFile is the master key file: --master-key-file, or else the one
// beside an SQLite database; "" for a PostgreSQL database without
// --master-key-file.
func (g *globals) keyFile() string {
	if g.masterKeyFile != "" || writ.IsURL(g.db) {
		return g.masterKeyFile
	}
	return writ.DefaultMasterKeyFile(g.db)
}

// masterKeyHint says where a PostgreSQL database's master key comes from.
const masterKeyHint = "set WRIT_MASTER_KEY, or --master-key-file to the key file, which every replica shares"

// masterKey reads WRIT_MASTER_KEY, or else the master key file.
func (g *globals) masterKey() (*keys.MasterKey, error) {
	if v := os.Getenv("WRIT_MASTER_KEY"); v != "" {
		mk, err := keys.ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("WRIT_MASTER_KEY: %w", err)
		}
		return mk, nil
	}
	if g.keyFile() == "" {
		return nil, withHint(writ.ErrNoMasterKeyForURL, masterKeyHint)
	}
	mk, err := keys.ReadMasterKeyFile(g.keyFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, withHint(fmt.Errorf("no master key: WRIT_MASTER_KEY is unset and %q does not exist", g.keyFile()),
			"run writ init, or point --master-key-file at the key file")
	}
	return mk, err
}

// open opens an initialised database to read and write.
func (g *globals) open(ctx context.Context) (*writ.DB, error) {
	return g.openAs(ctx, writ.Config{})
}

// openRead opens an initialised database only to read it: a user who may
// read the database but not write it can still list and publish.
func (g *globals) openRead(ctx context.Context) (*writ.DB, error) {
	w, err := g.openAs(ctx, writ.Config{ReadOnlyOK: true})
	return w, hintReadOnly(err)
}

// readOnlyHint explains SQLite's condition for reading a WAL database that
// one may not write.
const readOnlyHint = "SQLite reads a database only where its -wal and -shm files exist (they do while writ serve has it open) or can be created"

// openAs opens the database with g's master key and settings, and cfg's
// mode; it must exist unless cfg.Create is set.
func (g *globals) openAs(ctx context.Context, cfg writ.Config) (*writ.DB, error) {
	// A missing database is the first thing to report: its master key
	// file is missing too.
	if err := g.dbExists(); err != nil && !cfg.Create {
		return nil, err
	}
	mk, err := g.masterKey()
	if err != nil {
		return nil, err
	}
	cfg.MasterKey, cfg.Issuer, cfg.Actor, cfg.Policy = mk, g.issuer, actor(), g.policy
	g.setDB(&cfg)
	w, err := writ.Open(ctx, cfg)
	if errors.Is(err, writ.ErrNoDatabase) && !cfg.Create {
		return nil, withHint(err, noDatabaseHint)
	}
	return w, err
}

// setDB points cfg at --db: an SQLite file or a PostgreSQL URL.
func (g *globals) setDB(cfg *writ.Config) {
	if writ.IsURL(g.db) {
		cfg.URL = g.db
	} else {
		cfg.Path = g.db
	}
}

// dbName names --db in messages: a URL without its password.
func (g *globals) dbName() string { return dbName(g.db) }

// dbName names the database db, a file or a URL, in messages: a URL
// without its password.
func dbName(db string) string {
	if writ.IsURL(db) {
		return writ.RedactURL(db)
	}
	return db
}

// urlHasPassword reports whether a database URL carries a password, in
// its user information or its query (see writ.RedactURL), or may: one
// that does not parse.
func urlHasPassword(s string) bool { return writ.RedactURL(s) != s }

const noDatabaseHint = "run writ init, or set --db / WRIT_DB"

// dbExists reports a missing SQLite database, with what to do about it
// (writ.Open reports a PostgreSQL one).
func (g *globals) dbExists() error {
	if writ.IsURL(g.db) {
		return nil
	}
	if _, err := os.Stat(g.db); errors.Is(err, os.ErrNotExist) {
		return withHint(fmt.Errorf("%w at %q", writ.ErrNoDatabase, g.db), noDatabaseHint)
	}
	return nil
}

// actor names who runs the CLI, for the records: escaped, since a user
// name that is not plain text must not keep anyone from revoking.
func actor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + text.Escape(u.Username)
	}
	return "cli"
}

// hintReadOnly adds readOnlyHint to an error of SQLite's that it may not
// read a database that this process may not write.
func hintReadOnly(err error) error {
	if writ.IsReadOnly(err) {
		return withHint(err, readOnlyHint)
	}
	return err
}
