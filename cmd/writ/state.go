package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/keys"
)

func (g *globals) keyFile() string {
	if g.masterKeyFile != "" {
		return g.masterKeyFile
	}
	return g.db + ".key"
}

// masterKey reads WRIT_MASTER_KEY, or else the master key file.
func (g *globals) masterKey() (*keys.MasterKey, error) {
	if v := os.Getenv("WRIT_MASTER_KEY"); v != "" {
		mk, err := keys.ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("WRIT_MASTER_KEY: %w", err)
		}
		return mk, nil
	}
	mk, err := keys.ReadMasterKeyFile(g.keyFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, withHint(fmt.Errorf("no master key: WRIT_MASTER_KEY is unset and %q does not exist", g.keyFile()),
			"run writ init, or point --master-key-file at the key file")
	}
	return mk, err
}

// open opens an initialised database.
func (g *globals) open(ctx context.Context) (*writ.DB, error) {
	// A missing database is the first thing to report: its master key
	// file is missing too.
	if err := g.dbExists(); err != nil {
		return nil, err
	}
	return g.openDB(ctx, false)
}

// dbExists reports a missing database, with what to do about it.
func (g *globals) dbExists() error {
	if _, err := os.Stat(g.db); errors.Is(err, os.ErrNotExist) {
		return withHint(fmt.Errorf("%w at %q", writ.ErrNoDatabase, g.db), "run writ init, or set --db / WRIT_DB")
	}
	return nil
}

// openDB opens the database with g's master key and settings, creating it
// when create is set.
func (g *globals) openDB(ctx context.Context, create bool) (*writ.DB, error) {
	mk, err := g.masterKey()
	if err != nil {
		return nil, err
	}
	w, err := writ.Open(ctx, writ.Config{Path: g.db, Create: create, MasterKey: mk, Issuer: g.issuer, Actor: actor(), Policy: g.policy})
	if errors.Is(err, writ.ErrNoDatabase) {
		return nil, withHint(err, "run writ init, or set --db / WRIT_DB")
	}
	return w, err
}

// actor names who runs the CLI, for the records.
func actor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
