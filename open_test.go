package writ_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
)

// TestOpenForeignFile: Open, to write or only to read, refuses another
// program's SQLite database and leaves it byte for byte as it was, with no
// -wal or -shm file beside it; a database that others may read is refused
// to write.
func TestOpenForeignFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "notes.db")
	sqlitetest.Foreign(t, path)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for _, cfg := range []writ.Config{{}, {Create: true}, {ReadOnlyOK: true}} {
		cfg.Path, cfg.MasterKey, cfg.Issuer = path, mk, "https://i.example"
		w, err := writ.Open(ctx, cfg)
		if err == nil {
			w.Close()
		}
		if !errors.Is(err, writ.ErrNotWritDatabase) {
			t.Errorf("Open(Create %v, ReadOnlyOK %v): %v, want ErrNotWritDatabase", cfg.Create, cfg.ReadOnlyOK, err)
		}
		if data, _ := os.ReadFile(path); sha256.Sum256(data) != sum {
			t.Errorf("Open(Create %v, ReadOnlyOK %v) changed the file", cfg.Create, cfg.ReadOnlyOK)
		}
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Lstat(path + suffix); err == nil {
				t.Errorf("Open(Create %v, ReadOnlyOK %v) left %s", cfg.Create, cfg.ReadOnlyOK, suffix)
			}
		}
	}

	shared := filepath.Join(dir, "shared.db")
	w, err := writ.Open(ctx, writ.Config{Path: shared, Create: true, MasterKey: mk, Issuer: "https://i.example"})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Chmod(shared, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := writ.Open(ctx, writ.Config{Path: shared, MasterKey: mk, Issuer: "https://i.example"}); !errors.Is(err, writ.ErrNotPrivate) {
		t.Errorf("Open of a database with mode 0644: %v, want ErrNotPrivate", err)
	}
}
