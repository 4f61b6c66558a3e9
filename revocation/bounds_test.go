package revocation_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestGraceBeyondExpiryRefused: a grace period ending after the token's
// expiry is refused. Before, a grace reaching past 2106 wrapped in the
// packed table: a snapshot read whole revoked the token at once while one
// following the changes held it in its grace, and the two disagreed.
func TestGraceBeyondExpiryRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	graces := map[string]time.Duration{
		"a second past the expiry":  tok.ExpiresAt.Sub(e.clock.now()) + time.Second,
		"past 2106 (wraps 32 bits)": time.Unix(math.MaxUint32+1000, 0).Sub(e.clock.now()),
		"the longest duration":      math.MaxInt64,
	}
	for name, grace := range graces {
		t.Run(name, func(t *testing.T) {
			_, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{Grace: grace})
			if !errors.Is(err, revocation.ErrGraceBeyondExpiry) || !errors.Is(err, revocation.ErrInvalid) {
				t.Fatalf("grace %v: %v, want ErrGraceBeyondExpiry and ErrInvalid", grace, err)
			}
		})
	}
	// The regeneration is refused before it issues anything.
	if _, err := e.issuer.Regenerate(ctx, tok.ID, revocation.Options{Grace: 2 * time.Hour}); !errors.Is(err, revocation.ErrGraceBeyondExpiry) {
		t.Errorf("regenerate with a grace past the expiry: %v, want ErrGraceBeyondExpiry", err)
	}
	recs, err := e.issuer.List(ctx, issuer.Filter{Subject: "alice"})
	if err != nil || len(recs) != 1 {
		t.Errorf("tokens of alice after the refused regeneration: %d, %v; want the original alone", len(recs), err)
	}
	if entries, err := e.list.Entries(ctx, revocation.Filter{}); err != nil || len(entries) != 0 {
		t.Errorf("entries after refused revocations: %v, %v", entries, err)
	}
}

// TestGraceToExpiryAgrees: the longest grace accepted, one ending at the
// token's expiry, gives the same answers to a snapshot read whole and to
// one that follows the changes, at every moment around its end.
func TestGraceToExpiryAgrees(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	revokeAnother(t, e)
	following := e.snapshot(t, revoked.SnapshotConfig{})
	entry, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{Grace: tok.ExpiresAt.Sub(e.clock.now())})
	if err != nil {
		t.Fatal(err)
	}
	if !entry.EffectiveAt.Equal(tok.ExpiresAt) {
		t.Errorf("effective at %v, want the expiry %v", entry.EffectiveAt, tok.ExpiresAt)
	}
	checkFeedsAgree(t, e)
	claims := &verifier.Claims{ID: tok.ID, Subject: "alice", KeyID: tok.KeyID, IssuedAt: tok.IssuedAt}
	for _, at := range []time.Duration{-time.Second, 0, time.Second} {
		e.clock.t = tok.ExpiresAt.Add(at)
		if err := following.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		whole := e.snapshot(t, revoked.SnapshotConfig{})
		a, b := following.CheckRevocation(ctx, claims), whole.CheckRevocation(ctx, claims)
		if errors.Is(a, verifier.ErrRevoked) != errors.Is(b, verifier.ErrRevoked) {
			t.Errorf("at expiry%+v: following the changes %v, read whole %v", at, a, b)
		}
		if want := at >= 0; errors.Is(a, verifier.ErrRevoked) != want {
			t.Errorf("at expiry%+v: %v, revoked want %v", at, a, want)
		}
	}
}

// TestExpiryBeyond32Bits: a token living past 2106 (an issuer with a
// maximum lifetime of a century) is revoked alike in the whole list and in
// its changes, and stays revoked in a snapshot after pruning. Before, its
// expiry wrapped in the packed table (the whole list dropped the entry as
// expired) and in the snapshot (which pruned it).
func TestExpiryBeyond32Bits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const century = 100 * 365 * 24 * time.Hour
	long, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: e.ring, Store: e.db, Now: e.clock.now, UnsafeDatabaseNow: e.clock.now, MaxTTL: century})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := long.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: century})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresAt.Unix() <= math.MaxUint32 {
		t.Fatalf("token expires at %v, within 32 bits", tok.ExpiresAt)
	}
	revokeAnother(t, e)
	following := e.snapshot(t, revoked.SnapshotConfig{})
	if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	checkFeedsAgree(t, e)
	// A grace ending past 2106 cannot be held: refused, not wrapped.
	tok2, err := long.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: century})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.list.RevokeToken(ctx, tok2.ID, revocation.Options{Grace: 90 * 365 * 24 * time.Hour}); !errors.Is(err, revocation.ErrInvalid) {
		t.Errorf("grace ending past 2106: %v, want ErrInvalid", err)
	}
	e.clock.advance(time.Hour) // past the snapshots' pruning interval
	if err := following.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	claims := &verifier.Claims{ID: tok.ID, Subject: "alice", KeyID: tok.KeyID, IssuedAt: tok.IssuedAt}
	for name, s := range map[string]*revoked.Snapshot{"following the changes": following, "read whole": e.snapshot(t, revoked.SnapshotConfig{})} {
		if err := s.CheckRevocation(ctx, claims); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s: %v, want ErrRevoked", name, err)
		}
	}
}

// revokeAnother revokes a token of its own, so that the entry a test makes
// next has a sequence number above 1 and checkFeedsAgree can read it from
// the changes as well as from the whole list.
func revokeAnother(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.list.RevokeToken(context.Background(), e.issue(t, "other", time.Hour).ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
}

// checkFeedsAgree checks that the last token entry reads the same from the
// whole list (the packed table) and from the changes (the rows).
func checkFeedsAgree(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	whole, err := e.list.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	last, err := e.list.Changes(ctx, whole.Seq-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Tokens) != 1 {
		t.Fatalf("changes after %d: %+v, want one token entry", whole.Seq-1, last.Tokens)
	}
	for _, w := range whole.Tokens {
		if w.ID == last.Tokens[0].ID {
			if w != last.Tokens[0] {
				t.Errorf("token entry read whole %+v, from the changes %+v", w, last.Tokens[0])
			}
			return
		}
	}
	t.Errorf("token entry %+v missing from the whole list %+v", last.Tokens[0], whole.Tokens)
}

// TestSubjectCutoffInFuture: a subject revocation's cut-off cannot be in
// the future, where it would revoke tokens not yet issued.
func TestSubjectCutoffInFuture(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.issue(t, "alice", time.Hour)
	for _, before := range []time.Time{e.clock.now().Add(time.Second), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		if _, err := e.list.RevokeSubject(ctx, "alice", before, revocation.Options{}); !errors.Is(err, revocation.ErrInvalid) {
			t.Errorf("cut-off %v: %v, want ErrInvalid", before, err)
		}
	}
	if _, err := e.list.RevokeSubject(ctx, "alice", e.clock.now(), revocation.Options{}); err != nil {
		t.Errorf("cut-off now: %v", err)
	}
}

// TestOldWrappedEntry: a token entry that an older writ stored with an
// effective time past 2106 (a grace that wrapped) no longer wraps: Prune
// repacks it, and the whole list and its changes agree on it.
func TestOldWrappedEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	revokeAnother(t, e)
	now := e.clock.now().Unix()
	tok := e.issue(t, "alice", time.Hour)
	for _, row := range []struct {
		jti      string
		eff, exp int64
	}{
		{"expired-entry", now - 7200, now - 3600}, // pruned, which repacks the list
		{tok.ID, math.MaxUint32 + 1000, tok.ExpiresAt.Unix()},
	} {
		sqlitetest.Insert(t, e.db, "revocations", map[string]any{"kind": "token", "value": row.jti, "effective_at": row.eff,
			"expires_at": row.exp, "reason": "", "actor": "old writ", "created_at": now})
	}
	if n, err := e.list.Prune(ctx, "test"); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	checkFeedsAgree(t, e)
	claims := &verifier.Claims{ID: tok.ID, Subject: "alice", KeyID: tok.KeyID, IssuedAt: tok.IssuedAt}
	if err := e.snapshot(t, revoked.SnapshotConfig{}).CheckRevocation(ctx, claims); err != nil {
		t.Errorf("a revocation taking effect after 2106: %v, want none yet", err)
	}
}

// TestRegenerateGraceChecksOnce: a regeneration whose grace ends at the
// old token's expiry revokes it then, even when the revocation is made a
// second after the check (issuing took that long, or a second boundary
// passed): before, the revocation checked the grace again from its own
// later now, refused it, and left the replacement issued and unreturned
// beside the old token, both valid.
func TestRegenerateGraceChecksOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	// Issuing takes a second: the revocation is made a second after the
	// grace was checked.
	slow, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: slowKeys{e}, Store: e.db, Now: e.clock.now, UnsafeDatabaseNow: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	grace := tok.ExpiresAt.Sub(e.clock.now())
	if _, err := slow.Regenerate(ctx, tok.ID, revocation.Options{Grace: grace}); err != nil {
		t.Fatalf("regenerate with a grace to the expiry: %v", err)
	}
	entries, err := e.list.Entries(ctx, revocation.Filter{})
	if err != nil || len(entries) != 1 || !entries[0].EffectiveAt.Equal(tok.ExpiresAt) {
		t.Fatalf("entries %+v, %v; want the old token revoked from its expiry %v", entries, err, tok.ExpiresAt)
	}
	if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{Grace: time.Second, EffectiveAt: tok.ExpiresAt}); !errors.Is(err, revocation.ErrInvalid) {
		t.Errorf("grace and effective time together: %v, want ErrInvalid", err)
	}
}

// slowKeys hands out the active keys of e's keyring a second after it is
// asked for one, by e's clock.
type slowKeys struct{ e *env }

func (k slowKeys) Signer(ctx context.Context, f keys.Format) (*keys.Key, error) {
	k.e.clock.advance(time.Second)
	return k.e.ring.Signer(ctx, f)
}
