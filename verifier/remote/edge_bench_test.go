package remote_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

var (
	loadIDsOnce sync.Once
	loadIDs     []cascade.ID // 11 million random ids: 1M revoked, then 10M others at most
)

func benchIDs(n int) []cascade.ID {
	loadIDsOnce.Do(func() {
		loadIDs = make([]cascade.ID, 11_000_000)
		for i := range loadIDs {
			rand.Read(loadIDs[i][:])
		}
	})
	return loadIDs[:n]
}

// memSite serves files from memory, counting the bytes it sends.
type memSite struct {
	files map[string][]byte
	mu    sync.Mutex
	sent  int64
}

func (s *memSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.sent += int64(len(data))
	s.mu.Unlock()
	w.Write(data)
}

// BenchmarkRevocationLoad measures a remote verifier's cold load of a whole
// revocation list of 10k, 100k and 1M revoked tokens into a
// revoked.Snapshot over loopback HTTP: as today's signed JSON feed through
// Feed (json), and as a snapshot file whose filter was built against as
// many (others=1x) or ten times as many (others=10x) other recorded tokens,
// plus a delta of 100 revocations, through EdgeFeed (snapshot). wire-B is
// the bytes read, heap-B the live heap that the loaded snapshot holds.
func BenchmarkRevocationLoad(b *testing.B) {
	key, vk := newFeedKey(b, "kid-1")
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	entries := func(ids []cascade.ID) []feed.RevokedToken {
		out := make([]feed.RevokedToken, len(ids))
		for i, id := range ids {
			out[i] = feed.RevokedToken{ID: id, EffectiveAt: now - 60, ExpiresAt: now + 86400}
		}
		return out
	}
	load := func(b *testing.B, site *memSite, newFeed func(url string) revoked.Feed, want func(*revoked.Snapshot) bool) {
		srv := httptest.NewServer(site)
		defer srv.Close()
		var before, after runtime.MemStats
		var s *revoked.Snapshot
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			s = nil
			runtime.GC()
			runtime.ReadMemStats(&before)
			site.sent = 0
			b.StartTimer()
			var err error
			if s, err = revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: newFeed(srv.URL)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if !want(s) {
			b.Fatal("the snapshot does not hold the list")
		}
		b.ReportMetric(float64(site.sent), "wire-B")
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-B")
		runtime.KeepAlive(s)
	}
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		revokedIDs := benchIDs(n)
		// A revoked token, issued before the snapshot's universe.
		probe := &verifier.Claims{ID: b64.Encode(revokedIDs[0][:]), IssuedAt: time.Unix(now-3600, 0)}
		holds := func(s *revoked.Snapshot) bool {
			return errors.Is(s.CheckRevocation(context.Background(), probe), verifier.ErrRevoked)
		}
		b.Run(fmt.Sprintf("json/revoked=%d", n), func(b *testing.B) {
			head := feed.Head{Issuer: feedIssuer, IssuedAt: now, Epoch: "e1", Seq: int64(n), NextUpdate: now + 60}
			doc := key.sign(b, feed.Type, feed.Append(nil, &head, &feed.Batch{Tokens: entries(revokedIDs)}))
			site := &memSite{files: map[string][]byte{"/v1/revocations": []byte(doc)}}
			load(b, site, func(url string) revoked.Feed {
				f, err := remote.NewFeed(remote.FeedConfig{URL: url + "/v1/revocations", Issuer: feedIssuer, Keys: ks})
				if err != nil {
					b.Fatal(err)
				}
				return f
			}, func(s *revoked.Snapshot) bool { return s.Len() == n && holds(s) })
		})
		for _, times := range []int{1, 10} {
			b.Run(fmt.Sprintf("snapshot/revoked=%d/others=%dx", n, times), func(b *testing.B) {
				all := benchIDs(n + times*n)
				filter, err := cascade.Build(all[:n], all[n:])
				if err != nil {
					b.Fatal(err)
				}
				data, err := feed.AppendSnapshot(nil, &feed.Snapshot{Epoch: "e1", Seq: int64(n), Built: now, Universe: now - 60, Filter: filter})
				if err != nil {
					b.Fatal(err)
				}
				site := &memSite{files: map[string][]byte{}}
				file := func(path func([32]byte) string, data []byte, since, seq int64) feed.FileRef {
					sum := sha256.Sum256(data)
					ref := feed.FileRef{Path: path(sum), SHA256: sum, Size: int64(len(data)), Since: since, Seq: seq}
					site.files[ref.Path] = data
					return ref
				}
				var delta [100]cascade.ID
				for i := range delta {
					rand.Read(delta[i][:])
				}
				head := feed.Head{Issuer: feedIssuer, IssuedAt: now, Epoch: "e1", Since: int64(n), Seq: int64(n + 100), NextUpdate: now + 60}
				m := &feed.Manifest{Issuer: feedIssuer, IssuedAt: now, NextUpdate: now + 60, Epoch: "e1", Seq: int64(n + 100),
					Snapshot: file(feed.SnapshotPath, data, 0, int64(n)),
					Delta:    file(feed.DeltaPath, []byte(key.sign(b, feed.Type, feed.Append(nil, &head, &feed.Batch{Tokens: entries(delta[:])}))), int64(n), int64(n+100))}
				site.files[feed.ManifestPath] = []byte(key.sign(b, remote.ManifestType, feed.AppendManifest(nil, m)))
				load(b, site, func(url string) revoked.Feed {
					f, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: url + feed.ManifestPath, Issuer: feedIssuer, Keys: ks})
					if err != nil {
						b.Fatal(err)
					}
					return f
				}, func(s *revoked.Snapshot) bool { return s.Len() == 100 && s.Seq() == int64(n+100) && holds(s) })
			})
		}
	}
}
