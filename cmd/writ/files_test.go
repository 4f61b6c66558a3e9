package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
)

// TestForeignDatabaseRefused: every command, reading or writing, run on
// another program's SQLite file refuses it, says so, and leaves it byte for
// byte as it was, with no -wal or -shm file beside it; verify with it as
// the revocation list fails closed.
func TestForeignDatabaseRefused(t *testing.T) {
	const masterKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" // test-only
	for _, v := range []string{"WRIT_DB", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT", "WRIT_FEED_TOKEN"} {
		t.Setenv(v, "")
	}
	t.Setenv("WRIT_MASTER_KEY", masterKey)
	t.Setenv("WRIT_ISSUER", "https://issuer.test")
	dir := t.TempDir()

	// A real token and key set, from a writ database elsewhere.
	writDB := filepath.Join(dir, "writ.db")
	if code, _, stderr := runCLI(t, "", "init", "--db", writDB); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	_, token, _ := runCLI(t, "", "token", "issue", "--db", writDB, "--subject", "alice", "--audience", "api")
	_, jwks, _ := runCLI(t, "", "jwks", "--db", writDB)
	jwksFile := filepath.Join(dir, "jwks.json")
	writeFile(t, jwksFile, jwks)

	// Another program's file, and files shaped like a writ database made
	// before writ set its application_id: writ's table names and a schema
	// version writ knows, but other columns.
	schemas := map[string]func(t *testing.T, path string){"notes": func(t *testing.T, path string) { sqlitetest.Foreign(t, path) }}
	for v := 1; v <= sqlite.SchemaVersion(); v++ {
		schemas[fmt.Sprintf("writ's table names at version %d", v)] = func(t *testing.T, path string) { sqlitetest.LookAlike(t, path, v) }
	}
	for name, create := range schemas {
		t.Run(name, func(t *testing.T) {
			foreign := filepath.Join(t.TempDir(), "notes.db")
			create(t, foreign)
			if err := os.Chmod(foreign, 0o600); err != nil {
				t.Fatal(err)
			}
			refusedByEveryCommand(t, foreign, token, jwksFile)
		})
	}
}

// refusedByEveryCommand checks that every command refuses the file
// foreign as not a writ database and leaves it as it was.
func refusedByEveryCommand(t *testing.T, foreign, token, jwksFile string) {
	state := func() string {
		data, err := os.ReadFile(foreign)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%x", sha256.Sum256(data))
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Lstat(foreign + suffix); err == nil {
				s += " " + suffix
			}
		}
		return s
	}
	before := state()
	dir := filepath.Dir(foreign)
	for _, args := range [][]string{
		{"verify", "--jwks", jwksFile, "--audience", "api", "--revocations", foreign, strings.TrimSpace(token)},
		{"token", "list", "--db", foreign},
		{"keys", "list", "--db", foreign},
		{"jwks", "--db", foreign},
		{"audit", "--db", foreign},
		{"revocations", "list", "--db", foreign},
		{"backup", "--db", foreign, filepath.Join(dir, "copy.db")},
		{"token", "issue", "--db", foreign, "--subject", "bob", "--audience", "api"},
		{"init", "--db", foreign},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", args...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "writ: error: ") || !strings.Contains(stderr, "not a writ database") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and an error saying it is not a writ database", code, stdout, stderr)
			}
			if after := state(); after != before {
				t.Errorf("file changed: %s, was %s", after, before)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "copy.db")); err == nil {
		t.Error("backup of a foreign file made a copy")
	}
}

// TestInitRefusesSharedFile: writ init on a path that reaches a file others
// may read (one touched with umask 022, or reached through a symbolic
// link) refuses it with the fix, and leaves it empty; once it is 0600,
// init makes it the database.
func TestInitRefusesSharedFile(t *testing.T) {
	for _, v := range []string{"WRIT_DB", "WRIT_ISSUER", "WRIT_MASTER_KEY", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "touched.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{file, link} {
		code, _, stderr := runCLI(t, "", "init", "--db", db, "--master-key-file", filepath.Join(dir, "writ.key"))
		if code != 1 || !strings.Contains(stderr, "has mode 0644") || !strings.Contains(stderr, "chmod 600 "+file) {
			t.Errorf("init --db %s: exit %d, stderr %q; want exit 1 and chmod 600", filepath.Base(db), code, stderr)
		}
		if fi, err := os.Stat(file); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o644 {
			t.Errorf("init --db %s changed the file: %v, %v", filepath.Base(db), fi, err)
		}
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "", "init", "--db", link, "--master-key-file", filepath.Join(dir, "writ.key")); code != 0 {
		t.Fatalf("init on an empty file of mode 0600: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runCLI(t, "", "keys", "list", "--db", link, "--master-key-file", filepath.Join(dir, "writ.key")); code != 0 || !strings.Contains(stdout, "active") {
		t.Errorf("keys list: exit %d, %q, %q", code, stdout, stderr)
	}
}

// TestInitLeavesNoKeyWithoutDatabase: writ init that makes no database
// (here through a link to a missing file, or on a file others may read)
// leaves no master key file behind, which the next init would take for
// the key of a database it never sealed anything for; a key file that
// was there already stays.
func TestInitLeavesNoKeyWithoutDatabase(t *testing.T) {
	for _, v := range []string{"WRIT_DB", "WRIT_ISSUER", "WRIT_MASTER_KEY", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	dangling := filepath.Join(dir, "dang.db")
	if err := os.Symlink(filepath.Join(dir, "nonexist.db"), dangling); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared.db")
	if err := os.WriteFile(shared, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, db := range map[string]string{"dangling link": dangling, "shared file": shared} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", "init", "--db", db)
			if code != 1 || strings.Contains(stderr, "created master key") {
				t.Errorf("exit %d, stderr %q; want exit 1 and no key created", code, stderr)
			}
			if _, err := os.Lstat(db + ".key"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("init left a master key file behind: %v", err)
			}
		})
	}
	// A key file that init did not make is never removed.
	key := filepath.Join(dir, "mine.key")
	writeFile(t, key, "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n")
	if code, _, _ := runCLI(t, "", "init", "--db", dangling, "--master-key-file", key); code != 1 {
		t.Errorf("init through a dangling link: exit %d, want 1", code)
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("init removed a key file it did not make: %v", err)
	}
}
