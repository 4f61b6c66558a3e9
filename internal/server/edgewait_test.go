package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// heldManifest is the query of a read of the manifest held while the list
// is at the state of e's manifest.
func heldManifest(e *edgeState, wait int) string {
	return fmt.Sprintf("%s?epoch=%s&seq=%d&wait=%d", feed.ManifestPath, url.QueryEscape(e.manifest.Epoch), e.manifest.Seq, wait)
}

// followWaiting returns a snapshot of f's revocation list read with an
// EdgeFeed at base (f's server, or a static host of its publish tree)
// that waits 30s for changes, refreshing every hour otherwise.
func followWaiting(t *testing.T, f *fixture, base string, keys verifier.KeySource) *revoked.Snapshot {
	t.Helper()
	ef, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: base + feed.ManifestPath, Issuer: f.url, Keys: keys, Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: ef, Refresh: time.Hour, MaxStaleness: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	return snap
}

// TestEdgeWaitBadValues: a read of the manifest with a bad wait or seq is
// refused with 400 and says what it must be.
func TestEdgeWaitBadValues(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ query, want string }{
		{"wait=-1", "wait must be a whole number of seconds from 0 to 30"},
		{"wait=31", "wait must be a whole number of seconds from 0 to 30"},
		{"wait=1s", "wait must be a whole number of seconds from 0 to 30"},
		{"seq=0&wait=99999999999999999999", "wait must be a whole number of seconds from 0 to 30"},
		{"seq=-1&wait=1", "seq must be a sequence number"},
		{"seq=x", "seq must be a sequence number"},
	} {
		t.Run(c.query, func(t *testing.T) {
			code, _, body := f.do("GET", feed.ManifestPath+"?"+c.query, "", "", "")
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("%d %s; want 400 saying %q", code, body, c.want)
			}
		})
	}
}

// TestEdgeWaitAtOnce: a read of the manifest from a reader at another
// sequence number or epoch than the list's, or without one, is answered
// at once, as without wait.
func TestEdgeWaitAtOnce(t *testing.T) {
	f := newFixture(t)
	f.revokeNew()
	e := readEdge(t, f.url, f.url, "", f.remoteKeys())
	ctx := context.Background()
	for name, query := range map[string]string{
		"behind":        fmt.Sprintf("?epoch=%s&seq=0&wait=30", e.manifest.Epoch),
		"another epoch": fmt.Sprintf("?epoch=00&seq=%d&wait=30", e.manifest.Seq),
		"no epoch":      fmt.Sprintf("?seq=%d&wait=30", e.manifest.Seq),
		"no seq":        fmt.Sprintf("?epoch=%s&wait=30", e.manifest.Epoch),
	} {
		a := await(t, name, read(ctx, f.url, feed.ManifestPath+query))
		if a.err != nil || a.code != http.StatusOK {
			t.Errorf("%s: %d, %v", name, a.code, a.err)
		}
	}
	if n := f.waiters(); n != 0 {
		t.Errorf("%d reads held", n)
	}
}

// TestEdgeWaitTimeout: a read of the manifest held to the end of its wait
// is answered with the manifest signed within the refresh interval before
// the end (a verifier counts its staleness from that signature), or 304
// to a conditional read of it.
func TestEdgeWaitTimeout(t *testing.T) {
	f := newFixture(t)
	f.revokeNew()
	ks := f.remoteKeys()
	e := readEdge(t, f.url, f.url, "", ks)
	ctx := context.Background()
	asked := time.Now().Truncate(time.Second)
	a := await(t, "a plain read", read(ctx, f.url, heldManifest(e, 1)))
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("a plain read held to the end: %d %v", a.code, a.err)
	}
	payload, err := verifier.VerifyDocument(ctx, ks, feed.ManifestType, a.body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := feed.DecodeManifest(payload)
	if err != nil || m.Seq != e.manifest.Seq || m.IssuedAt < asked.Add(time.Second).Unix() {
		t.Errorf("a plain read held to the end: %+v, %v; want seq %d signed at the end of the wait, %v or later", m, err, e.manifest.Seq, asked.Add(time.Second))
	}

	f = newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.Refresh = time.Hour })
	f.revokeNew()
	e = readEdge(t, f.url, f.url, "", f.remoteKeys())
	_, h := get(t, f.url, feed.ManifestPath, "")
	a = await(t, "a conditional read", read(ctx, f.url, heldManifest(e, 1), "If-None-Match", h["ETag"]))
	if a.err != nil || a.code != http.StatusNotModified || a.hdr.Get("ETag") != h["ETag"] {
		t.Errorf("a conditional read held to the end: %d %v, ETag %q; want 304 with %q", a.code, a.err, a.hdr.Get("ETag"), h["ETag"])
	}
}

// TestEdgeWaitPrivate: a private feed refuses a held read of the manifest
// without a token, and holds one with a token of its scope.
func TestEdgeWaitPrivate(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.PrivateFeed = true })
	feedToken := f.issue("verifier-1", []string{f.url}, server.FeedScope)
	e := readEdge(t, f.url, f.url, feedToken, f.remoteKeys())
	ctx := context.Background()
	if a := await(t, "a read without a token", read(ctx, f.url, heldManifest(e, 30))); a.code != http.StatusUnauthorized {
		t.Errorf("without a token: %d %v, want 401", a.code, a.err)
	}
	held := read(ctx, f.url, heldManifest(e, 30), "Authorization", "Bearer "+feedToken)
	f.holding(1)
	f.revokeNew()
	if a := await(t, "a held read with a token", held); a.err != nil || a.code != http.StatusOK {
		t.Errorf("with a token: %d %v", a.code, a.err)
	}
}

// TestEdgePushToManyVerifiers: verifiers following writ serve's manifest
// with a wait all learn of each revocation, held until it comes, and each
// change costs one delta and one manifest signed, however many wait.
func TestEdgePushToManyVerifiers(t *testing.T) {
	const verifiers, revocations = 50, 3
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.Refresh = time.Hour })
	ctx := context.Background()
	keys := f.remoteKeys()
	snaps := make([]*revoked.Snapshot, verifiers)
	for i := range snaps {
		snaps[i] = followWaiting(t, f, f.url, keys)
	}
	const deltas, manifests = "writ_revocation_deltas_signed_total", "writ_revocation_manifests_signed_total"
	for r := range revocations {
		f.holding(verifiers)
		beforeDeltas, beforeManifests := f.feedCounter(deltas), f.feedCounter(manifests)
		tok := f.revokeNew()
		claims := &verifier.Claims{ID: tok.ID}
		for i, snap := range snaps {
			eventually(t, fmt.Sprintf("revocation %d at verifier %d", r, i), func() bool {
				return errors.Is(snap.CheckRevocation(ctx, claims), verifier.ErrRevoked)
			})
		}
		if d, m := f.feedCounter(deltas)-beforeDeltas, f.feedCounter(manifests)-beforeManifests; d != 1 || m != 1 {
			t.Errorf("revocation %d read by %d verifiers: %d deltas and %d manifests signed, want one each", r, verifiers, d, m)
		}
	}
}

// TestEdgeWaitStaticHost: a verifier asking a static host (a writ publish
// tree behind http.FileServer) to wait is answered at once, and reads the
// manifest at its snapshot's pace, not back to back; it learns of a
// revocation when the tree is published again.
func TestEdgeWaitStaticHost(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dir := t.TempDir()
	publish(t, f, dir, nil)
	var reads atomic.Int64
	files := http.FileServer(http.Dir(dir))
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == feed.ManifestPath {
			reads.Add(1)
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(static.Close)
	// A background read every hour: the first comes at once, the second
	// not within the test.
	snap := followWaiting(t, f, static.URL, f.remoteKeys())
	eventually(t, "the background read", func() bool { return reads.Load() >= 2 })
	time.Sleep(300 * time.Millisecond) // a loop back to back would read thousands of times
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads of the manifest, want 2: the first and one background read", n)
	}
	tok := f.revokeNew()
	publish(t, f, dir, nil)
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: tok.ID}); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("after publishing a revocation: %v, want revoked", err)
	}
}

// TestEdgeWaitDoesNotHoldUpChanges: while a read of an EdgeFeed is held by
// the server, another read of the same feed (a Snapshot's Refresh) is
// answered, and the held read then brings the next change.
func TestEdgeWaitDoesNotHoldUpChanges(t *testing.T) {
	f := newFixture(t)
	f.revokeNew()
	ctx := context.Background()
	ef, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: f.url + feed.ManifestPath, Issuer: f.url, Keys: f.remoteKeys(), Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ef.Changes(ctx, 0)
	if err != nil || b.Seq != 1 {
		t.Fatalf("first read: %+v, %v", b, err)
	}
	type result struct {
		b   *revoked.Batch
		err error
	}
	held := make(chan result, 1)
	go func() {
		b, err := ef.WaitChanges(ctx, 1)
		held <- result{b, err}
	}()
	f.holding(1)
	plain := make(chan result, 1)
	go func() {
		b, err := ef.Changes(ctx, 1)
		plain <- result{b, err}
	}()
	if r := await(t, "a plain read beside a held one", plain); r.err != nil || r.b.Seq != 1 {
		t.Errorf("a plain read beside a held one: %+v, %v", r.b, r.err)
	}
	if n := f.waiters(); n != 1 {
		t.Errorf("%d reads held, want the first still held", n)
	}
	tok := f.revokeNew()
	r := await(t, "the held read", held)
	// The delta runs from the snapshot, which the server may have built
	// at its start, before the first revocation: the new one is among
	// its tokens.
	if r.err != nil || r.b.Seq != 2 || !slices.ContainsFunc(r.b.Tokens, func(e revoked.RevokedToken) bool { return e.ID == revoked.TokenIDOf(tok.ID) }) {
		t.Errorf("the held read: %+v, %v; want seq 2 with the revoked token", r.b, r.err)
	}
}
