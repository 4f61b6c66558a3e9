package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestOpenCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	if _, err := Open(context.Background(), path, false); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("open without create: %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed open created the file")
	}
	db, err := Open(context.Background(), path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	var mode, sync string
	db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	db.QueryRow(`PRAGMA synchronous`).Scan(&sync)
	if mode != "wal" || sync != "2" {
		t.Errorf("journal_mode %q, synchronous %q; want wal and 2 (FULL)", mode, sync)
	}
	if v := version(t, db); v != SchemaVersion() {
		t.Errorf("schema version %d, want %d", v, SchemaVersion())
	}
}

func version(t *testing.T, db interface {
	QueryRow(string, ...any) *sql.Row
}) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrateKeepsData opens a database left at every earlier schema
// version, with a row in it, and checks that Open migrates it forward and
// keeps the row.
func TestMigrateKeepsData(t *testing.T) {
	for from := 1; from < SchemaVersion(); from++ {
		t.Run(fmt.Sprint("from version ", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "writ.db")
			raw, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range migrations[:from] {
				if _, err := raw.Exec(m); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := raw.Exec(fmt.Sprintf(`PRAGMA user_version = %d; INSERT INTO meta (name, value) VALUES ('probe', x'01')`, from)); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			// As writ made it; sql.Open made it with the umask's mode.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if v := version(t, db); v != SchemaVersion() {
				t.Errorf("migrated to %d, want %d", v, SchemaVersion())
			}
			var id int
			if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil || id != applicationID {
				t.Errorf("application_id %#x after migration, %v; want %#x", id, err, applicationID)
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM meta WHERE name = 'probe'`).Scan(&n); err != nil || n != 1 {
				t.Errorf("row lost in migration: %d, %v", n, err)
			}
		})
	}
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	db, err := Open(context.Background(), path, true)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion()+1))
	db.Close()
	if _, err := Open(context.Background(), path, false); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("got %v, want ErrNewerSchema", err)
	}
}

// TestOpenReadOnly: a read-only handle reads the current schema, refuses
// every write with an error ReadOnly recognises, and refuses a schema it
// would have to migrate or does not know.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	if _, err := OpenReadOnly(ctx, path); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("missing database: %v, want ErrNoDatabase", err)
	}
	db, err := Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO meta (name, value) VALUES ('probe', x'01')`); err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ro.QueryRow(`SELECT count(*) FROM meta WHERE name = 'probe'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("read through the read-only handle: %d, %v", n, err)
	}
	_, err = ro.Exec(`INSERT INTO meta (name, value) VALUES ('write', x'01')`)
	if !IsReadOnly(err) {
		t.Errorf("write through the read-only handle: %v, want a read-only error", err)
	}
	if err := ro.Backup(ctx, filepath.Join(filepath.Dir(path), "copy.db")); err != nil {
		t.Errorf("backup through the read-only handle: %v", err)
	}
	ro.Close()
	if IsReadOnly(errors.New("attempt to write a readonly database")) || IsReadOnly(nil) {
		t.Error("ReadOnly recognises an error that is not SQLite's")
	}

	for _, tc := range []struct {
		version int
		want    string
	}{
		{SchemaVersion() - 1, "older than this writ's"},
		{SchemaVersion() + 1, ErrNewerSchema.Error()},
	} {
		if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, tc.version)); err != nil {
			t.Fatal(err)
		}
		_, err := OpenReadOnly(ctx, path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("schema version %d: %v, want %q", tc.version, err, tc.want)
		}
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	if err := os.WriteFile(path, []byte("this is not SQLite, just a file that happens to be long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path, false); err == nil {
		t.Fatal("a text file opened as a database")
	}
}

// TestConcurrentFirstOpen has several connections race to create and
// migrate one new database: all succeed and the schema is applied once.
func TestConcurrentFirstOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	first, err := Open(context.Background(), path, true)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	os.Remove(path)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), path, true)
			if err != nil {
				errs <- err
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db, err := Open(context.Background(), path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := version(t, db); v != SchemaVersion() {
		t.Errorf("schema version %d after concurrent opens", v)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.incomplete-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

// TestBackupWhileWriting: a backup taken while another connection writes
// is a whole database, mode 0600, holding a prefix of the writes, with a
// revocation epoch of its own; nothing else is left in the directory.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop, done := make(chan struct{}), make(chan int)
	started := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, err := db.Exec(`INSERT INTO meta (name, value) VALUES (?, x'00')`, fmt.Sprint("row", n)); err != nil {
				t.Error(err)
			}
			if n++; n == 10 {
				close(started)
			}
		}
	}()
	<-started
	path := filepath.Join(dir, "backup.db")
	err = db.Backup(ctx, path)
	close(stop)
	written := <-done
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	if err := db.Backup(ctx, path); !errors.Is(err, os.ErrExist) {
		t.Errorf("backup over an existing file: %v, want ErrExist", err)
	}
	copied, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	var integrity string
	if err := copied.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check of the backup: %q, %v", integrity, err)
	}
	// A prefix: rows 0 to n-1, nothing else, at least the ten written first.
	var rows, maxRow int
	err = copied.QueryRow(`SELECT count(*), coalesce(max(CAST(substr(name, 4) AS INTEGER)), -1) FROM meta WHERE name LIKE 'row%'`).Scan(&rows, &maxRow)
	if err != nil || rows < 10 || rows > written || maxRow != rows-1 {
		t.Errorf("backup holds %d rows up to row%d of %d written, %v; want a prefix of at least 10", rows, maxRow, written, err)
	}
	var epoch, copyEpoch []byte
	db.QueryRow(`SELECT value FROM meta WHERE name = 'revocation_epoch'`).Scan(&epoch)
	copied.QueryRow(`SELECT value FROM meta WHERE name = 'revocation_epoch'`).Scan(&copyEpoch)
	if len(epoch) != 16 || len(copyEpoch) != 16 || string(epoch) == string(copyEpoch) {
		t.Errorf("epochs %x and %x: want two different ones", epoch, copyEpoch)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, "writ.db") && !strings.HasPrefix(name, "backup.db") || strings.Contains(name, ".incomplete-") {
			t.Errorf("left in the directory: %s", name)
		}
	}
}

// A backup restored twice (copied into place, written, copied into place
// again) gets a new revocation epoch each time a process first opens it to
// write: verifiers that followed the first restore read the second one
// whole, instead of taking its reused sequence numbers for changes they
// have seen.
func TestBackupRestoredTwice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	epochOf := func(db *DB) string {
		t.Helper()
		var e []byte
		if err := db.QueryRow(`SELECT value FROM meta WHERE name = 'revocation_epoch'`).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return string(e)
	}
	seen := map[string]bool{epochOf(db): true}
	restored := filepath.Join(dir, "restored.db")
	for i := range 2 {
		data, err := os.ReadFile(backup)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(restored)
		if err := os.WriteFile(restored, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, restored, false)
		if err != nil {
			t.Fatal(err)
		}
		e := epochOf(r)
		if seen[e] {
			t.Errorf("restore %d has an epoch seen before", i+1)
		}
		seen[e] = true
		r.Close()
		// Opened again, it is the same list.
		if r, err = Open(ctx, restored, false); err != nil {
			t.Fatal(err)
		}
		if epochOf(r) != e {
			t.Errorf("restore %d changed its epoch when opened again", i+1)
		}
		r.Close()
	}
}
