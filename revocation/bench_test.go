package revocation

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/verifier/revoked"
)

const benchEntries = 1_000_000

var (
	benchOnce sync.Once
	benchDB   *sqlite.DB
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
		db, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"), true)
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
		}
		sqlitetest.InsertMany(b, db, "revocations", []string{"kind", "value", "effective_at", "expires_at", "reason", "actor", "created_at"},
			benchEntries, func(i int) []any { return []any{"token", benchJTIs[i], now, now + 3600, "", "bench", now} })
		tx, err := db.Begin(ctx)
		if err != nil {
			benchErr = err
			return
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
	l, err := NewList(Config{Store: benchDB, MaxTTL: time.Hour})
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
// asking the database (for the token's entry, as the storage contract
// reads it) instead of a snapshot.
func BenchmarkSQLitePointQuery(b *testing.B) {
	l, jtis := benchList(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.store.RevocationGet(ctx, store.RevokeToken, jtis[(i*977)%benchEntries]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
