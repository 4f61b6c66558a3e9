package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// TestReadOnlyDatabase runs writ as a user who may read the database but
// not write it or its directory: root runs it as nobody, any other user
// runs it after removing its own write permission. Commands that write
// fail with a clear error and a hint, and change nothing; verifying with
// --revocations only reads, so it works whenever SQLite can read the file.
func TestReadOnlyDatabase(t *testing.T) {
	dir, err := os.MkdirTemp("", "writ-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	// Readable and executable by everyone: nobody runs the copy of this
	// test binary in it, and reads the database.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "writ")
	copyFile(t, os.Args[0], bin, 0o755)

	const masterKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" // test-only
	db := filepath.Join(dir, "writ.db")
	env := append(os.Environ(), "WRIT_TEST_AS_WRIT=1", "WRIT_DB="+db, "WRIT_ISSUER=https://issuer.test",
		"WRIT_MASTER_KEY="+masterKey, "WRIT_MASTER_KEY_FILE=", "WRIT_OUTPUT=")
	writAs := func(reader bool, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		if reader && os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("writ %s: %v", strings.Join(args, " "), err)
		}
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	owner := func(args ...string) string {
		t.Helper()
		out, errOut, code := writAs(false, args...)
		if code != 0 {
			t.Fatalf("writ %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	owner("init")
	token := strings.TrimSpace(owner("token", "issue", "--subject", "alice", "--audience", "api"))
	var listed []struct{ JTI string }
	if err := json.Unmarshal([]byte(owner("token", "list", "--output", "json")), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("token list: %v, %d tokens", err, len(listed))
	}
	jti := listed[0].JTI
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, []byte(owner("jwks")), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := []string{"verify", "--jwks", jwks, "--issuer", "https://issuer.test", "--audience", "api", "--revocations", db, token}
	// Commands that only read, run by the owner, leave no -wal or -shm
	// file behind (a read-only handle would, with the owner's mode, and
	// lock other users out).
	if _, _, code := writAs(false, verify...); code != 0 {
		t.Fatalf("verify by the owner: exit %d", code)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + suffix); err == nil {
			t.Errorf("writ.db%s left behind by commands that only read", suffix)
		}
	}
	reads := [][]string{{"token", "list"}, {"keys", "list"}, {"jwks"}, {"audit"}, {"revocations", "list"}}

	// Take write access away from the reader.
	readOnly := func() {
		t.Helper()
		for _, p := range []string{db, dir} {
			mode := os.FileMode(0o444)
			if p == dir {
				mode = 0o555
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	writable := func() {
		t.Helper()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Readable by others, as for a verifier running as another user:
		// SQLite gives the -wal and -shm files the database's mode.
		if err := os.Chmod(db, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkRefused := func(stderr string, code int, what string) {
		t.Helper()
		if code != 1 || !strings.Contains(stderr, "writ: error: ") || !strings.Contains(stderr, "readonly database") || !strings.Contains(stderr, "writ: hint: ") {
			t.Errorf("%s on a read-only database: exit %d, stderr %q; want exit 1, the error and a hint", what, code, stderr)
		}
	}

	// With no writer running, the -wal and -shm files do not exist and
	// nobody may create them: SQLite cannot even read.
	readOnly()
	_, stderr, code := writAs(true, "token", "revoke", jti)
	checkRefused(stderr, code, "token revoke")
	for _, args := range append(reads, verify) {
		_, stderr, code = writAs(true, args...)
		checkRefused(stderr, code, args[0])
		if !strings.Contains(stderr, "-shm files exist") {
			t.Errorf("%s: hint %q does not say what SQLite needs to read", args[0], stderr)
		}
	}

	// While a writer holds the database open, as writ serve does, its -wal
	// and -shm files exist: the reader verifies, and still may not revoke.
	writable()
	held, err := store.Open(context.Background(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	conn, err := held.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // Close twice is harmless
	readOnly()
	if out, stderr, code := writAs(true, verify...); code != 0 || !strings.Contains(out, `"sub":"alice"`) {
		t.Errorf("verify --revocations by a reader: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, args := range reads {
		if out, stderr, code := writAs(true, args...); code != 0 || out == "" {
			t.Errorf("writ %s by a reader: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
	// A reader may back it up, into a directory of its own.
	out, err := os.MkdirTemp("", "writ-readonly-backup-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(out)
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := writAs(true, "backup", filepath.Join(out, "copy.db")); code != 0 {
		t.Errorf("backup by a reader: exit %d, %q", code, stderr)
	}
	_, stderr, code = writAs(true, "token", "revoke", jti)
	checkRefused(stderr, code, "token revoke")
	_, stderr, code = writAs(true, "token", "revoke", "--subject", "alice")
	checkRefused(stderr, code, "token revoke --subject")

	// Nothing was written: the token is still valid, and the owner's
	// database is intact and writable.
	writable()
	var entries int
	if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM revocations").Scan(&entries); err != nil || entries != 0 {
		t.Errorf("revocations after refused writes: %d, %v; want 0", entries, err)
	}
	var integrity string
	if err := conn.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check: %q, %v", integrity, err)
	}
	conn.Close()
	held.Close()
	owner("token", "revoke", jti)
	if _, stderr, code := writAs(false, verify...); code != 1 || !strings.Contains(stderr, "revoked") {
		t.Errorf("verify after the owner's revocation: exit %d, %q", code, stderr)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
