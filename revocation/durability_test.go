package revocation_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestMain lets the durability tests run this test binary as a separate
// revoking process: with WRIT_REVOKER set, it revokes the jtis listed in
// that file, printing each one once RevokeToken has returned.
func TestMain(m *testing.M) {
	if list := os.Getenv("WRIT_REVOKER"); list != "" {
		os.Exit(revoker(list, os.Getenv("WRIT_REVOKER_DB")))
	}
	os.Exit(m.Run())
}

func revoker(listFile, dbPath string) int {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: 24 * time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	data, err := os.ReadFile(listFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for _, jti := range strings.Fields(string(data)) {
		if _, err := l.RevokeToken(ctx, jti, revocation.Options{Actor: fmt.Sprint("pid ", os.Getpid())}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Acknowledge only after RevokeToken returned: that is the promise.
		fmt.Fprintln(out, jti)
		out.Flush()
	}
	return 0
}

func revokerCmd(t *testing.T, dbPath string, jtis []string) *exec.Cmd {
	t.Helper()
	list := t.TempDir() + "/jtis"
	if err := os.WriteFile(list, []byte(strings.Join(jtis, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WRIT_REVOKER="+list, "WRIT_REVOKER_DB="+dbPath)
	return cmd
}

// issueMany issues n tokens with the real issuer, over seven subjects.
func issueMany(t *testing.T, e *env, n int) []string {
	t.Helper()
	jtis := make([]string, n)
	for i := range jtis {
		jtis[i] = e.issue(t, fmt.Sprintf("user-%d", i%7), time.Hour).ID
	}
	return jtis
}

// checkConsistent opens the database afresh and checks its integrity and
// that every jti in acked is revoked, in the table, the packed table and a
// fresh snapshot.
func checkConsistent(t *testing.T, path string, acked []string) {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.Open(t, path)
	sqlitetest.CheckIntegrity(t, db)
	rows := int64(sqlitetest.Count(t, db, "revocations", sqlitetest.Where{"kind": "token"}))
	size, err := db.PackedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	packed := size / 24
	var seq int64
	if err := db.RevocationEach(ctx, store.RevocationFilter{}, func(r *store.RevocationRow) error {
		seq = max(seq, r.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rows != packed || seq != rows {
		t.Errorf("%d token rows, %d packed entries, last seq %d: want all equal", rows, packed, seq)
	}
	audits := int64(sqlitetest.Count(t, db, "audit", sqlitetest.Where{"action": "token.revoke"}))
	if audits != rows {
		t.Errorf("%d revocations but %d audit events", rows, audits)
	}
	l, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := map[revoked.TokenID]bool{}
	for _, tok := range b.Tokens {
		in[tok.ID] = true
	}
	for _, jti := range acked {
		if n := sqlitetest.Count(t, db, "revocations", sqlitetest.Where{"kind": "token", "value": jti}); n != 1 {
			t.Errorf("acknowledged revocation of %s lost (%d rows)", jti, n)
		}
		if !in[revoked.TokenIDOf(jti)] {
			t.Errorf("acknowledged revocation of %s missing from the feed", jti)
		}
	}
}

// TestConcurrentRevokers runs two processes revoking at once, with overlap:
// both succeed, nobody sees "database is locked", nothing is lost.
func TestConcurrentRevokers(t *testing.T) {
	e := newEnv(t)
	jtis := issueMany(t, e, 120)
	e.db.Close()
	a := revokerCmd(t, e.path, jtis[:80])
	b := revokerCmd(t, e.path, jtis[40:])
	var outA, outB, errA, errB strings.Builder
	a.Stdout, a.Stderr, b.Stdout, b.Stderr = &outA, &errA, &outB, &errB
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	errWaitA, errWaitB := a.Wait(), b.Wait()
	if errWaitA != nil || errWaitB != nil {
		t.Fatalf("revokers failed: %v: %s / %v: %s", errWaitA, errA.String(), errWaitB, errB.String())
	}
	acked := append(strings.Fields(outA.String()), strings.Fields(outB.String())...)
	if len(acked) != 160 {
		t.Errorf("%d acknowledgements, want 160", len(acked))
	}
	checkConsistent(t, e.path, acked)
}

// TestKillDuringRevocation kills a revoking process with SIGKILL at several
// points: the database stays consistent and every revocation it had
// acknowledged is there.
func TestKillDuringRevocation(t *testing.T) {
	e := newEnv(t)
	jtis := issueMany(t, e, 200)
	e.db.Close()
	var acked []string
	start := 0
	for _, after := range []int{1, 7, 23} {
		cmd := revokerCmd(t, e.path, jtis[start:])
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for i := 0; i < after && sc.Scan(); i++ {
			acked = append(acked, sc.Text())
		}
		// Mid-flight: the process is inside its next revocation, or about to be.
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // acknowledgements already written before the kill count too
			acked = append(acked, sc.Text())
		}
		cmd.Wait()
		checkConsistent(t, e.path, acked)
		// The next process starts after the last acknowledged revocation; the
		// one in flight at the kill may or may not have committed, and
		// revoking it again is harmless.
		start = len(acked)
	}
	if len(acked) < 31 {
		t.Errorf("only %d acknowledged revocations", len(acked))
	}
}
