package revocation_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
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

func revoker(listFile, dsn string) int {
	ctx := context.Background()
	db, err := openDSN(ctx, dsn)
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

// openDSN opens the database that dsn names: a PostgreSQL URL or an
// SQLite file.
func openDSN(ctx context.Context, dsn string) (store.Store, error) {
	if strings.HasPrefix(dsn, "postgres://") {
		return postgres.Open(ctx, dsn, false)
	}
	return sqlite.Open(ctx, dsn, false)
}

func revokerCmd(t *testing.T, dsn string, jtis []string) *exec.Cmd {
	t.Helper()
	list := t.TempDir() + "/jtis"
	if err := os.WriteFile(list, []byte(strings.Join(jtis, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WRIT_REVOKER="+list, "WRIT_REVOKER_DB="+dsn)
	return cmd
}

// issuedDatabase makes a database of engine ("sqlite" or "postgres")
// with n tokens issued by the real issuer over seven subjects, closes it,
// and returns its name for openDSN and the tokens' jtis.
func issuedDatabase(t *testing.T, engine string, n int) (dsn string, jtis []string) {
	t.Helper()
	ctx := context.Background()
	dsn, db := createDatabase(t, engine)
	defer db.Close()
	iss, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: newRing(t, db), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	jtis = make([]string, n)
	for i := range jtis {
		tok, err := iss.Issue(ctx, issuer.Request{Subject: fmt.Sprintf("user-%d", i%7), Audience: []string{"api"}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		jtis[i] = tok.ID
	}
	return dsn, jtis
}

// createDatabase creates a database of engine ("sqlite" or "postgres")
// and returns its name for openDSN and the open database, which the caller
// closes.
func createDatabase(t *testing.T, engine string) (dsn string, db store.Store) {
	t.Helper()
	var err error
	switch engine {
	case "sqlite":
		dsn = filepath.Join(t.TempDir(), "writ.db")
		db, err = sqlite.Open(context.Background(), dsn, true)
	case "postgres":
		dsn = pgtest.Start(t)
		db, err = postgres.Open(context.Background(), dsn, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dsn, db
}

// newRing returns a keyring of db with an active EdDSA key, on the real
// clock.
func newRing(t *testing.T, db store.Store) *keys.Ring {
	t.Helper()
	ctx := context.Background()
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Ensure(ctx, verifier.EdDSA); err != nil {
		t.Fatal(err)
	}
	return ring
}

// checkConsistent opens the database afresh and checks (for SQLite) its
// integrity, that token entries, packed entries, sequence numbers and
// audit events agree, and that every jti in acked is revoked, in the
// table, the packed table and a fresh snapshot.
func checkConsistent(t *testing.T, dsn string, acked []string) {
	t.Helper()
	ctx := context.Background()
	db, err := openDSN(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if lite, ok := db.(*sqlite.DB); ok {
		sqlitetest.CheckIntegrity(t, lite)
	}
	var rows, seq int64
	entries := map[string]int{}
	if err := db.RevocationEach(ctx, store.RevocationFilter{}, func(r *store.RevocationRow) error {
		seq = max(seq, r.Seq)
		if r.Kind == "token" {
			rows++
			entries[r.Value]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	size, err := db.PackedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if packed := size / 24; rows != packed || seq != rows {
		t.Errorf("%d token rows, %d packed entries, last seq %d: want all equal", rows, packed, seq)
	}
	events, err := db.AuditList(ctx, store.AuditFilter{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var audits int64
	for _, ev := range events {
		if ev.Action == audit.Revoke {
			audits++
		}
	}
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
		if n := entries[jti]; n != 1 {
			t.Errorf("acknowledged revocation of %s lost (%d rows)", jti, n)
		}
		if !in[revoked.TokenIDOf(jti)] {
			t.Errorf("acknowledged revocation of %s missing from the feed", jti)
		}
	}
}

// engines are the storage engines the durability tests run on.
var engines = []string{"sqlite", "postgres"}

// TestConcurrentRevokers runs two processes revoking at once, with overlap:
// both succeed, nobody sees "database is locked", nothing is lost.
func TestConcurrentRevokers(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testConcurrentRevokers(t, engine) })
	}
}

func testConcurrentRevokers(t *testing.T, engine string) {
	dsn, jtis := issuedDatabase(t, engine, 120)
	a := revokerCmd(t, dsn, jtis[:80])
	b := revokerCmd(t, dsn, jtis[40:])
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
	checkConsistent(t, dsn, acked)
}

// TestKillDuringRevocation kills a revoking process with SIGKILL at several
// points: the database stays consistent and every revocation it had
// acknowledged is there.
func TestKillDuringRevocation(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testKillDuringRevocation(t, engine) })
	}
}

func testKillDuringRevocation(t *testing.T, engine string) {
	dsn, jtis := issuedDatabase(t, engine, 200)
	var acked []string
	start := 0
	for _, after := range []int{1, 7, 23} {
		cmd := revokerCmd(t, dsn, jtis[start:])
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
		checkConsistent(t, dsn, acked)
		// The next process starts after the last acknowledged revocation; the
		// one in flight at the kill may or may not have committed, and
		// revoking it again is harmless.
		start = len(acked)
	}
	if len(acked) < 31 {
		t.Errorf("only %d acknowledged revocations", len(acked))
	}
}

// TestConcurrentRevocations: revocations made at once through one list
// share transactions, and each caller still gets its own outcome: its
// entry (the same one for two revocations of one token), or its error
// (an unknown token is refused alone, without failing its transaction);
// everything acknowledged is durable.
func TestConcurrentRevocations(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dsn, jtis := issuedDatabase(t, engine, 40)
			db, err := openDSN(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			counted := &beginCounter{Store: db}
			l, err := revocation.NewList(revocation.Config{Store: counted, MaxTTL: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			const calls = 64
			entries := make([]revocation.Entry, calls)
			errs := make([]error, calls)
			var wg sync.WaitGroup
			for i := range calls {
				jti := jtis[i%len(jtis)] // the first 24 twice
				if i >= 54 {
					jti = fmt.Sprintf("unknown-%d", i)
				}
				wg.Go(func() { entries[i], errs[i] = l.RevokeToken(ctx, jti, revocation.Options{Reason: "test"}) })
			}
			wg.Wait()
			for i := range calls {
				switch {
				case i >= 54:
					if !errors.Is(errs[i], revocation.ErrUnknownToken) {
						t.Errorf("revocation %d of an unknown token: %v", i, errs[i])
					}
				case errs[i] != nil:
					t.Errorf("revocation %d: %v", i, errs[i])
				case entries[i].Value != jtis[i%len(jtis)] || i >= len(jtis) && entries[i].Seq != entries[i-len(jtis)].Seq:
					t.Errorf("revocation %d: entry %+v", i, entries[i])
				}
			}
			db.Close()
			checkConsistent(t, dsn, jtis)
			// The first caller commits alone while the others queue:
			// they share the next transactions, and the refusals of
			// unknown tokens do not make theirs run again alone.
			if n := counted.n.Load(); n > calls/2 {
				t.Errorf("%d revocations in %d transactions: not grouped", calls, n)
			}
		})
	}
}

// beginCounter counts the write transactions begun on a Store.
type beginCounter struct {
	store.Store
	n atomic.Int64
}

func (b *beginCounter) Begin(ctx context.Context) (store.Tx, error) {
	b.n.Add(1)
	return b.Store.Begin(ctx)
}
