package remote_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

// edgeSite is a static host of an issuer's revocation files: a directory
// that a test writes, as writ publish would, served by http.FileServer on
// loopback, with an ETag on the manifest so that conditional requests are
// answered 304.
type edgeSite struct {
	t      *testing.T
	dir    string
	key    *feedKey
	issuer string // the iss the site's documents carry
	*httptest.Server

	mu       sync.Mutex
	requests []string // the path of each request, with " 304" when answered so
	queries  []string // the query of each read of the manifest
}

func newEdgeSite(t *testing.T, key *feedKey) *edgeSite {
	s := &edgeSite{t: t, dir: t.TempDir(), key: key, issuer: feedIssuer}
	files := http.FileServer(http.Dir(s.dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == feed.ManifestPath {
			if data, err := os.ReadFile(filepath.Join(s.dir, feed.ManifestPath)); err == nil {
				sum := sha256.Sum256(data)
				w.Header().Set("ETag", `"`+b64.Encode(sum[:8])+`"`)
			}
		}
		rec := &statusRecorder{ResponseWriter: w}
		files.ServeHTTP(rec, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		entry := r.URL.Path
		if entry == feed.ManifestPath {
			s.queries = append(s.queries, r.URL.RawQuery)
		}
		if rec.status == http.StatusNotModified {
			entry += " 304"
		}
		s.requests = append(s.requests, entry)
	}))
	t.Cleanup(s.Close)
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// take returns the requests since the last call, each path shortened to
// its kind: manifest, snapshot or delta.
func (s *edgeSite) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		switch {
		case strings.HasPrefix(r, feed.SnapshotPrefix):
			r = "snapshot"
		case strings.HasPrefix(r, feed.DeltaPrefix):
			r = "delta"
		default:
			r = strings.TrimPrefix(r, "/v1/revocations/")
		}
		out = append(out, r)
	}
	s.requests = nil
	return out
}

func (s *edgeSite) write(path string, data []byte) {
	s.t.Helper()
	p := filepath.Join(s.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// edgeState is a list's state as a site publishes it: a snapshot file and
// the delta after it.
type edgeState struct {
	epoch    string
	snapSeq  int64
	universe int64
	revoked  []string // in the filter
	others   []string // recorded, not revoked
	exact    []feed.RevokedToken
	seq      int64
	delta    feed.Batch // the changes after snapSeq up to seq
	iat      int64      // the manifest's and the delta's signing time
}

// publish writes st's files and its manifest, and returns the manifest
// document and payload.
func (s *edgeSite) publish(st *edgeState) (doc string, m *feed.Manifest) {
	s.t.Helper()
	snap := &feed.Snapshot{Epoch: st.epoch, Seq: st.snapSeq, Built: st.iat, Universe: st.universe,
		Filter: buildCascade(s.t, st.revoked, st.others), Tokens: st.exact}
	data, err := feed.AppendSnapshot(nil, snap)
	if err != nil {
		s.t.Fatal(err)
	}
	m = &feed.Manifest{Issuer: s.issuer, IssuedAt: st.iat, NextUpdate: st.iat + 60, Epoch: st.epoch, Seq: st.seq,
		Snapshot: s.file(feed.SnapshotPath, data, 0, st.snapSeq)}
	head := feed.Head{Issuer: s.issuer, IssuedAt: st.iat, Epoch: st.epoch, Since: st.snapSeq, Seq: st.seq, NextUpdate: st.iat + 60}
	m.Delta = s.file(feed.DeltaPath, []byte(s.key.sign(s.t, feed.Type, feed.Append(nil, &head, &st.delta))), st.snapSeq, st.seq)
	doc = s.key.sign(s.t, remote.ManifestType, feed.AppendManifest(nil, m))
	s.write(feed.ManifestPath, []byte(doc))
	return doc, m
}

// file writes a content-addressed file and returns its reference.
func (s *edgeSite) file(path func([32]byte) string, data []byte, since, seq int64) feed.FileRef {
	sum := sha256.Sum256(data)
	ref := feed.FileRef{Path: path(sum), SHA256: sum, Size: int64(len(data)), Since: since, Seq: seq}
	s.write(ref.Path, data)
	return ref
}

func buildCascade(t testing.TB, revokedJTIs, others []string) *cascade.Filter {
	t.Helper()
	ids := func(jtis []string) []cascade.ID {
		out := make([]cascade.ID, len(jtis))
		for i, j := range jtis {
			out[i] = revoked.TokenIDOf(j)
		}
		return out
	}
	f, err := cascade.Build(ids(revokedJTIs), ids(others))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func edgeJTI() string {
	var id [16]byte
	rand.Read(id[:])
	return b64.Encode(id[:])
}

func edgeKeys(t *testing.T) (*feedKey, *verifier.KeySet) {
	t.Helper()
	key, vk := newFeedKey(t, "kid-1")
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		t.Fatal(err)
	}
	return key, ks
}

// followEdge returns a snapshot of the revocation list of the issuer at
// base (a writ server, or a static host of a writ publish tree), read with
// an EdgeFeed whose signatures keys verify, and the feed.
func followEdge(t *testing.T, base string, keys verifier.KeySource, cfg revoked.SnapshotConfig) (*revoked.Snapshot, *remote.EdgeFeed) {
	t.Helper()
	f, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: base + feed.ManifestPath, Issuer: feedIssuer, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Feed = f
	s, err := revoked.NewSnapshot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, f
}

// wantRevoked checks that each jti of want, issued at iat, reads revoked
// or not as it says.
func wantRevoked(t *testing.T, step string, s *revoked.Snapshot, iat time.Time, want map[string]bool) {
	t.Helper()
	for jti, rev := range want {
		err := s.CheckRevocation(context.Background(), &verifier.Claims{ID: jti, IssuedAt: iat})
		if rev && !errors.Is(err, verifier.ErrRevoked) || !rev && err != nil {
			t.Errorf("%s: %s: %v, want revoked %v", step, jti, err, rev)
		}
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestEdgeFeed follows a static site through a full read, a delta-only
// refresh, an unchanged manifest (304, no file read), a new snapshot file,
// and an epoch change, reading only the files each needs.
func TestEdgeFeed(t *testing.T) {
	ctx := context.Background()
	key, ks := edgeKeys(t)
	site := newEdgeSite(t, key)
	now := time.Now().Truncate(time.Second)
	universe := now.Add(-time.Hour)
	iat := universe.Add(-time.Minute) // the tokens' issuance, inside the universe
	r1, s1, s2, late := edgeJTI(), edgeJTI(), edgeJTI(), edgeJTI()
	st := &edgeState{epoch: "e1", snapSeq: 5, universe: universe.Unix(), revoked: []string{r1}, others: []string{s1, s2}, seq: 5, iat: now.Unix() - 10}
	site.publish(st)

	s, _ := followEdge(t, site.URL, ks, revoked.SnapshotConfig{})
	if got := site.take(); !equal(got, []string{"manifest", "snapshot"}) {
		t.Errorf("first read: requests %v, want the manifest and the snapshot (the delta is empty)", got)
	}
	if s.Seq() != 5 || s.Epoch() != "e1" || !s.Universe().Equal(universe) || s.Staleness() < 10*time.Second {
		t.Errorf("seq %d, epoch %q, universe %v, staleness %v", s.Seq(), s.Epoch(), s.Universe(), s.Staleness())
	}
	wantRevoked(t, "first read", s, iat, map[string]bool{r1: true, s1: false, s2: false})

	// A delta: s1 revoked, and a token issued after the universe.
	st.seq, st.iat = 7, now.Unix()
	st.delta.Tokens = []feed.RevokedToken{
		{ID: revoked.TokenIDOf(s1), EffectiveAt: now.Unix() - 1, ExpiresAt: now.Unix() + 3600},
		{ID: revoked.TokenIDOf(late), EffectiveAt: now.Unix() - 1, ExpiresAt: now.Unix() + 3600},
	}
	site.publish(st)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := site.take(); !equal(got, []string{"manifest", "delta"}) {
		t.Errorf("delta: requests %v, want the manifest and the delta", got)
	}
	wantRevoked(t, "delta", s, iat, map[string]bool{r1: true, s1: true, s2: false, late: true})
	wantRevoked(t, "delta, after the universe", s, now, map[string]bool{late: true, r1: false})

	// Nothing new: a 304, no file read.
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := site.take(); !equal(got, []string{"manifest 304"}) {
		t.Errorf("unchanged: requests %v, want a conditional read of the manifest", got)
	}

	// A new snapshot file: a reader behind it reads it and its delta.
	universe2 := now.Add(-time.Minute)
	*st = edgeState{epoch: "e1", snapSeq: 8, universe: universe2.Unix(), revoked: []string{r1, s1, late, s2}, seq: 9, iat: now.Unix()}
	st.delta.Tokens = []feed.RevokedToken{{ID: revoked.TokenIDOf(s2), EffectiveAt: now.Unix() - 1, ExpiresAt: now.Unix() + 3600}}
	site.publish(st)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := site.take(); !equal(got, []string{"manifest", "snapshot", "delta"}) {
		t.Errorf("new snapshot: requests %v, want the manifest, the snapshot and the delta", got)
	}
	if s.Seq() != 9 || !s.Universe().Equal(universe2) {
		t.Errorf("new snapshot: seq %d, universe %v", s.Seq(), s.Universe())
	}
	wantRevoked(t, "new snapshot", s, iat, map[string]bool{r1: true, s1: true, s2: true})

	// Another epoch, at a lower sequence number: read whole, at once.
	r3 := edgeJTI()
	*st = edgeState{epoch: "e2", snapSeq: 2, universe: universe2.Unix(), revoked: []string{r3}, others: []string{r1}, seq: 2, iat: now.Unix()}
	site.publish(st)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := site.take(); !equal(got, []string{"manifest", "snapshot"}) {
		t.Errorf("new epoch: requests %v, want the manifest and the snapshot", got)
	}
	if s.Seq() != 2 || s.Epoch() != "e2" {
		t.Errorf("new epoch: seq %d of %q", s.Seq(), s.Epoch())
	}
	// r1, revoked in e1, stays revoked: the previous epoch's filter and
	// entries are kept.
	wantRevoked(t, "new epoch", s, iat, map[string]bool{r1: true, r3: true, s1: true, late: true})
}

// TestEdgeFeedReplay: a manifest behind one read before in its epoch (a
// cache's old copy) is refused, and one replayed with its old signing time
// does not refresh the snapshot: past MaxStaleness it fails closed.
func TestEdgeFeedReplay(t *testing.T) {
	ctx := context.Background()
	key, ks := edgeKeys(t)
	site := newEdgeSite(t, key)
	now := time.Now().Truncate(time.Second)
	clock := now
	st := &edgeState{epoch: "e1", snapSeq: 1, universe: now.Unix() - 60, seq: 1, iat: now.Unix() - 300}
	oldDoc, _ := site.publish(st)
	st.seq, st.iat = 2, now.Unix()
	st.delta.Tokens = []feed.RevokedToken{{ID: revoked.TokenIDOf("x"), EffectiveAt: now.Unix() - 1, ExpiresAt: now.Unix() + 3600}}
	site.publish(st)
	s, _ := followEdge(t, site.URL, ks, revoked.SnapshotConfig{MaxStaleness: 2 * time.Minute, Now: func() time.Time { return clock }})
	if s.Seq() != 2 {
		t.Fatalf("seq %d, want 2", s.Seq())
	}
	site.write(feed.ManifestPath, []byte(oldDoc))
	err := s.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "old copy") || s.Seq() != 2 {
		t.Errorf("an old manifest: %v, seq %d; want an error naming an old copy, seq 2", err, s.Seq())
	}
	// The same state signed long ago: read, but as old as its signature.
	st.iat = now.Unix() - 600
	site.publish(st)
	clock = now.Add(3 * time.Minute)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRevocation(ctx, &verifier.Claims{ID: edgeJTI(), IssuedAt: now}); !errors.Is(err, revoked.ErrStale) {
		t.Errorf("past the bound with a replayed manifest: %v, want ErrStale", err)
	}
	// A fresh signature ends it.
	st.iat = clock.Unix()
	site.publish(st)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRevocation(ctx, &verifier.Claims{ID: edgeJTI(), IssuedAt: now}); err != nil {
		t.Errorf("after a fresh manifest: %v", err)
	}

	// A new epoch, then an old copy of the epoch before: refused, though
	// epochs have no order, since it was signed before.
	e1Doc, _ := site.publish(st)
	st.epoch, st.snapSeq, st.seq, st.iat = "e2", 1, 1, clock.Unix()+1
	st.delta = feed.Batch{}
	site.publish(st)
	if err := s.Refresh(ctx); err != nil || s.Epoch() != "e2" {
		t.Fatalf("new epoch: %v, epoch %q", err, s.Epoch())
	}
	site.write(feed.ManifestPath, []byte(e1Doc))
	if err := s.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "old copy") || s.Epoch() != "e2" {
		t.Errorf("an old copy of the epoch before: %v, epoch %q; want an error naming an old copy, e2", err, s.Epoch())
	}
}

// TestEdgeFeedRefuses: a feed refuses what it cannot trust, and the
// snapshot keeps its state: a tampered or truncated file, an oversized
// one, a manifest of another issuer or type or key, paths out of the
// issuer's URL space, missing files, a redirect to another origin.
func TestEdgeFeedRefuses(t *testing.T) {
	key, ks := edgeKeys(t)
	other, _ := newFeedKey(t, "kid-1")
	now := time.Now().Truncate(time.Second)
	elsewhere := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(elsewhere.Close)

	tamper := func(path string, fn func([]byte) []byte) func(s *edgeSite, m *feed.Manifest) {
		return func(s *edgeSite, m *feed.Manifest) {
			p := filepath.Join(s.dir, filepath.FromSlash(path))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fn(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	resign := func(signer *feedKey, typ string, fn func(m *feed.Manifest) []byte) func(s *edgeSite, m *feed.Manifest) {
		return func(s *edgeSite, m *feed.Manifest) {
			s.write(feed.ManifestPath, []byte(signer.sign(t, typ, fn(m))))
		}
	}
	flip := func(b []byte) []byte { b[len(b)/2] ^= 1; return b }
	tests := []struct {
		name string
		mod  func(s *edgeSite, m *feed.Manifest)
		want error  // wrapped, when set
		msg  string // in the message
	}{
		{"a tampered snapshot", func(s *edgeSite, m *feed.Manifest) { tamper(m.Snapshot.Path, flip)(s, m) }, nil, "SHA-256"},
		{"a truncated snapshot", func(s *edgeSite, m *feed.Manifest) {
			tamper(m.Snapshot.Path, func(b []byte) []byte { return b[:len(b)-1] })(s, m)
		}, nil, "the manifest says"},
		{"an oversized snapshot", func(s *edgeSite, m *feed.Manifest) {
			tamper(m.Snapshot.Path, func(b []byte) []byte { return append(b, make([]byte, 1<<20)...) })(s, m)
		}, nil, "the manifest says"},
		{"a tampered delta", func(s *edgeSite, m *feed.Manifest) { tamper(m.Delta.Path, flip)(s, m) }, nil, "SHA-256"},
		{"a missing snapshot", func(s *edgeSite, m *feed.Manifest) { os.Remove(filepath.Join(s.dir, m.Snapshot.Path)) }, nil, "404"},
		{"an oversized manifest", func(s *edgeSite, m *feed.Manifest) { s.write(feed.ManifestPath, make([]byte, 100<<10)) }, nil, "larger than"},
		{"a missing manifest", func(s *edgeSite, m *feed.Manifest) { os.Remove(filepath.Join(s.dir, feed.ManifestPath)) }, nil, "404"},
		{"another issuer", resign(key, remote.ManifestType, func(m *feed.Manifest) []byte {
			m.Issuer = "https://elsewhere"
			return feed.AppendManifest(nil, m)
		}), nil, `from "https://elsewhere"`},
		{"a feed's typ", resign(key, feed.Type, func(m *feed.Manifest) []byte { return feed.AppendManifest(nil, m) }), verifier.ErrType, ""},
		{"another key", resign(other, remote.ManifestType, func(m *feed.Manifest) []byte { return feed.AppendManifest(nil, m) }), verifier.ErrSignature, ""},
		{"no signing time", resign(key, remote.ManifestType, func(m *feed.Manifest) []byte {
			m.IssuedAt = 0
			return feed.AppendManifest(nil, m)
		}), nil, "without iat"},
		{"a path up and out", resign(key, remote.ManifestType, func(m *feed.Manifest) []byte {
			m.Snapshot.Path = feed.SnapshotPrefix + "../../../.well-known/jwks.json"
			return feed.AppendManifest(nil, m)
		}), feed.ErrMalformed, ""},
		{"another host", resign(key, remote.ManifestType, func(m *feed.Manifest) []byte {
			m.Snapshot.Path = elsewhere.URL + m.Snapshot.Path
			return feed.AppendManifest(nil, m)
		}), feed.ErrMalformed, ""},
		{"a size beyond the format's", resign(key, remote.ManifestType, func(m *feed.Manifest) []byte {
			return []byte(strings.Replace(string(feed.AppendManifest(nil, m)), `"size":`, `"size":999999999999`, 1))
		}), feed.ErrMalformed, ""},
		{"a snapshot of another epoch", func(s *edgeSite, m *feed.Manifest) {
			data, err := feed.AppendSnapshot(nil, &feed.Snapshot{Epoch: "e0", Seq: m.Snapshot.Seq, Built: now.Unix(), Universe: now.Unix(), Filter: buildCascade(t, nil, nil)})
			if err != nil {
				t.Fatal(err)
			}
			m.Snapshot = s.file(feed.SnapshotPath, data, 0, m.Snapshot.Seq)
			s.write(feed.ManifestPath, []byte(key.sign(t, remote.ManifestType, feed.AppendManifest(nil, m))))
		}, nil, `epoch "e0"`},
		{"a delta of another sequence", func(s *edgeSite, m *feed.Manifest) {
			head := feed.Head{Issuer: feedIssuer, IssuedAt: now.Unix(), Epoch: m.Epoch, Since: m.Delta.Since, Seq: m.Delta.Seq + 1}
			m.Delta = s.file(feed.DeltaPath, []byte(key.sign(t, feed.Type, feed.Append(nil, &head, &feed.Batch{}))), m.Delta.Since, m.Delta.Seq)
			s.write(feed.ManifestPath, []byte(key.sign(t, remote.ManifestType, feed.AppendManifest(nil, m))))
		}, nil, "the manifest names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := newEdgeSite(t, key)
			st := &edgeState{epoch: "e1", snapSeq: 3, universe: now.Unix(), revoked: []string{"r"}, seq: 4, iat: now.Unix()}
			st.delta.Tokens = []feed.RevokedToken{{ID: revoked.TokenIDOf("d"), EffectiveAt: now.Unix() - 1, ExpiresAt: now.Unix() + 60}}
			_, m := site.publish(st)
			tt.mod(site, m)
			b, err := readEdgeOnce(t, site.URL, ks)
			wantRefused(t, b, err, tt.want, tt.msg)
		})
	}

	t.Run("a longer snapshot without Content-Length", func(t *testing.T) {
		site := newEdgeSite(t, key)
		_, m := site.publish(&edgeState{epoch: "e1", universe: now.Unix(), revoked: []string{"r"}, iat: now.Unix()})
		chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			data, err := os.ReadFile(filepath.Join(site.dir, filepath.FromSlash(r.URL.Path)))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if r.URL.Path == m.Snapshot.Path {
				data = append(data, 'x')
			}
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write(data)
		}))
		t.Cleanup(chunked.Close)
		b, err := readEdgeOnce(t, chunked.URL, ks)
		wantRefused(t, b, err, nil, "bytes the manifest says")
	})

	t.Run("a redirect to another origin", func(t *testing.T) {
		site := newEdgeSite(t, key)
		site.publish(&edgeState{epoch: "e1", universe: now.Unix(), iat: now.Unix()})
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, site.URL+r.URL.Path, http.StatusFound)
		}))
		t.Cleanup(redirect.Close)
		b, err := readEdgeOnce(t, redirect.URL, ks)
		wantRefused(t, b, err, nil, "another origin")
	})
}

// readEdgeOnce reads the whole revocation list at base with a new EdgeFeed.
func readEdgeOnce(t *testing.T, base string, keys verifier.KeySource) (*revoked.Batch, error) {
	t.Helper()
	f, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: base + feed.ManifestPath, Issuer: feedIssuer, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return f.Changes(context.Background(), 0)
}

// TestEdgeFeedConfig: the required settings, and a manifest URL that
// names no http origin.
func TestEdgeFeedConfig(t *testing.T) {
	_, ks := edgeKeys(t)
	for name, cfg := range map[string]remote.EdgeFeedConfig{
		"no URL":      {Issuer: feedIssuer, Keys: ks},
		"no issuer":   {URL: "https://h/v1/revocations/manifest", Keys: ks},
		"no keys":     {URL: "https://h/v1/revocations/manifest", Issuer: feedIssuer},
		"a file":      {URL: "/v1/revocations/manifest", Issuer: feedIssuer, Keys: ks},
		"a query":     {URL: "https://h/v1/revocations/manifest?x=1", Issuer: feedIssuer, Keys: ks},
		"other stuff": {URL: "ftp://h/v1/revocations/manifest", Issuer: feedIssuer, Keys: ks},
	} {
		if f, err := remote.NewEdgeFeed(cfg); err == nil || f != nil {
			t.Errorf("%s: %v, %v; want an error", name, f, err)
		}
	}
}

// TestEdgeFeedToken: a private feed's token goes with every read, of the
// manifest and of the files; without it the feed says what it needs.
func TestEdgeFeedToken(t *testing.T) {
	key, ks := edgeKeys(t)
	site := newEdgeSite(t, key)
	now := time.Now().Unix()
	st := &edgeState{epoch: "e1", snapSeq: 1, universe: now, revoked: []string{"r"}, seq: 2, iat: now}
	st.delta.Tokens = []feed.RevokedToken{{ID: revoked.TokenIDOf("d"), EffectiveAt: now - 1, ExpiresAt: now + 60}}
	site.publish(st)
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer feed-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		site.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(private.Close)
	b, err := readEdgeOnce(t, private.URL, ks)
	wantRefused(t, b, err, nil, "writ:revocations")
	f, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: private.URL + feed.ManifestPath, Issuer: feedIssuer, Keys: ks,
		Token: func(context.Context) (string, error) { return "feed-token", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := f.Changes(context.Background(), 0); err != nil || b.Seq != 2 || len(b.Tokens) != 1 {
		t.Errorf("%+v, %v; want the list at 2 with the delta's token", b, err)
	}
	if got := site.take(); !equal(got, []string{"manifest", "snapshot", "delta"}) {
		t.Errorf("requests %v, want the manifest, the snapshot and the delta", got)
	}
}
