package writ_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestLoadRevocationsFile: a snapshot of the revocation list of a database
// file, read without its master key, rejects the tokens revoked in it, and
// the file is closed when LoadRevocations returns.
func TestLoadRevocationsFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	w, _, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var toks []*issuer.Token
	for _, sub := range []string{"alice", "bob"} {
		tok, err := w.Issuer.Issue(ctx, issuer.Request{Subject: sub, Audience: []string{"api"}})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if _, err := w.Revocations.RevokeToken(ctx, toks[1].ID, revocation.Options{Reason: "leaked", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	ks, err := w.Keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	snap, err := writ.LoadRevocations(ctx, path, writ.RevocationsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("%s left behind: the database is still open", suffix)
		}
	}
	v, err := verifier.New(verifier.Config{Issuer: testIssuer, Audience: "api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, Revocation: snap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, toks[0].Token); err != nil {
		t.Errorf("token not revoked: %v", err)
	}
	if _, err := v.Verify(ctx, toks[1].Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("revoked token: %v, want ErrRevoked", err)
	}
}

// TestLoadRevocationsErrors: a file that is no writ database, or a feed
// that cannot be verified or fetched, is an error.
func TestLoadRevocationsErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	foreign := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(foreign, []byte("not a database, not even SQLite\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	ks, err := verifier.NewKeySet()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, location string
		cfg            writ.RevocationsConfig
		is             error
		want           string
	}{
		{"missing file", filepath.Join(dir, "none.db"), writ.RevocationsConfig{}, writ.ErrNoDatabase, "none.db"},
		{"not a writ database", foreign, writ.RevocationsConfig{}, writ.ErrNotWritDatabase, ""},
		{"feed without keys", srv.URL + "/v1/revocations", writ.RevocationsConfig{Issuer: srv.URL}, nil, "Keys are required"},
		{"feed without issuer", srv.URL + "/v1/revocations", writ.RevocationsConfig{Keys: ks}, nil, "Issuer"},
		{"feed not found", srv.URL + "/v1/revocations", writ.RevocationsConfig{Issuer: srv.URL, Keys: ks}, nil, "fetch revocation feed: 404"},
		// A manifest's URL, or the issuer's, reads snapshot files and deltas.
		{"manifest not found", srv.URL + remote.ManifestPath, writ.RevocationsConfig{Issuer: srv.URL, Keys: ks}, nil, "fetch revocation manifest: 404"},
		{"issuer's manifest not found", srv.URL + "/", writ.RevocationsConfig{Issuer: srv.URL, Keys: ks}, nil, "fetch revocation manifest: 404"},
		{"manifest without keys", srv.URL + remote.ManifestPath, writ.RevocationsConfig{Issuer: srv.URL}, nil, "Keys are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := writ.LoadRevocations(ctx, tc.location, tc.cfg)
			if err == nil || snap != nil {
				t.Fatalf("got %v, %v; want an error", snap, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestBackupFile: a backup made without the master key opens with it; an
// existing destination and a missing database are refused.
func TestBackupFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	w, res, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	backup := filepath.Join(dir, "backup.db")
	if err := writ.BackupFile(ctx, path, backup); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, backup); m != 0o600 {
		t.Errorf("backup has mode %#o, want 0600", m)
	}
	mk, err := keys.ReadMasterKeyFile(res.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := writ.Open(ctx, writ.Config{Path: backup, MasterKey: mk, Issuer: testIssuer, ReadOnlyOK: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Keys.Signer(ctx, keys.JWT); err != nil {
		t.Errorf("signing key of the backup: %v", err)
	}
	b.Close()

	if err := writ.BackupFile(ctx, path, backup); !errors.Is(err, fs.ErrExist) {
		t.Errorf("backup over an existing file: %v, want fs.ErrExist", err)
	}
	if err := writ.BackupFile(ctx, filepath.Join(dir, "none.db"), filepath.Join(dir, "copy.db")); !errors.Is(err, writ.ErrNoDatabase) {
		t.Errorf("backup of a missing database: %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "copy.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("backup of a missing database made a copy: %v", err)
	}
}

// TestLoadRevocationsStale: a revocation manifest signed longer ago than
// RevocationsConfig.MaxStaleness (a copy a static host froze) fails every
// check closed; within the bound it is used.
func TestLoadRevocationsStale(t *testing.T) {
	ctx := context.Background()
	w, _, err := initDB(t, filepath.Join(t.TempDir(), "writ.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	signed := time.Now().Add(-2 * time.Hour)
	if _, err := server.Publish(ctx, server.PublishConfig{Dir: dir, Issuer: testIssuer, Ring: w.Keys, Tokens: w.Issuer,
		Revocations: w.Revocations, Now: func() time.Time { return signed }}); err != nil {
		t.Fatal(err)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()
	ks, err := w.Keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bound time.Duration
		want  error
	}{{time.Hour, revoked.ErrStale}, {3 * time.Hour, nil}, {0, nil}} {
		snap, err := writ.LoadRevocations(ctx, static.URL+remote.ManifestPath, writ.RevocationsConfig{Issuer: testIssuer, Keys: ks, MaxStaleness: c.bound})
		if err != nil {
			t.Fatal(err)
		}
		err = snap.CheckRevocation(ctx, &verifier.Claims{ID: "x", Subject: "alice", IssuedAt: time.Now()})
		if !errors.Is(err, c.want) || c.want == nil && err != nil {
			t.Errorf("bound %s, manifest signed 2h ago: %v, want %v", c.bound, err, c.want)
		}
		snap.Close()
	}
}
