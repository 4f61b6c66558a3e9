package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
)

// feedBenchEntries is the size of the list BenchmarkRevocationFeed serves.
const feedBenchEntries = 1_000_000

// feedBench is a server over a database holding feedBenchEntries revoked
// tokens, and what it takes to add one more.
type feedBench struct {
	handler http.Handler
	tokens  *issuer.Issuer
	admin   string
}

// newFeedBench builds the server and its database.
func newFeedBench(b *testing.B) *feedBench {
	b.Helper()
	ctx := context.Background()
	db, ring := newKeyring(b)
	const iss = "https://writ.bench"
	tokens, err := issuer.New(issuer.Config{Issuer: iss, Keys: ring, Store: db})
	if err != nil {
		b.Fatal(err)
	}
	list, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: tokens.MaxTTL()})
	if err != nil {
		b.Fatal(err)
	}
	fillList(b, db, list, feedBenchEntries)
	srv, err := server.New(ctx, server.Config{Issuer: iss, Ping: db.Ping, Ring: ring, Tokens: tokens, Revocations: list,
		RotationCheck: -1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	fb := &feedBench{handler: srv.Handler(), tokens: tokens}
	tok, err := tokens.Issue(ctx, issuer.Request{Subject: "admin", Audience: []string{iss}, Scopes: []string{server.AdminScope}})
	if err != nil {
		b.Fatal(err)
	}
	fb.admin = tok.Token
	return fb
}

// revokeOne revokes one more token through the admin API, which moves
// the list to the next sequence number at once in the server's view.
func (fb *feedBench) revokeOne(b *testing.B) {
	tok, err := fb.tokens.Issue(context.Background(), issuer.Request{Subject: "bench", Audience: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/tokens/"+tok.ID+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+fb.admin)
	w := httptest.NewRecorder()
	fb.handler.ServeHTTP(w, req)
	if w.Code != 200 {
		b.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
}

// fillList adds n revoked tokens to list, an hour from expiry. The rows are
// inserted directly, and the packed table is made by Prune, which repacks
// after deleting the one expired row inserted with them.
func fillList(tb testing.TB, db *sqlite.DB, list *revocation.List, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().Unix()
	sqlitetest.InsertMany(tb, db, "revocations", []string{"kind", "value", "effective_at", "expires_at", "reason", "actor", "created_at"},
		n+1, func(i int) []any {
			var id [16]byte
			rand.Read(id[:])
			exp := now + 3600
			if i == n {
				exp = now - 3600 // pruned, which repacks the rest
			}
			return []any{"token", b64.Encode(id[:]), now, exp, "", "fill", now}
		})
	// A server over list may prune first, at its first tick.
	if pruned, err := list.Prune(ctx, "fill"); err != nil || pruned > 1 {
		tb.Fatalf("prune: %d, %v", pruned, err)
	}
	if b, err := list.Changes(ctx, 0); err != nil || len(b.Tokens) != n {
		tb.Fatalf("after the prune: %v; want %d token entries", err, n)
	}
}

// discard is a ResponseWriter that counts the body's bytes.
type discard struct {
	h    http.Header
	code int
	n    int
}

func (d *discard) Header() http.Header  { return d.h }
func (d *discard) WriteHeader(code int) { d.code = code }
func (d *discard) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}
func (d *discard) WriteString(s string) (int, error) {
	d.n += len(s)
	return len(s), nil
}

// fetch gets the feed after since and returns the document's size, or an
// error for a status other than 200.
func (fb *feedBench) fetch(since int64) (int, error) {
	d := &discard{h: http.Header{}, code: 200}
	fb.handler.ServeHTTP(d, httptest.NewRequest("GET", fmt.Sprintf("/v1/revocations?since=%d", since), nil))
	if d.code != 200 {
		return 0, fmt.Errorf("feed after %d: status %d", since, d.code)
	}
	return d.n, nil
}

// mustFetch is fetch for the benchmark's goroutine.
func (fb *feedBench) mustFetch(b *testing.B, since int64) int {
	n, err := fb.fetch(since)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// heapPeak samples the heap's live objects until stop is closed, and
// returns the largest sample.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkRevocationFeed measures GET /v1/revocations over a list of a
// million revoked tokens:
//
//   - full: a full fetch (since=0) after the list changed, so that the
//     document must be built;
//   - full-repeat: a full fetch of an unchanged list;
//   - incremental: the last 100 changes (?since=SEQ-100);
//   - full-concurrent-4: four full fetches at once after the list changed,
//     with the peak of the heap above what it held before (peak-MB).
//
// Run: go test ./internal/server -run '^$' -bench RevocationFeed -benchtime 5x
func BenchmarkRevocationFeed(b *testing.B) {
	fb := newFeedBench(b)
	seq := int64(feedBenchEntries + 1)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			b.StopTimer()
			fb.revokeOne(b)
			seq++
			runtime.GC() // not the previous iteration's garbage
			b.StartTimer()
			n = fb.mustFetch(b, 0)
		}
		b.ReportMetric(float64(n)/(1<<20), "doc-MB")
	})
	b.Run("full-repeat", func(b *testing.B) {
		b.ReportAllocs()
		fb.mustFetch(b, 0)
		for b.Loop() {
			fb.mustFetch(b, 0)
		}
	})
	b.Run("incremental", func(b *testing.B) {
		for range 100 {
			fb.revokeOne(b)
			seq++
		}
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n = fb.mustFetch(b, seq-100)
		}
		b.ReportMetric(float64(n), "doc-B")
	})
	b.Run("full-concurrent-4", func(b *testing.B) {
		b.ReportAllocs()
		var peak uint64
		for b.Loop() {
			b.StopTimer()
			fb.revokeOne(b)
			runtime.GC()
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			metrics.Read(s)
			base := s[0].Value.Uint64()
			stop := make(chan struct{})
			peakc := heapPeak(stop)
			b.StartTimer()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { _, errs[i] = fb.fetch(0) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			close(stop)
			if p := <-peakc; p > base {
				peak = max(peak, p-base)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	})
}
