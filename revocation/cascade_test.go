package revocation_test

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// issueChild issues a token of alice whose parent is parent.
func (e *env) issueChild(t *testing.T, parent string, ttl time.Duration) *issuer.Token {
	t.Helper()
	tok, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: ttl, Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tree issues alice a parent token with a child, a grandchild and a
// short-lived second child, and an unrelated token.
func (e *env) tree(t *testing.T) (parent, child, grandchild, short, other *issuer.Token) {
	t.Helper()
	parent = e.issue(t, "alice", 2*time.Hour)
	child = e.issueChild(t, parent.ID, time.Hour)
	grandchild = e.issueChild(t, child.ID, 30*time.Minute)
	short = e.issueChild(t, parent.ID, 10*time.Minute)
	other = e.issue(t, "alice", time.Hour)
	return
}

// tokenEntries returns the token entries of the list by jti.
func (e *env) tokenEntries(t *testing.T) map[string]revocation.Entry {
	t.Helper()
	entries, err := e.list.Entries(context.Background(), revocation.Filter{Kind: revocation.Token})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]revocation.Entry{}
	for _, en := range entries {
		m[en.Value] = en
	}
	return m
}

// TestRevokeTokenCascades: revoking a token revokes its descendants, each
// by an entry of its own that a verifier enforces, with an audit event,
// and leaves other tokens alone.
func TestRevokeTokenCascades(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent, child, grandchild, short, other := e.tree(t)
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	v := e.verifier(t, snap)

	if _, err := e.list.RevokeToken(ctx, parent.ID, revocation.Options{Reason: "leaked", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	entries := e.tokenEntries(t)
	for _, tok := range []*issuer.Token{child, grandchild, short} {
		en, ok := entries[tok.ID]
		if !ok {
			t.Errorf("descendant %s not revoked", tok.ID)
			continue
		}
		if !en.EffectiveAt.Equal(e.clock.now()) || !en.ExpiresAt.Equal(tok.ExpiresAt) || en.Reason != "parent "+parent.ID+" revoked" || en.Actor != "test" {
			t.Errorf("entry of %s: %+v", tok.ID, en)
		}
		if n := sqlitetest.Count(t, e.db, "audit", sqlitetest.Where{"jti": tok.ID, "action": "token.revoke"}); n != 1 {
			t.Errorf("%d audit events for %s", n, tok.ID)
		}
	}
	if _, ok := entries[other.ID]; ok || len(entries) != 4 {
		t.Errorf("entries %v: want the parent and its three descendants", slices.Collect(maps.Keys(entries)))
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []*issuer.Token{parent, child, grandchild, short} {
		if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s: Verify = %v, want ErrRevoked", tok.ID, err)
		}
	}
	if _, err := v.Verify(ctx, other.Token); err != nil {
		t.Errorf("the unrelated token: %v", err)
	}
	for _, tok := range []*issuer.Token{child, grandchild} {
		if rec, err := e.issuer.Get(ctx, tok.ID); err != nil || rec.Status != issuer.StatusRevoked {
			t.Errorf("%s: record %+v, %v", tok.ID, rec, err)
		}
	}
}

// TestRevokeTokenCascadesWithGrace: the descendants' revocations take
// effect with the parent's; one that expires before that is left alone;
// revoking the parent again, sooner, brings theirs forward too.
func TestRevokeTokenCascadesWithGrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent, child, grandchild, short, _ := e.tree(t)
	first, err := e.list.RevokeToken(ctx, parent.ID, revocation.Options{Grace: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	entries := e.tokenEntries(t)
	for _, tok := range []*issuer.Token{child, grandchild} {
		if en, ok := entries[tok.ID]; !ok || !en.EffectiveAt.Equal(first.EffectiveAt) {
			t.Errorf("entry of %s: %+v, want effective at %v", tok.ID, en, first.EffectiveAt)
		}
	}
	if _, ok := entries[short.ID]; ok {
		t.Error("a descendant that expires before the revocation takes effect was revoked")
	}
	e.clock.advance(time.Minute)
	if _, err := e.list.RevokeToken(ctx, parent.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	entries = e.tokenEntries(t)
	for _, tok := range []*issuer.Token{parent, child, grandchild, short} {
		if en, ok := entries[tok.ID]; !ok || !en.EffectiveAt.Equal(e.clock.now()) {
			t.Errorf("entry of %s: %+v, want effective now", tok.ID, en)
		}
	}
}

// TestRegenerateCascades: regenerating a token revokes what it issued,
// and the replacement of a child keeps its parent, so that revoking the
// parent still revokes it, and its networks.
func TestRegenerateCascades(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent, child, grandchild, _, _ := e.tree(t)
	bound, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: time.Hour, Parent: parent.ID,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	if err != nil {
		t.Fatal(err)
	}
	if repl, err := e.issuer.Regenerate(ctx, bound.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	} else if rec, err := e.issuer.Get(ctx, repl.ID); err != nil || len(rec.AllowedIPs) != 1 || rec.AllowedIPs[0].String() != "10.1.0.0/16" {
		t.Errorf("the replacement of a token bound to networks: %+v, %v", rec, err)
	}
	repl, err := e.issuer.Regenerate(ctx, child.ID, revocation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	entries := e.tokenEntries(t)
	if _, ok := entries[grandchild.ID]; !ok {
		t.Error("the regenerated token's child was not revoked")
	}
	if rec, err := e.issuer.Get(ctx, repl.ID); err != nil || rec.Parent != parent.ID {
		t.Fatalf("replacement %+v, %v; want parent %s", rec, err, parent.ID)
	}
	if _, err := e.list.RevokeToken(ctx, parent.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.tokenEntries(t)[repl.ID]; !ok {
		t.Error("revoking the parent left the child's replacement")
	}
}

// TestCompromiseCascades: compromising a key revokes what its tokens
// issued, signed by another key, since whoever held the key could forge
// the tokens that asked for them; other tokens of the other key stay.
func TestCompromiseCascades(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent := e.issue(t, "alice", 2*time.Hour) // JWT
	child, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: time.Hour, Parent: parent.ID, Format: keys.PASETO})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: time.Hour, Format: keys.PASETO})
	if err != nil {
		t.Fatal(err)
	}
	if child.KeyID == parent.KeyID {
		t.Fatal("one key signed both")
	}
	if _, err := e.ring.Compromise(ctx, parent.KeyID, revocation.Options{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	entries := e.tokenEntries(t)
	if en, ok := entries[child.ID]; !ok || en.Reason != "issued under a token of revoked key "+parent.KeyID || !en.ExpiresAt.Equal(child.ExpiresAt) {
		t.Errorf("the child's entry: %+v, %v", en, ok)
	}
	if _, ok := entries[other.ID]; ok || len(entries) != 1 {
		t.Errorf("%d token entries, want the child's alone", len(entries))
	}
}

// TestRevokeSubjectCascades: revoking a subject's tokens issued before a
// cut-off revokes, each by an entry of its own, what they issued since,
// which the subject's entry does not cover; tokens issued since by
// others are left alone.
func TestRevokeSubjectCascades(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent := e.issue(t, "alice", 2*time.Hour)
	e.clock.advance(time.Minute)
	cut := e.clock.now()
	e.clock.advance(time.Minute)
	child := e.issueChild(t, parent.ID, time.Hour)
	grandchild := e.issueChild(t, child.ID, 30*time.Minute)
	later := e.issue(t, "alice", time.Hour) // after the cut-off, issued by an admin
	snap := e.snapshot(t, revoked.SnapshotConfig{})
	v := e.verifier(t, snap)

	if _, err := e.list.RevokeSubject(ctx, "alice", cut, revocation.Options{Reason: "left", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	entries := e.tokenEntries(t)
	for _, tok := range []*issuer.Token{child, grandchild} {
		if en, ok := entries[tok.ID]; !ok || en.Reason != "issued under a token of alice revoked" || !en.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Errorf("entry of %s: %+v, %v", tok.ID, en, ok)
		}
	}
	if len(entries) != 2 {
		t.Errorf("%d token entries, want the two descendants'", len(entries))
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []*issuer.Token{parent, child, grandchild} {
		if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s: Verify = %v, want ErrRevoked", tok.ID, err)
		}
	}
	if _, err := v.Verify(ctx, later.Token); err != nil {
		t.Errorf("the token issued after the cut-off: %v", err)
	}
}
