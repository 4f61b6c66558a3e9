package revocation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// edgeView is what a verifier at the edge holds: a snapshot, and the exact
// entries of the deltas after it. revoked answers as the edge contract
// says: exact entries first, then the filter for tokens of its universe.
type edgeView struct {
	snap   *feed.Snapshot
	tokens map[feed.TokenID]feed.RevokedToken
	subs   []feed.SubjectCutoff
	keys   map[string]bool
}

func newEdgeView(s *feed.Snapshot) *edgeView {
	v := &edgeView{snap: s, tokens: map[feed.TokenID]feed.RevokedToken{}, keys: map[string]bool{}}
	v.add(&feed.Batch{Tokens: s.Tokens, Subjects: s.Subjects, Keys: s.Keys})
	return v
}

// add takes in a delta's exact entries.
func (v *edgeView) add(b *feed.Batch) {
	for _, t := range b.Tokens {
		if old, ok := v.tokens[t.ID]; !ok || t.EffectiveAt < old.EffectiveAt {
			v.tokens[t.ID] = t
		}
	}
	v.subs = append(v.subs, b.Subjects...)
	for _, k := range b.Keys {
		v.keys[k.KID] = true
	}
}

func (v *edgeView) revoked(t *store.TokenRow, now int64) bool {
	id := feed.TokenIDOf(t.JTI)
	if e, ok := v.tokens[id]; ok && e.EffectiveAt <= now {
		return true
	}
	for _, c := range v.subs {
		if c.Subject == t.Subject && t.IssuedAt < c.IssuedBefore {
			return true
		}
	}
	if v.keys[t.KID] {
		return true
	}
	cid := cascade.ID(id)
	return t.IssuedAt < v.snap.Universe && v.snap.Filter.Contains(&cid)
}

// checkAgainstLedger compares, for every token the issuer recorded that a
// verifier may still accept, what view says with what the list says.
func checkAgainstLedger(t *testing.T, e *env, view *edgeView) (revoked, valid int) {
	t.Helper()
	return checkLedger(t, e.db, e.list, e.clock.now(), view)
}

// checkLedger is checkAgainstLedger for the tokens of db and list, at now.
func checkLedger(t *testing.T, db store.Executor, list *revocation.List, now time.Time, view *edgeView) (revoked, valid int) {
	t.Helper()
	ctx := context.Background()
	err := db.TokenEach(ctx, func(r *store.TokenRow) error {
		if r.ExpiresAt < now.Add(-verifier.MaxLeeway).Unix() {
			return nil
		}
		want, err := list.Revoked(ctx, r.JTI, r.Subject, r.KID, time.Unix(r.IssuedAt, 0))
		if err != nil {
			return err
		}
		if got := view.revoked(r, now.Unix()); got != want {
			t.Errorf("token %s of %s (iat %d, universe %d): revoked %v at the edge, %v in the list", r.JTI, r.Subject, r.IssuedAt, view.snap.Universe, got, want)
		}
		if want {
			revoked++
		} else {
			valid++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return revoked, valid
}

// TestSnapshotMatchesTheList: for every token the issuer recorded and a
// verifier may still accept, a snapshot and the deltas after it say
// revoked exactly when the list does: no false negative, no false positive,
// whether the token is revoked by its own entry, by its subject or its key,
// after a grace period, issued before the snapshot's universe or after it,
// and the snapshot survives its encoding.
func TestSnapshotMatchesTheList(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	revoke := func(jti string, o revocation.Options) {
		t.Helper()
		if _, err := e.list.RevokeToken(ctx, jti, o); err != nil {
			t.Fatal(err)
		}
	}
	// A key retired and revoked, with a token of its own.
	keyed := e.issue(t, "user2", 24*time.Hour)
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	// Old tokens, well inside the universe: every third revoked, every
	// seventh with a grace period of an hour; bob's all by his subject.
	var old []string
	for i := range 300 {
		old = append(old, e.issue(t, fmt.Sprintf("user%d", i%10), 24*time.Hour).ID)
	}
	e.issue(t, "bob", 24*time.Hour)
	// A short-lived token, revoked, that will have expired past any leeway.
	short := e.issue(t, "user1", time.Minute)
	revoke(short.ID, revocation.Options{})
	e.clock.advance(10 * time.Minute)
	for i, jti := range old {
		switch {
		case i%7 == 0:
			revoke(jti, revocation.Options{Grace: time.Hour})
		case i%3 == 0:
			revoke(jti, revocation.Options{})
		}
	}
	if _, err := e.list.RevokeSubject(ctx, "bob", time.Time{}, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.list.RevokeKey(ctx, keyed.KeyID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	// Recent tokens, issued within the universe margin: outside it.
	e.clock.advance(verifier.MaxLeeway)
	recent := []string{e.issue(t, "user3", time.Hour).ID, e.issue(t, "user4", time.Hour).ID}
	revoke(recent[0], revocation.Options{})

	snap, err := e.list.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Built != e.clock.now().Unix() || snap.Universe != snap.Built-int64(revocation.UniverseMargin/time.Second) {
		t.Errorf("built %d, universe %d, at %d", snap.Built, snap.Universe, e.clock.now().Unix())
	}
	// The exact token entries: the recent revoked token and the grace
	// periods, not the tokens of the filter nor the expired one.
	grace := (len(old) + 6) / 7
	if len(snap.Tokens) != grace+1 || len(snap.Subjects) != 1 || len(snap.Keys) != 1 {
		t.Errorf("exact entries: %d tokens (want %d), %d subjects, %d keys", len(snap.Tokens), grace+1, len(snap.Subjects), len(snap.Keys))
	}
	data, err := feed.AppendSnapshot(nil, snap)
	if err != nil {
		t.Fatal(err)
	}
	if snap, err = feed.DecodeSnapshot(data); err != nil {
		t.Fatal(err)
	}
	view := newEdgeView(snap)
	if r, v := checkAgainstLedger(t, e, view); r < 80 || v < 150 {
		t.Errorf("%d revoked and %d valid tokens checked: the test lost its tokens", r, v)
	}
	// The token expired past any leeway is in no exact entry (counted
	// above); the filter was not built from it, so what the filter says
	// of it means nothing (it reads either way, as for any id outside its
	// build), and no verifier accepts it anyway.

	// Later: the grace periods end, the short token expired, a token of
	// the universe and a recent one are revoked, another is issued.
	e.clock.advance(time.Hour)
	revoke(old[1], revocation.Options{})
	revoke(recent[1], revocation.Options{})
	late := e.issue(t, "user5", time.Hour)
	revoke(late.ID, revocation.Options{Grace: time.Minute})
	delta, err := e.list.Changes(ctx, snap.Seq)
	if err != nil {
		t.Fatal(err)
	}
	view.add(delta)
	checkAgainstLedger(t, e, view)
	e.clock.advance(time.Minute)
	checkAgainstLedger(t, e, view)
}

// racingStore issues a token through issue while a snapshot reads the
// ledger, as a token issued during a build would be.
type racingStore struct {
	store.Store
	issue func()
}

func (r racingStore) BeginRead(ctx context.Context) (store.Tx, error) {
	tx, err := r.Store.BeginRead(ctx)
	return racingTx{tx, r.issue}, err
}

type racingTx struct {
	store.Tx
	issue func()
}

func (r racingTx) TokenJTIEach(ctx context.Context, before, from int64, fn func([]byte) error) error {
	r.issue()
	return r.Tx.TokenJTIEach(ctx, before, from, fn)
}

// TestSnapshotTokenIssuedDuringBuild: a token whose issuance commits while
// a snapshot is built is outside its universe, so its revocation, in a
// later delta, decides alone.
func TestSnapshotTokenIssuedDuringBuild(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var during string
	list, err := revocation.NewList(revocation.Config{Store: racingStore{e.db, func() {
		during = e.issue(t, "carol", time.Hour).ID
	}}, MaxTTL: e.issuer.MaxTTL(), Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	before := e.issue(t, "carol", time.Hour)
	e.clock.advance(2 * revocation.UniverseMargin)
	snap, err := list.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	view := newEdgeView(snap)
	checkAgainstLedger(t, e, view)
	if _, err := e.list.RevokeToken(ctx, during, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.list.RevokeToken(ctx, before.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	delta, err := e.list.Changes(ctx, snap.Seq)
	if err != nil {
		t.Fatal(err)
	}
	view.add(delta)
	if r, _ := checkAgainstLedger(t, e, view); r != 2 {
		t.Errorf("%d tokens revoked, want 2", r)
	}
}
