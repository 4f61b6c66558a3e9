package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/writ-dev/writ/internal/fsperm"
)

// foreignDatabase makes another program's SQLite database at path, in
// rollback journal mode, with a table and a row; pragmas are run on it first.
func foreignDatabase(t *testing.T, path string, pragmas string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(pragmas + `CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// rawDatabase makes a SQLite database at path, in rollback journal mode,
// with what sql makes.
func rawDatabase(t *testing.T, path string, schema string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(schema); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fingerprint is the file's contents' hash and which of SQLite's files
// beside it exist.
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fp := fmt.Sprintf("%x", sha256.Sum256(data))
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Lstat(path + suffix); err == nil {
			fp += " " + suffix
		}
	}
	return fp
}

// TestForeignFileRefused: a file that is not a writ database is refused by
// every way of opening one, writers included, with ErrNotWrit, and left
// byte for byte as it was, with no -wal or -shm file beside it.
func TestForeignFileRefused(t *testing.T) {
	ctx := context.Background()
	opens := map[string]func(string) (*DB, error){
		"Open":           func(p string) (*DB, error) { return Open(ctx, p, false) },
		"Open create":    func(p string) (*DB, error) { return Open(ctx, p, true) },
		"OpenForReading": func(p string) (*DB, error) { return OpenForReading(ctx, p) },
		"OpenReadOnly":   func(p string) (*DB, error) { return OpenReadOnly(ctx, p) },
	}
	files := map[string]func(t *testing.T, path string){
		"sqlite": func(t *testing.T, path string) { foreignDatabase(t, path, "") },
		"sqlite with a user_version": func(t *testing.T, path string) {
			foreignDatabase(t, path, "PRAGMA user_version = 2;")
		},
		"sqlite with writ's table names": func(t *testing.T, path string) {
			foreignDatabase(t, path, "PRAGMA user_version = 7; CREATE TABLE meta (a); CREATE TABLE keys (a); CREATE TABLE tokens (a);")
		},
		"sqlite of another application": func(t *testing.T, path string) {
			foreignDatabase(t, path, "PRAGMA application_id = 1; PRAGMA user_version = 1;")
		},
		"text": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("this is not SQLite, just a file that happens to be long enough to have a header, as long as one"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"short": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("SQLite format 3\x00"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	// Files shaped like a writ database made before writ set its
	// application_id: writ's table names and a schema version writ knows,
	// but not the columns writ's migrations make.
	for v := 1; v <= SchemaVersion(); v++ {
		files[fmt.Sprintf("sqlite with writ's table names at version %d", v)] = func(t *testing.T, path string) {
			rawDatabase(t, path, fmt.Sprintf(`PRAGMA user_version = %d;
				CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB);
				CREATE TABLE keys (id INTEGER PRIMARY KEY);
				CREATE TABLE tokens (id INTEGER PRIMARY KEY);`, v))
		}
		files[fmt.Sprintf("writ's schema %d less a column", v)] = func(t *testing.T, path string) {
			rawDatabase(t, path, strings.Join(migrations[:v], ";")+
				fmt.Sprintf(`; ALTER TABLE tokens DROP COLUMN issued_by; PRAGMA user_version = %d;`, v))
		}
	}
	for fname, make := range files {
		for oname, open := range opens {
			t.Run(fname+"/"+oname, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "other.db")
				make(t, path)
				before := fingerprint(t, path)
				db, err := open(path)
				if err == nil {
					db.Close()
				}
				if !errors.Is(err, ErrNotWrit) || !strings.Contains(err.Error(), path) {
					t.Errorf("got %v, want ErrNotWrit naming the file", err)
				}
				if after := fingerprint(t, path); after != before {
					t.Errorf("file changed: %s, was %s", after, before)
				}
			})
		}
	}
}

// TestFIFORefused: a path that reaches a named pipe is refused at once;
// opening it would wait for a writer to the pipe.
func TestFIFORefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pipe.db")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenForReading(ctx, path); !errors.Is(err, ErrNotWrit) {
		t.Errorf("OpenForReading: %v, want ErrNotWrit", err)
	}
	if _, err := OpenReadOnly(ctx, path); !errors.Is(err, ErrNotWrit) {
		t.Errorf("OpenReadOnly: %v, want ErrNotWrit", err)
	}
	if _, err := Open(ctx, path, true); !errors.Is(err, fsperm.ErrNotPrivate) {
		t.Errorf("Open: %v, want fsperm.ErrNotPrivate", err)
	}
}

// TestEmptyFile: an empty file is a new database only where one may be
// created; elsewhere it is not writ's, and stays empty.
func TestEmptyFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() (*DB, error){
		"Open":           func() (*DB, error) { return Open(ctx, path, false) },
		"OpenForReading": func() (*DB, error) { return OpenForReading(ctx, path) },
		"OpenReadOnly":   func() (*DB, error) { return OpenReadOnly(ctx, path) },
	} {
		if db, err := open(); !errors.Is(err, ErrNotWrit) {
			t.Errorf("%s: %v, want ErrNotWrit", name, err)
			if err == nil {
				db.Close()
			}
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file was written: %v, %v", fi, err)
	}
	db, err := Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := version(t, db); v != SchemaVersion() {
		t.Errorf("schema version %d, want %d", v, SchemaVersion())
	}
}

// TestLegacyDatabase: a writ database made before writ set its
// application_id is read as it is, refused by readers while its schema is
// old (without being written), and marked as writ's by the first writer.
func TestLegacyDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	// As an earlier writ made it: WAL, mode 0600, one version behind.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:SchemaVersion()-1] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion()-1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	before := fingerprint(t, path)
	for name, open := range map[string]func() (*DB, error){
		"OpenForReading": func() (*DB, error) { return OpenForReading(ctx, path) },
		"OpenReadOnly":   func() (*DB, error) { return OpenReadOnly(ctx, path) },
	} {
		db, err := open()
		if err == nil {
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "older than this writ's") {
			t.Errorf("%s on an old schema: %v, want it refused", name, err)
		}
		// OpenReadOnly leaves the -wal and -shm files it made: remove
		// them, they are not part of what the reader wrote.
		for _, suffix := range []string{"-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if after := fingerprint(t, path); after != before {
			t.Errorf("%s wrote the database", name)
		}
	}

	w, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	var id int
	if err := w.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil || id != applicationID || version(t, w) != SchemaVersion() {
		t.Errorf("after a writer: application_id %#x, version %d, %v", id, version(t, w), err)
	}
	w.Close()
	// At the current schema, a legacy database is read as it is.
	if w, err = Open(ctx, path, false); err != nil {
		t.Fatal(err)
	}
	w.Exec(`PRAGMA application_id = 0`)
	w.Close()
	before = fingerprint(t, path)
	if w, err = OpenForReading(ctx, path); err != nil {
		t.Fatalf("OpenForReading a legacy database: %v", err)
	}
	w.Close()
	if after := fingerprint(t, path); after != before {
		t.Error("OpenForReading wrote a legacy database")
	}
}

// TestReadersKeepLegacyDatabases: readers decide from the file as it is
// whether a database made before writ set its application_id is one they
// may read; they never switch one to WAL mode, whatever its schema
// version, and write nothing to one they read.
func TestReadersKeepLegacyDatabases(t *testing.T) {
	ctx := context.Background()
	readers := map[string]func(string) (*DB, error){
		"OpenForReading": func(p string) (*DB, error) { return OpenForReading(ctx, p) },
		"OpenReadOnly":   func(p string) (*DB, error) { return OpenReadOnly(ctx, p) },
	}
	for v := 1; v <= SchemaVersion(); v++ {
		for name, open := range readers {
			t.Run(fmt.Sprintf("rollback journal version %d/%s", v, name), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "writ.db")
				rawDatabase(t, path, strings.Join(migrations[:v], ";")+fmt.Sprintf("; PRAGMA user_version = %d;", v))
				before := fingerprint(t, path)
				db, err := open(path)
				if v < SchemaVersion() {
					if err == nil || !strings.Contains(err.Error(), "older than this writ's") {
						t.Errorf("got %v, want it refused as older", err)
					}
				} else if err != nil {
					t.Errorf("got %v, want it read", err)
				}
				if err == nil {
					_, werr := db.Exec(`INSERT INTO meta (name, value) VALUES ('reader', x'00')`)
					if werr == nil {
						t.Error("a reader wrote a legacy database")
					}
					db.Close()
				}
				if after := fingerprint(t, path); after != before {
					t.Errorf("file changed: %s, was %s", after, before)
				}
			})
		}
	}
}

// TestOpenRefusesSharedFiles: a writer refuses to keep its data in a file
// that others may read or that another user owns, however the path reaches
// it, and leaves that file as it was.
func TestOpenRefusesSharedFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writDB := func(t *testing.T, name string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		db, err := Open(ctx, path, true)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		return path
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (path, file string)
		root  bool
	}{
		{name: "empty file with mode 0644", setup: func(t *testing.T) (string, string) {
			path := filepath.Join(dir, "touched.db")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, 0o644) // whatever the umask
			return path, path
		}},
		{name: "symbolic link to an empty file with mode 0644", setup: func(t *testing.T) (string, string) {
			file := filepath.Join(dir, "target.db")
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(file, 0o644)
			link := filepath.Join(dir, "link.db")
			if err := os.Symlink(file, link); err != nil {
				t.Fatal(err)
			}
			return link, file
		}},
		{name: "symbolic link to a writ database with mode 0640", setup: func(t *testing.T) (string, string) {
			file := writDB(t, "shared.db")
			os.Chmod(file, 0o640)
			link := filepath.Join(dir, "shared-link.db")
			if err := os.Symlink(file, link); err != nil {
				t.Fatal(err)
			}
			return link, file
		}},
		{name: "writ database with a -wal file others may read", setup: func(t *testing.T) (string, string) {
			file := writDB(t, "wal.db")
			if err := os.WriteFile(file+"-wal", nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(file+"-wal", 0o644)
			return file, file
		}},
		{name: "writ database of another user", root: true, setup: func(t *testing.T) (string, string) {
			file := writDB(t, "nobody.db")
			if err := os.Chown(file, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return file, file
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("only root can give a file to another user")
			}
			path, file := tc.setup(t)
			before := fingerprint(t, file)
			for _, create := range []bool{false, true} {
				db, err := Open(ctx, path, create)
				if err == nil {
					db.Close()
				}
				if !errors.Is(err, fsperm.ErrNotPrivate) {
					t.Errorf("Open(create=%v): %v, want fsperm.ErrNotPrivate", create, err)
				}
			}
			if after := fingerprint(t, file); after != before {
				t.Errorf("file changed: %s, was %s", after, before)
			}
		})
	}
}

// TestOpenThroughSymlink: a database reached through a symbolic link is
// the file it points to, with SQLite's files beside that file; a link to
// nothing is never followed to create a database.
func TestOpenThroughSymlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "data", "writ.db")
	if err := os.Mkdir(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.db")
	if err := os.Symlink(file, dangling); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, dangling, true); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("create through a link to nothing: %v, want ErrNoDatabase", err)
		if err == nil {
			db.Close()
		}
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a database was created through the link: %v", err)
	}

	db, err := Open(ctx, file, true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, dangling, false)
	if err != nil {
		t.Fatalf("open through a link to a database: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO meta (name, value) VALUES ('probe', x'01')`); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(file + suffix); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s beside the database: %v, %v", suffix, fi, err)
		}
	}
}

// TestFileModesWithoutUmask: with umask 0, the database, its -wal and
// -shm files while it is open, and a backup are all 0600. Not parallel:
// the umask is the process's.
func TestFileModesWithoutUmask(t *testing.T) {
	ctx := context.Background()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	db, err := Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO meta (name, value) VALUES ('probe', x'01')`); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", backup} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", filepath.Base(p), fi, err)
		}
	}
}

// TestReadersRefuseLegacyLog: an older writ's database (no application_id)
// whose write-ahead log holds what identify did not judge is refused by
// readers, which would read it unjudged and checkpoint it into the file.
func TestReadersRefuseLegacyLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	rawDatabase(t, path, strings.Join(migrations, ";")+fmt.Sprintf("; PRAGMA user_version = %d; PRAGMA journal_mode = WAL;", SchemaVersion()))
	// A writer of its own keeps the log from being checkpointed, and adds
	// to it what is not writ's.
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE foreign_data (x); INSERT INTO foreign_data VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*DB, error){
		"OpenForReading": func(p string) (*DB, error) { return OpenForReading(ctx, p) },
		"OpenReadOnly":   func(p string) (*DB, error) { return OpenReadOnly(ctx, p) },
	} {
		before := fingerprint(t, path)
		db, err := open(path)
		if err == nil {
			db.Close()
			t.Errorf("%s read a legacy database with a log it did not judge", name)
		}
		if after := fingerprint(t, path); after != before {
			t.Errorf("%s: file changed: %s, was %s", name, after, before)
		}
	}
}
