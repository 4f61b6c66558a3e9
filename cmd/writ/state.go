package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

// state is an opened writ database with its keyring and issuer.
type state struct {
	db          *sql.DB
	ring        *keys.Ring
	issuer      *issuer.Issuer
	revocations *revocation.List
}

func (s *state) Close() error { return s.db.Close() }

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
func (g *globals) open(ctx context.Context) (*state, error) {
	db, err := store.Open(ctx, g.db, false)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, withHint(err, "run writ init, or set --db / WRIT_DB")
	}
	if err != nil {
		return nil, err
	}
	s, err := g.attach(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// attach opens the keyring and issuer of an open database.
func (g *globals) attach(ctx context.Context, db *sql.DB) (*state, error) {
	mk, err := g.masterKey()
	if err != nil {
		return nil, err
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{DB: db, MasterKey: mk, Actor: actor(), Policy: g.policy})
	if err != nil {
		return nil, err
	}
	iss, err := issuer.New(issuer.Config{Issuer: g.issuer, Keys: ring, DB: db})
	if err != nil {
		return nil, err
	}
	rl, err := revocation.NewList(revocation.Config{DB: db, MaxTTL: iss.MaxTTL()})
	if err != nil {
		return nil, err
	}
	return &state{db: db, ring: ring, issuer: iss, revocations: rl}, nil
}

// actor names who runs the CLI, for the records.
func actor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
