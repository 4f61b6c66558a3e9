package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// publish runs server.Publish into dir for f's database, at now (nil: the
// current time).
func publish(t *testing.T, f *fixture, dir string, now func() time.Time) *server.Published {
	t.Helper()
	return publishWith(t, f, server.PublishConfig{Dir: dir, Now: now})
}

// publishWith runs server.Publish with cfg for f's database and issuer
// URL, every minute.
func publishWith(t testing.TB, f *fixture, cfg server.PublishConfig) *server.Published {
	t.Helper()
	cfg.Issuer, cfg.Ring, cfg.Tokens, cfg.Revocations, cfg.Every = f.url, f.ring, f.tokens, f.list, time.Minute
	p, err := server.Publish(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Written) == 0 || p.Written[len(p.Written)-1] != feed.ManifestPath {
		t.Errorf("written %v: the manifest should come last", p.Written)
	}
	return p
}

// wholeFeed reads a whole feed document at path under base.
func wholeFeed(t *testing.T, base, path string, ks verifier.KeySource) (*feed.Head, *feed.Batch) {
	t.Helper()
	doc, _ := get(t, base, path, "")
	payload, err := verifier.VerifyDocument(context.Background(), ks, feed.Type, string(doc))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	h, b, err := feed.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

// TestPublishDir: a directory that Publish wrote, served by a plain file
// server, answers every read a remote verifier makes as writ serve does:
// the same key sets, the discovery document (but where it names the whole
// feed), the same feed and revocation state, files of mode 0644. A re-run
// after a revocation writes a new delta and manifest, not a new snapshot;
// a snapshot is built again once it is an hour old, and files no manifest
// named for an hour are removed.
func TestPublishDir(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := oldTokens(t, f, 20, "user0", "user1", "user2")
	recent := issueTok(t, f.tokens, "user1")
	for _, tok := range []*issuer.Token{old[1], old[3], recent} {
		if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.list.RevokeSubject(ctx, "user2", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	// writ serve's snapshot of the list as it is now, as Publish builds.
	f.srv.DropEdgeSnapshot()
	dir := t.TempDir()
	first := publish(t, f, dir, nil)
	if !first.NewSnapshot {
		t.Error("the first run kept a snapshot")
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(static.Close)
	ks := f.remoteKeys()

	for _, p := range []string{"/.well-known/jwks.json", "/.well-known/paserk.json"} {
		served, _ := get(t, f.url, p, "")
		if published, _ := get(t, static.URL, p, ""); string(published) != string(served) {
			t.Errorf("%s: published %s, served %s", p, published, served)
		}
	}
	var served, published map[string]any
	for _, x := range []struct {
		base string
		dst  *map[string]any
	}{{f.url, &served}, {static.URL, &published}} {
		body, _ := get(t, x.base, "/.well-known/oauth-authorization-server", "")
		if err := json.Unmarshal(body, x.dst); err != nil {
			t.Fatal(err)
		}
	}
	if published["revocation_list_uri"] != f.url+server.PublishedFeedPath {
		t.Errorf("published revocation_list_uri %v", published["revocation_list_uri"])
	}
	published["revocation_list_uri"] = served["revocation_list_uri"]
	if !reflect.DeepEqual(published, served) {
		t.Errorf("published discovery %v, served %v", published, served)
	}
	// The whole feed, at the published path on both.
	sh, sb := wholeFeed(t, f.url, "/v1/revocations", ks)
	ph, pb := wholeFeed(t, static.URL, server.PublishedFeedPath, ks)
	if _, b := wholeFeed(t, f.url, server.PublishedFeedPath, ks); !reflect.DeepEqual(b.Tokens, sb.Tokens) {
		t.Error("writ serve's feed at the published path differs")
	}
	sb.AsOf, pb.AsOf = time.Time{}, time.Time{}
	if ph.Issuer != sh.Issuer || ph.Epoch != sh.Epoch || ph.Seq != sh.Seq || ph.Since != 0 || !reflect.DeepEqual(pb, sb) {
		t.Errorf("published feed %+v %+v, served %+v %+v", ph, pb, sh, sb)
	}
	// The edge state: the same meaning for every token.
	se, pe := readEdge(t, f.url, f.url, "", ks), readEdge(t, static.URL, f.url, "", ks)
	if pe.manifest.Seq != se.manifest.Seq || pe.manifest.Epoch != se.manifest.Epoch ||
		!reflect.DeepEqual(pe.snapshot.Subjects, se.snapshot.Subjects) || !reflect.DeepEqual(pe.snapshot.Tokens, se.snapshot.Tokens) {
		t.Errorf("published edge state %+v, served %+v", pe.manifest, se.manifest)
	}
	for _, tok := range append(old, recent) {
		want, err := f.list.Revoked(ctx, tok.ID, subjectOf(t, f, tok), tok.KeyID, tok.IssuedAt)
		if err != nil {
			t.Fatal(err)
		}
		if s, p := se.revoked(tok, subjectOf(t, f, tok)), pe.revoked(tok, subjectOf(t, f, tok)); s != want || p != want {
			t.Errorf("token issued at %v: served %v, published %v, list %v", tok.IssuedAt, s, p, want)
		}
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if fi, err := d.Info(); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v", path, fi.Mode(), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing changed: the same snapshot and delta, a fresh manifest.
	again := publish(t, f, dir, func() time.Time { return time.Now().Add(time.Second) })
	if again.NewSnapshot || again.Manifest.Snapshot != first.Manifest.Snapshot || again.Manifest.Delta != first.Manifest.Delta ||
		again.Manifest.IssuedAt <= first.Manifest.IssuedAt {
		t.Errorf("a re-run without changes: %+v, first %+v", again.Manifest, first.Manifest)
	}
	// A revocation: a new delta, not a new snapshot.
	if _, err := f.list.RevokeToken(ctx, old[5].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	third := publish(t, f, dir, nil)
	if third.NewSnapshot || third.Manifest.Snapshot != first.Manifest.Snapshot || third.Manifest.Delta.Path == first.Manifest.Delta.Path ||
		!slices.Contains(third.Written, third.Manifest.Delta.Path) || slices.Contains(third.Written, third.Manifest.Snapshot.Path) {
		t.Errorf("a re-run after a revocation: %+v, wrote %v", third.Manifest, third.Written)
	}
	if e := readEdge(t, static.URL, f.url, "", ks); !e.revoked(old[5], subjectOf(t, f, old[5])) {
		t.Error("the published state misses the new revocation")
	}

	// An hour later: a new snapshot. Files are kept for an hour after the
	// last manifest naming them was replaced, then removed: the first
	// delta now, the first snapshot and the third delta at the next run.
	if _, err := f.list.RevokeToken(ctx, old[6].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	later := publish(t, f, dir, func() time.Time { return time.Now().Add(server.SnapshotMaxAge) })
	if !later.NewSnapshot || later.Manifest.Snapshot.Path == first.Manifest.Snapshot.Path || !slices.Equal(later.Removed, []string{first.Manifest.Delta.Path}) {
		t.Errorf("an hour later: new snapshot %v, %+v, removed %v", later.NewSnapshot, later.Manifest.Snapshot, later.Removed)
	}
	get(t, static.URL, first.Manifest.Snapshot.Path, "")
	if _, err := f.list.RevokeToken(ctx, old[7].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	last := publish(t, f, dir, func() time.Time { return time.Now().Add(2*server.SnapshotMaxAge + time.Minute) })
	if !slices.Contains(last.Removed, first.Manifest.Snapshot.Path) || !slices.Contains(last.Removed, third.Manifest.Delta.Path) {
		t.Errorf("removed %v", last.Removed)
	}
	for _, p := range []string{first.Manifest.Snapshot.Path, first.Manifest.Delta.Path, third.Manifest.Delta.Path} {
		if code, _, _ := (&fixture{t: t, url: static.URL}).do("GET", p, "", "", ""); code != 404 {
			t.Errorf("%s still served: %d", p, code)
		}
	}
	// What the replaced manifest named is kept.
	get(t, static.URL, later.Manifest.Snapshot.Path, "")
	readEdge(t, static.URL, f.url, "", ks)
}

// newSite returns a database, its issuer at the issuer URL url and its
// revocation list, without a server: what writ publish reads.
func newSite(tb testing.TB, url string) *fixture {
	tb.Helper()
	site := &fixture{t: tb, url: url}
	site.db, site.ring = newKeyring(tb)
	var err error
	if site.tokens, err = issuer.New(issuer.Config{Issuer: url, Keys: site.ring, Store: site.db}); err != nil {
		tb.Fatal(err)
	}
	if site.list, err = revocation.NewList(revocation.Config{Store: site.db, MaxTTL: site.tokens.MaxTTL()}); err != nil {
		tb.Fatal(err)
	}
	return site
}

// TestPublishWithoutFeed: with NoFeed, Publish writes no whole JSON feed
// and removes the one an earlier run wrote; the discovery document names
// none, and is otherwise the one written with the feed. A verifier that
// follows the tree at the issuer URL (remote.Discover, FollowIssuer and its
// EdgeFeed) rejects the revoked tokens, old and recent, and accepts the
// others, before and after a later revocation that a re-run publishes.
func TestPublishWithoutFeed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The tree is served at the issuer URL, as a static host would.
	static := httptest.NewUnstartedServer(http.FileServer(http.Dir(dir)))
	site := newSite(t, "http://"+static.Listener.Addr().String())
	toks := append(oldTokens(t, site, 8, "alice", "bob"), issueTok(t, site.tokens, "alice"), issueTok(t, site.tokens, "carol"))
	revokedIDs := map[string]bool{}
	revoke := func(tok *issuer.Token) {
		t.Helper()
		if _, err := site.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
		revokedIDs[tok.ID] = true
	}
	for _, tok := range []*issuer.Token{toks[1], toks[4], toks[8]} {
		revoke(tok)
	}

	withFeed := publish(t, site, dir, nil)
	if !slices.Contains(withFeed.Written, server.PublishedFeedPath) {
		t.Fatalf("the default run wrote %v, no feed", withFeed.Written)
	}
	discoveryFile := filepath.Join(dir, filepath.FromSlash(remote.DiscoveryPath))
	readDiscovery := func() map[string]any {
		t.Helper()
		body, err := os.ReadFile(discoveryFile)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	full := readDiscovery()

	noFeed := publishWith(t, site, server.PublishConfig{Dir: dir, NoFeed: true})
	if slices.Contains(noFeed.Written, server.PublishedFeedPath) || !slices.Equal(noFeed.Removed, []string{server.PublishedFeedPath}) {
		t.Errorf("without the feed: wrote %v, removed %v", noFeed.Written, noFeed.Removed)
	}
	if noFeed.NewSnapshot || noFeed.Manifest.Snapshot != withFeed.Manifest.Snapshot {
		t.Errorf("without the feed, the snapshot was not kept: %+v, before %+v", noFeed.Manifest.Snapshot, withFeed.Manifest.Snapshot)
	}
	if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(server.PublishedFeedPath))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the feed is still in the tree: %v", err)
	}
	bare := readDiscovery()
	if _, ok := bare["revocation_list_uri"]; ok || full["revocation_list_uri"] != site.url+server.PublishedFeedPath {
		t.Errorf("revocation_list_uri %v without the feed, %v with it", bare["revocation_list_uri"], full["revocation_list_uri"])
	}
	delete(full, "revocation_list_uri")
	if !reflect.DeepEqual(bare, full) {
		t.Errorf("discovery without the feed %v, with it %v", bare, full)
	}

	static.Start()
	t.Cleanup(static.Close)
	if code, _, _ := site.do("GET", server.PublishedFeedPath, "", "", ""); code != http.StatusNotFound {
		t.Errorf("GET %s: %d, want 404", server.PublishedFeedPath, code)
	}
	d, err := remote.Discover(ctx, site.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.RevocationList != "" || d.RevocationSnapshot != site.url+feed.ManifestPath {
		t.Errorf("discovered the feed at %q, the manifest at %q", d.RevocationList, d.RevocationSnapshot)
	}
	iss, err := remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: site.url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: iss.Revocations, MaxStaleness: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	v, err := verifier.New(verifier.Config{Issuer: site.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys: iss.JWT, Revocation: snap})
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		for i, tok := range toks {
			_, err := v.Verify(ctx, tok.Token)
			if revokedIDs[tok.ID] != errors.Is(err, verifier.ErrRevoked) || !revokedIDs[tok.ID] && err != nil {
				t.Errorf("%s: token %d (revoked %v): %v", step, i, revokedIDs[tok.ID], err)
			}
		}
	}
	check("first read")

	// A later revocation: a new delta, still no feed, nothing to remove.
	revoke(toks[6])
	again := publishWith(t, site, server.PublishConfig{Dir: dir, NoFeed: true})
	if slices.Contains(again.Written, server.PublishedFeedPath) || len(again.Removed) != 0 || again.NewSnapshot ||
		again.Manifest.Delta == noFeed.Manifest.Delta {
		t.Errorf("a re-run after a revocation: wrote %v, removed %v, %+v", again.Written, again.Removed, again.Manifest)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a re-run")
}

// subjectOf returns the subject of tok, as recorded.
func subjectOf(t *testing.T, f *fixture, tok *issuer.Token) string {
	t.Helper()
	r, err := f.db.TokenGet(context.Background(), tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r.Subject
}

// TestPublishRebuildsPastManyChanges: more than SnapshotMinChanges changes
// after a snapshot bring a new one, fewer a delta, with the whole feed and
// without it (where the list is read whole only past that many changes).
func TestPublishRebuildsPastManyChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("revokes 4,097 tokens")
	}
	ctx := context.Background()
	f := newFixture(t)
	trees := []server.PublishConfig{{Dir: t.TempDir()}, {Dir: t.TempDir(), NoFeed: true}}
	publishAll := func() []*server.Published {
		t.Helper()
		var out []*server.Published
		for _, cfg := range trees {
			out = append(out, publishWith(t, f, cfg))
		}
		return out
	}
	publishAll()
	revokeMany := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "s", Audience: []string{"https://api"}})
					if err == nil {
						_, err = f.list.RevokeToken(ctx, tok.ID, revocation.Options{})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	revokeMany(server.SnapshotMinChanges)
	for i, p := range publishAll() {
		if p.NewSnapshot {
			t.Errorf("no feed %v: a new snapshot after %d changes", trees[i].NoFeed, server.SnapshotMinChanges)
		}
	}
	revokeMany(1)
	for i, p := range publishAll() {
		if !p.NewSnapshot {
			t.Errorf("no feed %v: no new snapshot after %d changes", trees[i].NoFeed, server.SnapshotMinChanges+1)
		}
	}
}

// TestEdgeFeedFollowsServeAndPublish: verifier/remote's EdgeFeed follows
// writ serve and a published tree alike: a verifier over it rejects the
// revoked tokens, old (in the snapshot's filter) and recent (exact), and
// accepts the others.
func TestEdgeFeedFollowsServeAndPublish(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	toks := append(oldTokens(t, f, 10, "alice"), issueTok(t, f.tokens, "bob"), issueTok(t, f.tokens, "bob"))
	revokedIDs := map[string]bool{toks[1].ID: true, toks[2].ID: true, toks[10].ID: true}
	for jti := range revokedIDs {
		if _, err := f.list.RevokeToken(ctx, jti, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	publish(t, f, dir, nil)
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(static.Close)
	ks := f.remoteKeys()
	for name, base := range map[string]string{"serve": f.url, "publish": static.URL} {
		t.Run(name, func(t *testing.T) {
			ef, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: base + feed.ManifestPath, Issuer: f.url, Keys: ks})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: ef})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(snap.Close)
			v, err := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
				Keys: ks, Revocation: snap})
			if err != nil {
				t.Fatal(err)
			}
			for i, tok := range toks {
				_, err := v.Verify(ctx, tok.Token)
				if revokedIDs[tok.ID] != errors.Is(err, verifier.ErrRevoked) || !revokedIDs[tok.ID] && err != nil {
					t.Errorf("token %d (revoked %v): %v", i, revokedIDs[tok.ID], err)
				}
			}
		})
	}
}

// TestPublishIgnoresPlantedManifest: Publish trusts a manifest it finds in
// Dir only for the issuer's signature. A snapshot that emptied the list,
// planted with a manifest naming it (its signature no longer holds), is
// never signed anew: the next run builds the snapshot from the database.
func TestPublishIgnoresPlantedManifest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := oldTokens(t, f, 4, "user0")
	if _, err := f.list.RevokeToken(ctx, old[1].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := publish(t, f, dir, nil)

	// The attacker's snapshot: the list's epoch and sequence, no revoked
	// token, built far in the future so that no age would replace it.
	empty, err := cascade.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := feed.AppendSnapshot(nil, &feed.Snapshot{Epoch: first.Manifest.Epoch, Seq: first.Manifest.Snapshot.Seq,
		Built: time.Now().AddDate(10, 0, 0).Unix(), Universe: time.Now().Unix(), Filter: empty})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	planted := first.Manifest
	planted.Snapshot.Path, planted.Snapshot.SHA256, planted.Snapshot.Size = feed.SnapshotPath(sum), sum, int64(len(body))
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(planted.Snapshot.Path)), body, 0o644); err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(feed.ManifestPath)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(signed), ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(feed.AppendManifest(nil, &planted))
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(feed.ManifestPath)), []byte(strings.Join(parts, ".")), 0o644); err != nil {
		t.Fatal(err)
	}

	again := publish(t, f, dir, nil)
	if !again.NewSnapshot || again.Manifest.Snapshot == planted.Snapshot {
		t.Fatalf("the planted snapshot was published again: %+v", again.Manifest.Snapshot)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(static.Close)
	if e := readEdge(t, static.URL, f.url, "", f.remoteKeys()); !e.revoked(old[1], subjectOf(t, f, old[1])) {
		t.Error("the published state lost a revocation")
	}
}
