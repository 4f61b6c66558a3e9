package revocation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
)

// edgeBenchList returns a list over a new database whose ledger holds
// revoked tokens, each revoked by its own entry, and others unrevoked, all
// issued two hours ago and valid for a day: inserted in bulk, one
// transaction per table, and the packed copy made as Prune makes it.
func edgeBenchList(b *testing.B, revoked, others int) *List {
	b.Helper()
	ctx := context.Background()
	db := sqlitetest.Create(b, filepath.Join(b.TempDir(), "writ.db"))
	now := time.Now().Unix()
	iat, exp := now-2*3600, now+22*3600
	sqlitetest.Insert(b, db, "keys", map[string]any{"kid": "k", "format": "jwt", "alg": "EdDSA", "state": "retired", "public_key": []byte{0}, "created_at": iat})
	jtis := make([]string, revoked+others)
	for i := range jtis {
		var id [16]byte
		rand.Read(id[:])
		jtis[i] = b64.Encode(id[:])
	}
	sqlitetest.InsertMany(b, db, "tokens", []string{"jti", "format", "kid", "subject", "name", "scopes", "audience", "issued_at", "expires_at", "issued_by"},
		len(jtis), func(i int) []any { return []any{jtis[i], "jwt", "k", "s", "", "", "api", iat, exp, "bench"} })
	sqlitetest.InsertMany(b, db, "revocations", []string{"kind", "value", "effective_at", "expires_at", "reason", "actor", "created_at"},
		revoked, func(i int) []any { return []any{"token", jtis[i], now - 3600, exp, "", "bench", now - 3600} })
	tx, err := db.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	if err := repack(ctx, tx); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	l, err := NewList(Config{Store: db})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkEdgeSnapshot measures List.Snapshot, the state a verifier at the
// edge loads, and the size of its file, at 10k and 100k revoked tokens
// (and 1M with WRIT_BENCH_1M=1: building its database takes minutes),
// among as many and ten times as many unrevoked recorded tokens; beside
// it, reading and encoding today's JSON feed of the same list (Changes
// from 0, as writ serve builds it), and the size of that feed's payload as
// a signed document holds it (base64url; without its header and
// signature, a few hundred bytes).
func BenchmarkEdgeSnapshot(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("WRIT_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	ctx := context.Background()
	for _, n := range sizes {
		for _, ratio := range []int{1, 10} {
			// Made once for both, and closed when the whole benchmark ends.
			var l *List
			list := func() *List {
				if l == nil {
					l = edgeBenchList(b, n, n*ratio)
				}
				return l
			}
			name := fmt.Sprintf("revoked=%d/others=%d", n, n*ratio)
			b.Run(name+"/snapshot", func(b *testing.B) {
				l := list()
				b.ReportAllocs()
				var s *feed.Snapshot
				for b.Loop() {
					var err error
					if s, err = l.Snapshot(ctx); err != nil {
						b.Fatal(err)
					}
				}
				data, err := feed.AppendSnapshot(nil, s)
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Tokens) != 0 {
					b.Fatalf("%d exact token entries, want none", len(s.Tokens))
				}
				b.ReportMetric(float64(len(data)), "file-bytes")
				b.ReportMetric(float64(len(data))/float64(n), "file-B/revoked")
			})
			b.Run(name+"/json-feed", func(b *testing.B) {
				l := list()
				b.ReportAllocs()
				var doc []byte
				for b.Loop() {
					whole, err := l.Changes(ctx, 0)
					if err != nil {
						b.Fatal(err)
					}
					doc = feed.Append(doc[:0], &feed.Head{Issuer: "https://issuer.example", IssuedAt: time.Now().Unix(), Epoch: whole.Epoch, Seq: whole.Seq}, whole)
				}
				// The served document holds the payload in base64url.
				size := base64.RawURLEncoding.EncodedLen(len(doc))
				b.ReportMetric(float64(size), "file-bytes")
				b.ReportMetric(float64(size)/float64(n), "file-B/revoked")
			})
		}
	}
}
