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

	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
)

// TestReadOnlyDatabase runs writ as the database's owner without write
// access to the database or its directory (the database is its owner's
// alone, mode 0600: another user may not read it either). Root, whom file
// modes do not stop, runs writ as nobody, who owns the database. Commands
// that write fail with a clear error and a hint, and change nothing;
// commands that only read work whenever SQLite can read the file: while
// writ serve has it open.
func TestReadOnlyDatabase(t *testing.T) {
	dir, err := os.MkdirTemp("", "writ-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	// chown gives dir and the files in it to nobody when root runs the
	// test.
	chown := func(path string) {
		t.Helper()
		if cred == nil {
			return
		}
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chown(dir)
	bin := filepath.Join(dir, "writ")
	copyFile(t, os.Args[0], bin, 0o755)

	const masterKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" // test-only
	db := filepath.Join(dir, "writ.db")
	env := append(os.Environ(), "WRIT_TEST_AS_WRIT=1", "WRIT_DB="+db, "WRIT_ISSUER=https://issuer.test",
		"WRIT_MASTER_KEY="+masterKey, "WRIT_MASTER_KEY_FILE=", "WRIT_OUTPUT=")
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}
	writ := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := command(args...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("writ %s: %v", strings.Join(args, " "), err)
		}
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := writ(args...)
		if code != 0 {
			t.Fatalf("writ %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	ok("init")
	token := strings.TrimSpace(ok("token", "issue", "--subject", "alice", "--audience", "api"))
	var listed []struct{ JTI string }
	if err := json.Unmarshal([]byte(ok("token", "list", "--output", "json")), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("token list: %v, %d tokens", err, len(listed))
	}
	jti := listed[0].JTI
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, []byte(ok("jwks")), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := []string{"verify", "--jwks", jwks, "--issuer", "https://issuer.test", "--audience", "api", "--revocations", db, token}
	// Commands that only read, with write access, leave no -wal or -shm
	// file behind (a read-only handle would).
	ok(verify...)
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + suffix); err == nil {
			t.Errorf("writ.db%s left behind by commands that only read", suffix)
		}
	}
	reads := [][]string{{"token", "list"}, {"keys", "list"}, {"jwks"}, {"audit"}, {"revocations", "list"}}

	// Take write access away, leaving the database its owner's alone.
	readOnly := func() {
		t.Helper()
		if err := os.Chmod(db, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	writable := func() {
		t.Helper()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(db, 0o600); err != nil {
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
	_, stderr, code := writ("token", "revoke", jti)
	checkRefused(stderr, code, "token revoke")
	for _, args := range append(reads, verify) {
		_, stderr, code = writ(args...)
		checkRefused(stderr, code, args[0])
		if !strings.Contains(stderr, "-shm files exist") {
			t.Errorf("%s: hint %q does not say what SQLite needs to read", args[0], stderr)
		}
	}

	// While writ serve holds the database open, its -wal and -shm files
	// exist: the reader verifies, and still may not revoke.
	writable()
	serve := command("serve", "--addr", "127.0.0.1:0")
	waitListening(t, serve)
	readOnly()
	if out, stderr, code := writ(verify...); code != 0 || !strings.Contains(out, `"sub":"alice"`) {
		t.Errorf("verify --revocations without write access: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, args := range reads {
		if out, stderr, code := writ(args...); code != 0 || out == "" {
			t.Errorf("writ %s without write access: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
	// It may back it up, into a directory it may write.
	out, err := os.MkdirTemp("", "writ-readonly-backup-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(out)
	chown(out)
	if _, stderr, code := writ("backup", filepath.Join(out, "copy.db")); code != 0 {
		t.Errorf("backup without write access: exit %d, %q", code, stderr)
	}
	_, stderr, code = writ("token", "revoke", jti)
	checkRefused(stderr, code, "token revoke")
	_, stderr, code = writ("token", "revoke", "--subject", "alice")
	checkRefused(stderr, code, "token revoke --subject")

	// Nothing was written: the token is still valid, and the database is
	// intact and writable.
	writable()
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Errorf("writ serve: %v", err)
	}
	if out := ok("revocations", "list", "--output", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("revocations after refused writes: %s; want none", out)
	}
	held, err := sqlite.OpenForReading(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	sqlitetest.CheckIntegrity(t, held)
	held.Close()
	ok("token", "revoke", jti)
	if _, stderr, code := writ(verify...); code != 1 || !strings.Contains(stderr, "revoked") {
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
