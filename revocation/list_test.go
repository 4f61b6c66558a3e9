package revocation_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// env is a writ database with keys, an issuer and a revocation list, all on
// one test clock.
type env struct {
	path   string
	db     *sqlite.DB
	ring   *keys.Ring
	issuer *issuer.Issuer
	list   *revocation.List
	clock  *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{path: filepath.Join(dir, "writ.db"), clock: &clock{time.Now().UTC().Truncate(time.Second)}}
	e.db = sqlitetest.Create(t, e.path)
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	if e.ring, err = keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: mk, Now: e.clock.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Ensure(ctx, verifier.EdDSA); err != nil {
		t.Fatal(err)
	}
	if e.issuer, err = issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: e.ring, Store: e.db, Now: e.clock.now, UnsafeDatabaseNow: e.clock.now}); err != nil {
		t.Fatal(err)
	}
	if e.list, err = revocation.NewList(revocation.Config{Store: e.db, MaxTTL: e.issuer.MaxTTL(), Now: e.clock.now, UnsafeDatabaseNow: e.clock.now}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) issue(t *testing.T, subject string, ttl time.Duration) *issuer.Token {
	t.Helper()
	tok, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: subject, Audience: []string{"api"}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifier returns a verifier over the keyring that consults snap.
func (e *env) verifier(t *testing.T, snap *revoked.Snapshot) *verifier.Verifier {
	t.Helper()
	ks, err := e.ring.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: "https://issuer.test", Audience: "api",
		Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, Now: e.clock.now, Revocation: snap})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) snapshot(t *testing.T, cfg revoked.SnapshotConfig) *revoked.Snapshot {
	t.Helper()
	if cfg.Feed == nil {
		cfg.Feed = e.list
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.now
	}
	s, err := revoked.NewSnapshot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestRevokeToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.issue(t, "alice", time.Hour), e.issue(t, "alice", time.Hour)
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	v := e.verifier(t, snap)

	first, err := e.list.RevokeToken(ctx, a.ID, revocation.Options{Reason: "leaked", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.Kind != revocation.Token || first.Value != a.ID || !first.ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("entry = %+v", first)
	}
	// Revoking twice is not an error and changes nothing.
	again, err := e.list.RevokeToken(ctx, a.ID, revocation.Options{Actor: "test"})
	if err != nil || again.Seq != first.Seq {
		t.Errorf("second revocation: %+v, %v", again, err)
	}

	// The snapshot sees nothing until it refreshes.
	if _, err := v.Verify(ctx, a.Token); err != nil {
		t.Fatalf("before refresh: %v", err)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if snap.Seq() != 1 {
		t.Errorf("snapshot at seq %d, want 1", snap.Seq())
	}
	if _, err := v.Verify(ctx, a.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("revoked token: %v, want ErrRevoked", err)
	}
	if _, err := v.Verify(ctx, b.Token); err != nil {
		t.Errorf("other token: %v", err)
	}
}

func TestRevokeErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.issue(t, "alice", time.Hour)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"unknown jti", func() error {
			_, err := e.list.RevokeToken(ctx, "AAAAAAAAAAAAAAAAAAAAAA", revocation.Options{})
			return err
		}, revocation.ErrUnknownToken},
		{"empty jti", func() error { _, err := e.list.RevokeToken(ctx, "", revocation.Options{}); return err }, revocation.ErrInvalid},
		{"control characters", func() error { _, err := e.list.RevokeToken(ctx, "a\nb", revocation.Options{}); return err }, revocation.ErrInvalid},
		{"huge jti", func() error {
			_, err := e.list.RevokeToken(ctx, string(make([]byte, 300)), revocation.Options{})
			return err
		}, revocation.ErrInvalid},
		{"negative grace", func() error {
			_, err := e.list.RevokeToken(ctx, "x", revocation.Options{Grace: -time.Second})
			return err
		}, revocation.ErrInvalid},
		{"unknown subject", func() error {
			_, err := e.list.RevokeSubject(ctx, "bob", time.Time{}, revocation.Options{})
			return err
		}, revocation.ErrUnknownSubject},
		{"unknown key", func() error { _, err := e.list.RevokeKey(ctx, "no-such-kid", revocation.Options{}); return err }, revocation.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Nothing was half-written.
	entries, err := e.list.Entries(ctx, revocation.Filter{})
	if err != nil || len(entries) != 0 {
		t.Errorf("entries after failed revocations: %v, %v", entries, err)
	}
}

func TestRevokeSubject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.issue(t, "alice", time.Hour)
	bob := e.issue(t, "bob", time.Hour)
	// Revoked in the same second as old was issued: old must be covered.
	e.clock.advance(400 * time.Millisecond)
	entry, err := e.list.RevokeSubject(ctx, "alice", time.Time{}, revocation.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !entry.IssuedBefore.After(old.IssuedAt) {
		t.Errorf("cut-off %v does not cover a token issued at %v", entry.IssuedBefore, old.IssuedAt)
	}
	e.clock.advance(2 * time.Second)
	fresh := e.issue(t, "alice", time.Hour)

	v := e.verifier(t, e.snapshot(t, revoked.SnapshotConfig{}))
	if _, err := v.Verify(ctx, old.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("old token of alice: %v, want ErrRevoked", err)
	}
	if _, err := v.Verify(ctx, fresh.Token); err != nil {
		t.Errorf("token issued after the cut-off: %v", err)
	}
	if _, err := v.Verify(ctx, bob.Token); err != nil {
		t.Errorf("bob: %v", err)
	}
}

func TestRevokeKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	// Not while it signs: tokens it signed later would outlive the entry.
	if _, err := e.list.RevokeKey(ctx, tok.KeyID, revocation.Options{Actor: "test"}); !errors.Is(err, revocation.ErrInvalid) {
		t.Fatalf("revoke the active key: %v, want ErrInvalid", err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.list.RevokeKey(ctx, tok.KeyID, revocation.Options{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	v := e.verifier(t, e.snapshot(t, revoked.SnapshotConfig{}))
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("token of a revoked key: %v, want ErrRevoked", err)
	}
}

func TestGracePeriod(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	newTok, err := e.issuer.Regenerate(ctx, tok.ID, revocation.Options{Actor: "test", Grace: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	v := e.verifier(t, snap)
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Errorf("old token within the grace period: %v", err)
	}
	if c, err := v.Verify(ctx, newTok.Token); err != nil || c.Subject != "alice" {
		t.Errorf("new token: %v", err)
	}
	e.clock.advance(10*time.Minute + time.Second)
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("old token after the grace period: %v, want ErrRevoked", err)
	}
	// Revoking now, without grace, takes effect at once even in a snapshot
	// that was loaded during the grace.
	tok2 := e.issue(t, "bob", time.Hour)
	if _, err := e.list.RevokeToken(ctx, tok2.ID, revocation.Options{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2.Token); err != nil {
		t.Errorf("within an hour's grace: %v", err)
	}
	if _, err := e.list.RevokeToken(ctx, tok2.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("after an immediate revocation: %v, want ErrRevoked", err)
	}
	// A fresh snapshot agrees.
	if _, err := e.verifier(t, e.snapshot(t, revoked.SnapshotConfig{})).Verify(ctx, tok2.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("fresh snapshot: %v, want ErrRevoked", err)
	}
}

func TestIncrementalRefreshAndPrune(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	var toks []*issuer.Token
	for i := range 5 {
		tok := e.issue(t, "alice", time.Duration(i+1)*time.Hour)
		toks = append(toks, tok)
		if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
		if err := snap.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if snap.Seq() != int64(i+1) || snap.Len() != i+1 {
			t.Fatalf("after %d revocations: seq %d, len %d", i+1, snap.Seq(), snap.Len())
		}
	}
	// Two hours and four minutes later the first two tokens have expired,
	// but the second not by more than a verifier's largest leeway: prune
	// drops the first entry only. Two minutes on, the second. The sequence
	// does not move back.
	e.clock.advance(2*time.Hour + 4*time.Minute)
	n, err := e.list.Prune(ctx, "test")
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	e.clock.advance(2 * time.Minute)
	if n, err := e.list.Prune(ctx, "test"); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1 more", n, err)
	}
	fresh := e.snapshot(t, revoked.SnapshotConfig{})
	if fresh.Seq() != 5 || fresh.Len() != 3 {
		t.Errorf("fresh snapshot after prune: seq %d, len %d; want 5, 3", fresh.Seq(), fresh.Len())
	}
	v := e.verifier(t, fresh)
	for _, tok := range toks[2:] {
		if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("unexpired revoked token: %v", err)
		}
	}
	// A later revocation gets the next number.
	tok := e.issue(t, "bob", time.Hour)
	entry, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{})
	if err != nil || entry.Seq != 6 {
		t.Errorf("next entry: %+v, %v; want seq 6", entry, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	e := newEnv(t)
	sqlitetest.SetSchemaVersion(t, e.db, 999)
	e.db.Close()
	_, err := sqlite.Open(context.Background(), e.path, false)
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Errorf("got %v, want ErrNewerSchema", err)
	}
}

// TestRevocationOutlivesLeeway: a verifier with the largest leeway accepts
// a token until its exp plus that leeway, so the snapshot (refreshed, and
// loaded afresh) keeps its revocation that long.
func TestRevocationOutlivesLeeway(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	e.clock.advance(time.Hour + verifier.MaxLeeway - time.Minute)
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	ks, err := e.ring.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*revoked.Snapshot{"refreshed": snap, "loaded now": e.snapshot(t, revoked.SnapshotConfig{})} {
		v, err := verifier.New(verifier.Config{Issuer: "https://issuer.test", Audience: "api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
			Keys: ks, Now: e.clock.now, Leeway: verifier.MaxLeeway, Revocation: s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s snapshot, %v after expiry, leeway %v: %v, want ErrRevoked", name, verifier.MaxLeeway-time.Minute, verifier.MaxLeeway, err)
		}
	}
}

// switchFeed reads from one list, then from another: a server whose
// database was restored from a backup.
type switchFeed struct{ revoked.Feed }

// TestRestoredFromBackup: a verifier that followed a database keeps every
// revocation it held when the database is restored from a backup, and
// also gets the revocations made after the restore, although their
// sequence numbers repeat those it had already seen.
func TestRestoredFromBackup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	revoke := func(list *revocation.List) *issuer.Token {
		t.Helper()
		tok := e.issue(t, "alice", time.Hour)
		if _, err := list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	before := revoke(e.list)
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	if err := e.db.Backup(ctx, backupPath); err != nil {
		t.Fatal(err)
	}
	lost := []*issuer.Token{revoke(e.list), revoke(e.list)} // seq 2, 3: not in the backup
	// ahead refreshes right after the restore (its seq is then beyond the
	// list's); behind only once the restored list has passed its seq
	// again (only the epoch tells).
	feed := &switchFeed{e.list}
	ahead := e.snapshot(t, revoked.SnapshotConfig{Feed: feed})
	behind := e.snapshot(t, revoked.SnapshotConfig{Feed: feed})
	if ahead.Seq() != 3 || behind.Seq() != 3 {
		t.Fatalf("snapshots at %d and %d, want 3", ahead.Seq(), behind.Seq())
	}

	// Restore: the backup becomes the database, at seq 1; tokens recorded
	// since the backup are unknown to it, so new revocations there are of
	// tokens issued after the restore.
	restoredDB, err := sqlite.Open(ctx, backupPath, false)
	if err != nil {
		t.Fatal(err)
	}
	defer restoredDB.Close()
	restored, err := revocation.NewList(revocation.Config{Store: restoredDB, MaxTTL: e.issuer.MaxTTL(), Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	restoredIssuer, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: e.ring, Store: restoredDB, Now: e.clock.now, UnsafeDatabaseNow: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	feed.Feed = restored
	if _, err := restored.Changes(ctx, 3); !errors.Is(err, revoked.ErrAhead) {
		t.Errorf("changes after 3 from a list at 1: %v, want ErrAhead", err)
	}
	if err := ahead.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var after []*issuer.Token
	for range 3 { // seq 2, 3, 4 again, for other tokens
		tok, err := restoredIssuer.Issue(ctx, issuer.Request{Subject: "bob", Audience: []string{"api"}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := restored.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
		after = append(after, tok)
	}
	for name, snap := range map[string]*revoked.Snapshot{"ahead": ahead, "behind": behind} {
		if err := snap.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		v := e.verifier(t, snap)
		for _, tok := range append(append([]*issuer.Token{before}, lost...), after...) {
			if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
				t.Errorf("%s snapshot, token %s: %v, want ErrRevoked", name, tok.ID, err)
			}
		}
		if snap.Seq() != 4 {
			t.Errorf("%s snapshot at %d, want the restored list's 4", name, snap.Seq())
		}
	}
}

// TestPruneRepacksOnlyForTokens: a prune that removes only subject or key
// entries leaves the packed copy of the token entries as it is (rewriting
// it held the write lock for seconds at a million entries); one that
// removes token entries makes it again, and a fresh snapshot agrees.
func TestPruneRepacksOnlyForTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	short := e.issue(t, "alice", time.Hour)
	long := e.issue(t, "alice", 3*time.Hour)
	for _, tok := range []*issuer.Token{short, long} {
		if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	e.issue(t, "bob", time.Hour)
	if _, err := e.list.RevokeSubject(ctx, "bob", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	// Count rewrites of the packed copy.
	repacks := sqlitetest.CountDeletes(t, e.db, "revoked_tokens_packed")
	// The subject entry lasts as long as the longest token a subject may
	// hold: move it alone into the past.
	sqlitetest.Set(t, e.db, "revocations", map[string]any{"expires_at": e.clock.now().Add(-time.Hour).Unix()}, sqlitetest.Where{"kind": "subject"})
	if n, err := e.list.Prune(ctx, "test"); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the subject entry", n, err)
	}
	if got := repacks(); got != 0 {
		t.Errorf("a prune of a subject entry rewrote the packed token entries (%d rows deleted)", got)
	}
	e.clock.advance(time.Hour + 10*time.Minute)
	if n, err := e.list.Prune(ctx, "test"); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the expired token's entry", n, err)
	}
	if got := repacks(); got == 0 {
		t.Error("a prune of a token entry left the packed copy as it was")
	}
	v := e.verifier(t, e.snapshot(t, revoked.SnapshotConfig{}))
	if _, err := v.Verify(ctx, long.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("the unexpired revoked token after the prunes: %v, want ErrRevoked", err)
	}
}

// TestZeroMaxTTL: a zero MaxTTL means DefaultMaxTTL, for the List as for
// the issuer and the keyring.
func TestZeroMaxTTL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.issue(t, "alice", time.Hour)
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	entry, err := list.RevokeSubject(ctx, "alice", time.Time{}, revocation.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := entry.ExpiresAt.Sub(entry.IssuedBefore); got != revocation.DefaultMaxTTL || issuer.DefaultMaxTTL != revocation.DefaultMaxTTL {
		t.Errorf("a subject entry lasts %v with a zero MaxTTL; want revocation.DefaultMaxTTL, %v, which issuer.DefaultMaxTTL (%v) is",
			got, revocation.DefaultMaxTTL, issuer.DefaultMaxTTL)
	}
}
