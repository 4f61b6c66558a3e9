package revocation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier/revoked"
)

const benchEntries = 1_000_000

var (
	benchOnce sync.Once
	benchDB   *sql.DB
	benchJTIs []string
	benchErr  error
)

// benchList returns a database holding benchEntries revoked tokens, made
// once per test binary run (in a directory removed at exit by the OS's tmp
// policy; the benchmark machine is disposable).
func benchList(b *testing.B) (*List, []string) {
	b.Helper()
	benchOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			benchErr = err
			return
		}
		ctx := context.Background()
		db, err := store.Open(ctx, filepath.Join(dir, "bench.db"), true)
		if err != nil {
			benchErr = err
			return
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			benchErr = err
			return
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO revocations (kind, value, effective_at, expires_at, reason, actor, created_at)
			VALUES ('token', ?, ?, ?, '', 'bench', ?)`)
		if err != nil {
			benchErr = err
			return
		}
		now := time.Now().Unix()
		benchJTIs = make([]string, benchEntries)
		for i := range benchJTIs {
			var id [16]byte
			rand.Read(id[:])
			benchJTIs[i] = b64.Encode(id[:])
			if _, err := stmt.ExecContext(ctx, benchJTIs[i], now, now+3600, now); err != nil {
				benchErr = err
				return
			}
		}
		if err := repack(ctx, tx); err != nil {
			benchErr = err
			return
		}
		if err := tx.Commit(); err != nil {
			benchErr = err
			return
		}
		benchDB = db
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	l, err := NewList(Config{DB: benchDB, MaxTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return l, benchJTIs
}

// BenchmarkSnapshotLoad measures loading a million entries from SQLite into
// a fresh snapshot, and the snapshot's memory per entry. (The lookups in
// a snapshot are measured in verifier/revoked.)
func BenchmarkSnapshotLoad(b *testing.B) {
	l, _ := benchList(b)
	b.ReportAllocs()
	var before, after runtime.MemStats
	var s *revoked.Snapshot
	for b.Loop() {
		b.StopTimer()
		s = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		var err error
		if s, err = revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: l}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.Len() != benchEntries {
		b.Fatalf("snapshot holds %d entries, want %d", s.Len(), benchEntries)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchEntries, "B/entry")
	runtime.KeepAlive(s)
}

// BenchmarkSQLitePointQuery is the cost a verifier would pay per token by
// asking the database instead of a snapshot.
func BenchmarkSQLitePointQuery(b *testing.B) {
	l, jtis := benchList(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var n int
		if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM revocations WHERE kind = 'token' AND value = ?`, jtis[(i*977)%benchEntries]).Scan(&n); err != nil || n != 1 {
			b.Fatal(err, n)
		}
		i++
	}
}
