package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// edgeState is what a verifier at the edge reads at a base URL: the
// manifest, the snapshot and the delta it names, each checked.
type edgeState struct {
	manifest *feed.Manifest
	snapshot *feed.Snapshot
	delta    *feed.Head
	changes  *feed.Batch
}

// get fetches path under base with token, and fails the test unless it is
// a 200.
func get(t *testing.T, base, path, token string) ([]byte, map[string]string) {
	t.Helper()
	f := &fixture{t: t, url: base}
	code, h, body := f.do("GET", path, token, "", "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return []byte(body), map[string]string{"Content-Type": h.Get("Content-Type"), "Cache-Control": h.Get("Cache-Control"), "ETag": h.Get("ETag")}
}

// readEdge reads the edge state at base, whose documents are signed by
// keys of ks and name issuer.
func readEdge(t *testing.T, base, iss, token string, ks verifier.KeySource) *edgeState {
	t.Helper()
	ctx := context.Background()
	doc, _ := get(t, base, feed.ManifestPath, token)
	payload, err := verifier.VerifyDocument(ctx, ks, feed.ManifestType, string(doc))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	m, err := feed.DecodeManifest(payload)
	if err != nil {
		t.Fatal(err)
	}
	if m.Issuer != iss || m.IssuedAt < time.Now().Unix()-5 || m.NextUpdate < m.IssuedAt {
		t.Errorf("manifest of %q signed at %d, next update %d", m.Issuer, m.IssuedAt, m.NextUpdate)
	}
	e := &edgeState{manifest: m}
	for _, ref := range []*feed.FileRef{&m.Snapshot, &m.Delta} {
		body, _ := get(t, base, ref.Path, token)
		if sha256.Sum256(body) != ref.SHA256 || int64(len(body)) != ref.Size {
			t.Fatalf("%s: not the file the manifest names", ref.Path)
		}
	}
	body, _ := get(t, base, m.Snapshot.Path, token)
	if e.snapshot, err = feed.DecodeSnapshot(body); err != nil {
		t.Fatal(err)
	}
	if e.snapshot.Epoch != m.Epoch || e.snapshot.Seq != m.Snapshot.Seq {
		t.Errorf("snapshot at %s/%d, manifest says %s/%d", e.snapshot.Epoch, e.snapshot.Seq, m.Epoch, m.Snapshot.Seq)
	}
	body, _ = get(t, base, m.Delta.Path, token)
	payload, err = verifier.VerifyDocument(ctx, ks, feed.Type, string(body))
	if err != nil {
		t.Fatalf("delta: %v", err)
	}
	if e.delta, e.changes, err = feed.Decode(payload); err != nil {
		t.Fatal(err)
	}
	if e.delta.Since != m.Snapshot.Seq || e.delta.Seq != m.Seq || e.delta.Epoch != m.Epoch || e.delta.Issuer != iss {
		t.Errorf("delta %+v for manifest %+v", e.delta, m)
	}
	return e
}

// revoked says what the edge state says of a token, as the edge contract
// has a verifier read it.
func (e *edgeState) revoked(tok *issuer.Token, subject string) bool {
	id := feed.TokenIDOf(tok.ID)
	for _, b := range []*feed.Batch{{Tokens: e.snapshot.Tokens, Subjects: e.snapshot.Subjects, Keys: e.snapshot.Keys}, e.changes} {
		for _, t := range b.Tokens {
			if t.ID == id && t.EffectiveAt <= time.Now().Unix() {
				return true
			}
		}
		for _, c := range b.Subjects {
			if c.Subject == subject && tok.IssuedAt.Unix() < c.IssuedBefore {
				return true
			}
		}
		for _, k := range b.Keys {
			if k.KID == tok.KeyID {
				return true
			}
		}
	}
	cid := cascade.ID(id)
	return tok.IssuedAt.Unix() < e.snapshot.Universe && e.snapshot.Filter.Contains(&cid)
}

// pastIssuer issues tokens dated back by ago, and recorded then (by the
// database's clock), on f's database: tokens inside a snapshot's universe.
func pastIssuer(t *testing.T, f *fixture, ago time.Duration) *issuer.Issuer {
	t.Helper()
	then := func() time.Time { return time.Now().Add(-ago) }
	past, err := issuer.New(issuer.Config{Issuer: f.url, Keys: f.ring, Store: f.db, Now: then, UnsafeDatabaseNow: then})
	if err != nil {
		t.Fatal(err)
	}
	return past
}

// oldTokens issues n tokens dated two hours back on f's database, to the
// subjects in turn.
func oldTokens(t *testing.T, f *fixture, n int, subjects ...string) []*issuer.Token {
	t.Helper()
	past := pastIssuer(t, f, 2*time.Hour)
	var old []*issuer.Token
	for i := range n {
		old = append(old, issueTok(t, past, subjects[i%len(subjects)]))
	}
	return old
}

func issueTok(t *testing.T, i *issuer.Issuer, subject string) *issuer.Token {
	t.Helper()
	tok, err := i.Issue(context.Background(), issuer.Request{Subject: subject, Audience: []string{"https://api"}, TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestEdgeFiles: writ serve names the manifest in its discovery document;
// the manifest, signed by the feed's key, names a snapshot and a delta
// that say of every token what the list says; files are content-addressed
// and immutable, the manifest is not cached; a revocation brings a new
// delta and manifest, not a new snapshot.
func TestEdgeFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := oldTokens(t, f, 40, "alice", "bob")
	recent := []*issuer.Token{issueTok(t, f.tokens, "alice"), issueTok(t, f.tokens, "alice")}
	for _, tok := range []*issuer.Token{old[0], old[2], old[5], recent[0]} {
		if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.list.RevokeToken(ctx, old[4].ID, revocation.Options{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}

	disc, _ := get(t, f.url, "/.well-known/oauth-authorization-server", "")
	var d map[string]any
	if err := json.Unmarshal(disc, &d); err != nil || d["revocation_snapshot_uri"] != f.url+feed.ManifestPath {
		t.Errorf("discovery: revocation_snapshot_uri %v, %v", d["revocation_snapshot_uri"], err)
	}
	// A snapshot of the list as it is now, not the one built at start.
	f.srv.DropEdgeSnapshot()
	ks := f.remoteKeys()
	e := readEdge(t, f.url, f.url, "", ks)
	check := func(e *edgeState) {
		t.Helper()
		for _, tok := range append(append([]*issuer.Token{}, old...), recent...) {
			want, err := f.list.Revoked(ctx, tok.ID, "", tok.KeyID, tok.IssuedAt)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.revoked(tok, ""); got != want {
				t.Errorf("token issued at %v: revoked %v at the edge, %v in the list", tok.IssuedAt, got, want)
			}
		}
	}
	check(e)
	if e.snapshot.Universe <= old[0].IssuedAt.Unix() || e.snapshot.Universe >= recent[0].IssuedAt.Unix() {
		t.Errorf("universe %d: the old tokens should be inside, the recent outside", e.snapshot.Universe)
	}
	if len(e.snapshot.Tokens) != 2 {
		t.Errorf("%d exact token entries, want 2 (the recent token, the grace period)", len(e.snapshot.Tokens))
	}

	// Headers, and conditional requests.
	_, h := get(t, f.url, feed.ManifestPath, "")
	if h["Content-Type"] != "application/jwt" || h["Cache-Control"] != "no-cache" || h["ETag"] == "" {
		t.Errorf("manifest headers %v", h)
	}
	for _, ref := range []feed.FileRef{e.manifest.Snapshot, e.manifest.Delta} {
		_, h := get(t, f.url, ref.Path, "")
		if h["Cache-Control"] != "public, max-age=31536000, immutable" || h["ETag"] == "" {
			t.Errorf("%s: headers %v", ref.Path, h)
		}
		if code, _, _ := f.do("GET", ref.Path, "", "", "", "If-None-Match", h["ETag"]); code != 304 {
			t.Errorf("%s: %d to If-None-Match of its ETag, want 304", ref.Path, code)
		}
	}
	if _, h := get(t, f.url, e.manifest.Snapshot.Path, ""); h["Content-Type"] != "application/octet-stream" {
		t.Errorf("snapshot Content-Type %q", h["Content-Type"])
	}

	// Names not of the exact form, or of no file, are 404s.
	sum := hex.EncodeToString(e.manifest.Snapshot.SHA256[:])
	for _, p := range []string{
		feed.SnapshotPrefix + strings.ToUpper(sum) + ".bin",
		feed.SnapshotPrefix + sum + ".jwt",
		feed.SnapshotPrefix + sum[:63] + ".bin",
		feed.SnapshotPrefix + sum + "0.bin",
		feed.SnapshotPrefix + strings.Repeat("0", 64) + ".bin",
		feed.DeltaPrefix + sum + ".bin",
		feed.DeltaPrefix + strings.Repeat("a", 64) + ".jwt",
		feed.SnapshotPrefix + "..%2fmanifest",
		feed.SnapshotPrefix,
	} {
		if code, _, _ := f.do("GET", p, "", "", ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}

	// A revocation: a new delta and manifest, the same snapshot.
	if _, err := f.list.RevokeToken(ctx, old[7].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, recent[1].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	e2 := readEdge(t, f.url, f.url, "", ks)
	if e2.manifest.Snapshot != e.manifest.Snapshot || e2.manifest.Delta.Path == e.manifest.Delta.Path || e2.manifest.Seq != e.manifest.Seq+2 {
		t.Errorf("after two revocations: manifest %+v, before %+v", e2.manifest, e.manifest)
	}
	check(e2)
	// The earlier delta is still served, for a verifier that read the
	// earlier manifest.
	get(t, f.url, e.manifest.Delta.Path, "")
	// Two builds (at start, then of the list above), measured.
	metrics, _ := get(t, f.url, "/metrics", "")
	for _, m := range []string{`writ_revocation_snapshot_builds_total{result="ok"} 2`, "writ_revocation_snapshot_build_seconds_count 2",
		fmt.Sprintf("writ_revocation_snapshot_bytes %d", e.manifest.Snapshot.Size)} {
		if !strings.Contains(string(metrics), m+"\n") {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// TestEdgeManifestSignedAgain: the manifest is signed again with a fresh
// iat once older than the refresh interval, naming the same files.
func TestEdgeManifestSignedAgain(t *testing.T) {
	f := newFixture(t)
	ks := f.remoteKeys()
	e := readEdge(t, f.url, f.url, "", ks)
	deadline := time.Now().Add(10 * time.Second)
	for {
		e2 := readEdge(t, f.url, f.url, "", ks)
		if e2.manifest.IssuedAt > e.manifest.IssuedAt {
			if e2.manifest.Snapshot != e.manifest.Snapshot || e2.manifest.Delta != e.manifest.Delta {
				t.Errorf("signed again with other files: %+v, before %+v", e2.manifest, e.manifest)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the manifest was not signed again")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEdgeManifestETag: within the refresh interval the manifest is the
// same document, and a conditional request for it is a 304.
func TestEdgeManifestETag(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.Refresh = time.Hour })
	_, h := get(t, f.url, feed.ManifestPath, "")
	_, h2 := get(t, f.url, feed.ManifestPath, "")
	if h["ETag"] == "" || h2["ETag"] != h["ETag"] {
		t.Errorf("ETags %q then %q", h["ETag"], h2["ETag"])
	}
	if code, h3, body := f.do("GET", feed.ManifestPath, "", "", "", "If-None-Match", h["ETag"]); code != 304 || body != "" || h3.Get("ETag") != h["ETag"] {
		t.Errorf("If-None-Match of its ETag: %d %q", code, body)
	}
}

// TestPrivateEdge: a private feed keeps the manifest, snapshots and deltas
// to tokens with the feed's scope, and so the published feed path.
func TestPrivateEdge(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.PrivateFeed = true })
	feedToken := f.issue("verifier-1", []string{f.url}, server.FeedScope)
	e := readEdge(t, f.url, f.url, feedToken, f.remoteKeys())
	for _, p := range []string{feed.ManifestPath, e.manifest.Snapshot.Path, e.manifest.Delta.Path, server.PublishedFeedPath} {
		if code, h, _ := f.do("GET", p, "", "", ""); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s without a token: %d", p, code)
		}
		if code, _, _ := f.do("GET", p, f.admin, "", ""); code != 403 {
			t.Errorf("GET %s with an admin token: %d, want 403", p, code)
		}
	}
}

// failingLedger fails every read of the ledger's jtis, as a snapshot
// build does when the database fails.
type failingLedger struct{ *sqlite.DB }

func (f failingLedger) BeginRead(ctx context.Context) (store.Tx, error) {
	tx, err := f.DB.BeginRead(ctx)
	return failingTx{tx}, err
}

type failingTx struct{ store.Tx }

func (failingTx) TokenJTIEach(context.Context, int64, int64, func([]byte) error) error {
	return errors.New("disk on fire")
}

// TestEdgeBuildFails: a failed build is a 500 without details, logged and
// counted; requests within a minute of it do not build again.
func TestEdgeBuildFails(t *testing.T) {
	f := newFixture(t, func(c *server.Config, db *sqlite.DB) {
		list, err := revocation.NewList(revocation.Config{Store: failingLedger{db}})
		if err != nil {
			t.Fatal(err)
		}
		c.Revocations = list
	})
	for range 3 {
		if code, _, body := f.do("GET", feed.ManifestPath, "", "", ""); code != 500 || strings.Contains(body, "fire") {
			t.Errorf("manifest with a failing build: %d %s", code, body)
		}
	}
	if !strings.Contains(f.logs.String(), "disk on fire") {
		t.Error("the failure is not logged")
	}
	metrics, _ := get(t, f.url, "/metrics", "")
	if !strings.Contains(string(metrics), `writ_revocation_snapshot_builds_total{result="error"} 1`+"\n") {
		t.Errorf("builds: %s", metrics)
	}
}

// TestEdgeNewEpoch: when the list's epoch changes (a database restored
// from a backup), writ serve builds a snapshot of the new epoch before it
// answers, and writ publish a new snapshot.
func TestEdgeNewEpoch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ks := f.remoteKeys()
	dir := t.TempDir()
	before := readEdge(t, f.url, f.url, "", ks)
	published := publish(t, f, dir, nil)
	if err := f.db.MetaPut(ctx, store.MetaRevocationEpoch, []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	after := readEdge(t, f.url, f.url, "", ks)
	if after.manifest.Epoch == before.manifest.Epoch || after.manifest.Epoch != hex.EncodeToString([]byte("0123456789abcdef")) ||
		after.manifest.Snapshot.Path == before.manifest.Snapshot.Path {
		t.Errorf("served after a new epoch: %+v, before %+v", after.manifest, before.manifest)
	}
	again := publish(t, f, dir, nil)
	if !again.NewSnapshot || again.Manifest.Epoch != after.manifest.Epoch || again.Manifest.Snapshot.Path == published.Manifest.Snapshot.Path {
		t.Errorf("published after a new epoch: %+v, before %+v", again.Manifest, published.Manifest)
	}
}

// blockingLedger holds every read of the ledger's jtis until release is
// closed, as a build of a large snapshot takes its time.
type blockingLedger struct {
	*sqlite.DB
	release chan struct{}
}

func (b blockingLedger) BeginRead(ctx context.Context) (store.Tx, error) {
	tx, err := b.DB.BeginRead(ctx)
	return blockingTx{tx, b.release}, err
}

type blockingTx struct {
	store.Tx
	release chan struct{}
}

func (b blockingTx) TokenJTIEach(ctx context.Context, before, from int64, fn func([]byte) error) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Tx.TokenJTIEach(ctx, before, from, fn)
}

// TestEdgeBuildAtStart: writ serve builds the first snapshot when it
// starts, before any request asks for it.
func TestEdgeBuildAtStart(t *testing.T) {
	f := newFixture(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics, _ := get(t, f.url, "/metrics", "")
		if strings.Contains(string(metrics), `writ_revocation_snapshot_builds_total{result="ok"} 1`+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot built at start: %s", metrics)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The first request takes it, with no other build.
	readEdge(t, f.url, f.url, "", f.remoteKeys())
	metrics, _ := get(t, f.url, "/metrics", "")
	if !strings.Contains(string(metrics), `writ_revocation_snapshot_builds_total{result="ok"} 1`+"\n") {
		t.Errorf("builds after the first request: %s", metrics)
	}
}

// TestEdgeBuildWaitBounded: a request for the manifest that finds no
// snapshot waits for the build under way for a bounded time, then is a
// 503 with Retry-After; once the build ends, the manifest is served.
func TestEdgeBuildWaitBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(c *server.Config, db *sqlite.DB) {
		list, err := revocation.NewList(revocation.Config{Store: blockingLedger{db, release}})
		if err != nil {
			t.Fatal(err)
		}
		c.Revocations = list
	})
	// Run before the server closes, which waits for the build.
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	f.srv.SetEdgeBuildWait(50 * time.Millisecond)
	for range 2 {
		code, h, body := f.do("GET", feed.ManifestPath, "", "", "")
		if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("manifest while the first build is held: %d %v %s", code, h, body)
		}
	}
	close(release)
	readEdge(t, f.url, f.url, "", f.remoteKeys())
	metrics, _ := get(t, f.url, "/metrics", "")
	if !strings.Contains(string(metrics), `writ_revocation_snapshot_builds_total{result="ok"} 1`+"\n") {
		t.Errorf("builds: %s", metrics)
	}
}
