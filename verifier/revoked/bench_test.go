package revoked_test

import (
	"context"
	"crypto/rand"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

const benchEntries = 1_000_000

var (
	benchOnce  sync.Once
	benchJTIs  []string
	benchBatch *revoked.Batch
)

// benchList returns a batch of benchEntries revoked tokens and their jtis,
// made once per test binary run.
func benchList() (*revoked.Batch, []string) {
	benchOnce.Do(func() {
		now := time.Now().Unix()
		benchJTIs = make([]string, benchEntries)
		benchBatch = &revoked.Batch{Seq: benchEntries, Tokens: make([]revoked.RevokedToken, benchEntries)}
		for i := range benchJTIs {
			var id [16]byte
			rand.Read(id[:])
			benchJTIs[i] = b64.Encode(id[:])
			benchBatch.Tokens[i] = revoked.RevokedToken{ID: id, EffectiveAt: now, ExpiresAt: now + 3600}
		}
	})
	return benchBatch, benchJTIs
}

// staticFeed serves one batch.
type staticFeed struct{ b *revoked.Batch }

func (f staticFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	if since > 0 {
		return &revoked.Batch{Seq: f.b.Seq}, nil
	}
	return f.b, nil
}

// BenchmarkSnapshotApply measures loading a million entries, already in
// memory, into a fresh snapshot, and the snapshot's memory per entry.
// (revocation's BenchmarkSnapshotLoad reads them from SQLite.)
func BenchmarkSnapshotApply(b *testing.B) {
	batch, _ := benchList()
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
		if s, err = revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: staticFeed{batch}}); err != nil {
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

// BenchmarkCheckRevocation measures one lookup among a million entries,
// including the decoding of the jti, for revoked and valid tokens: held
// one by one (as the JSON feed hands them over), and in a snapshot file's
// filter (filter/...).
func BenchmarkCheckRevocation(b *testing.B) {
	batch, jtis := benchList()
	s, err := revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: staticFeed{batch}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	claims := make([]verifier.Claims, 1024)
	for i := range claims {
		claims[i] = verifier.Claims{ID: jtis[i*977], Subject: "alice", KeyID: "kid", IssuedAt: time.Now()}
	}
	b.Run("revoked", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if s.CheckRevocation(ctx, &claims[i&1023]) == nil {
				b.Fatal("revoked token passed")
			}
			i++
		}
	})
	valid := make([]verifier.Claims, 1024)
	for i := range valid {
		var id [16]byte
		rand.Read(id[:])
		valid[i] = verifier.Claims{ID: b64.Encode(id[:]), Subject: "alice", KeyID: "kid", IssuedAt: time.Now()}
	}
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.CheckRevocation(ctx, &valid[i&1023]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	// The same million revoked tokens in a snapshot file's filter, built
	// against a million other recorded tokens, among them the valid ones.
	revokedIDs := make([]cascade.ID, len(batch.Tokens))
	for i, t := range batch.Tokens {
		revokedIDs[i] = t.ID
	}
	others := make([]cascade.ID, benchEntries)
	for i := range others {
		if i < len(valid) {
			others[i] = revoked.TokenIDOf(valid[i].ID)
		} else {
			rand.Read(others[i][:])
		}
	}
	filter, err := cascade.Build(revokedIDs, others)
	if err != nil {
		b.Fatal(err)
	}
	universe := time.Now().Add(time.Minute).Unix()
	fs, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: staticFeed{&revoked.Batch{Seq: 1, Filter: filter, Universe: universe}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("filter/revoked", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if fs.CheckRevocation(ctx, &claims[i&1023]) == nil {
				b.Fatal("revoked token passed")
			}
			i++
		}
	})
	b.Run("filter/valid", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := fs.CheckRevocation(ctx, &valid[i&1023]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkMapBaseline is the comparison point: a Go map of 16-byte keys
// holding the same million entries, and its memory per entry.
func BenchmarkMapBaseline(b *testing.B) {
	_, jtis := benchList()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := make(map[revoked.TokenID]struct{})
	for _, j := range jtis {
		m[revoked.TokenIDOf(j)] = struct{}{}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchEntries, "B/entry")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := m[revoked.TokenIDOf(jtis[(i*977)%benchEntries])]; !ok {
			b.Fatal("missing")
		}
		i++
	}
}
