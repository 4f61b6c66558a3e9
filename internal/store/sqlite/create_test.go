package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCreateFilled: the database appears at its path only once filled,
// with mode 0600; a failed fill leaves nothing; an existing path is
// refused; the new database draws an epoch of its own when first opened
// to write, as a backup does.
func TestCreateFilled(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	failed := errors.New("fill failed")
	err := CreateFilled(ctx, path, func(db *DB) error {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the database is at its path while it is filled: %v", err)
		}
		if err := db.MetaPut(ctx, "x", []byte{1}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("CreateFilled with a failing fill: %v", err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
		t.Fatalf("a failed fill left %q", names)
	}

	var epoch []byte
	err = CreateFilled(ctx, path, func(db *DB) error {
		_, epoch, err = db.RevocationHead(ctx)
		return errors.Join(err, db.MetaPut(ctx, "x", []byte{2}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("files after CreateFilled: %q, want the database alone", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new database: %v, %v", fi, err)
	}
	if err := CreateFilled(ctx, path, func(*DB) error { return nil }); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateFilled over an existing file: %v, want ErrExist", err)
	}

	epochAfter := func(open func(context.Context, string) (*DB, error)) []byte {
		t.Helper()
		db, err := open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v, err := db.MetaGet(ctx, "x"); err != nil || v[0] != 2 {
			t.Errorf("what fill wrote: %x, %v", v, err)
		}
		_, e, err := db.RevocationHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := epochAfter(OpenForReading); string(e) != string(epoch) {
		t.Errorf("a reader changed the epoch")
	}
	writer := func(ctx context.Context, path string) (*DB, error) { return Open(ctx, path, false) }
	renewed := epochAfter(writer)
	if string(renewed) == string(epoch) {
		t.Errorf("the first writer kept the epoch the database was made with")
	}
	if e := epochAfter(writer); string(e) != string(renewed) {
		t.Errorf("the second writer changed the epoch again")
	}
}
