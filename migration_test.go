package writ_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// The database of testdata/db, made by an earlier writ (see its README).
const (
	v4Issuer   = "https://issuer.example"
	v4Audience = "https://api.example"
	// Its kids: the retired and the active JWT key, the compromised and
	// the active PASETO key.
	v4Retired     = "joWsjjpHvg-2SoAN8TPkeAIS7BQ84qfnLHFtWqbZHGU"
	v4Active      = "IH8ZdfOJBUSAVCH38YRWwOPLBMXrsd9S6Rm7S_ED0QQ"
	v4Compromised = "k4.pid.BU4e5nVIEMyniQAfFV4m3yH7GJo_cjfmVOXXBKIPq6zP"
	v4PASETO      = "k4.pid.KBxyAorXEkbk9bavGraPSmAz3CB5Cqkhe4KdoV8eYOKD"
)

// v4Now is a time when all of its tokens are unexpired and the grace of
// the regenerated one has ended.
var v4Now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestDatabaseOfEarlierWrit: a database that writ made before storage
// moved into internal/store/sqlite (schema version 4) opens, migrated to
// the schema of a database made today and its revocation epoch unchanged,
// and everything in it works: the
// keys are trusted and sign, the tokens are listed with their statuses,
// the revocations are read whole and by changes, verification agrees, and
// new issuances, revocations and key changes go on from there.
func TestDatabaseOfEarlierWrit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	for _, name := range []string{"v4.db", "v4.db.key"} {
		data, err := os.ReadFile(filepath.Join("testdata", "db", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "writ"+name[2:]), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mk, err := keys.ReadMasterKeyFile(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	var tokens map[string]string
	data, err := os.ReadFile(filepath.Join("testdata", "db", "v4-tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tokens); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.db")
	sqlitetest.Create(t, fresh).Close()
	schema := sqlitetest.Schema(t, fresh)

	// Through the front door, as writ commands open it: migrated.
	w, err := writ.Open(ctx, writ.Config{Path: path, MasterKey: mk, Issuer: v4Issuer})
	if err != nil {
		t.Fatal(err)
	}
	before, err := w.Revocations.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	events, err := w.Audit.List(ctx, audit.Filter{})
	if err != nil || len(events) != 17 {
		t.Fatalf("audit log of the earlier writ: %d events, %v; want 17", len(events), err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sqlitetest.Schema(t, path); got != schema {
		t.Fatalf("opened, the schema is:\n%s\nwant that of a new database:\n%s", got, schema)
	}
	if before.Seq != 4 || before.Epoch == "" {
		t.Fatalf("revocation list at seq %d, epoch %q; want 4 and one", before.Seq, before.Epoch)
	}

	// Its parts, on a clock when its tokens are good.
	db := sqlitetest.Open(t, path)
	now := func() time.Time { return v4Now }
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, Now: now, MaxTTL: issuer.DefaultMaxTTL, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Issuer: v4Issuer, Keys: ring, Store: db, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	list, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: iss.MaxTTL(), Now: now})
	if err != nil {
		t.Fatal(err)
	}

	recs, err := ring.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]keys.State{}
	for _, r := range recs {
		if r.Untrusted {
			t.Errorf("key %s untrusted", r.ID)
		}
		states[r.ID] = r.State
	}
	if len(recs) != 6 || states[v4Retired] != keys.Retired || states[v4Active] != keys.Active ||
		states[v4Compromised] != keys.Compromised || states[v4PASETO] != keys.Active {
		t.Errorf("keys %v", states)
	}
	for f, kid := range map[keys.Format]string{keys.JWT: v4Active, keys.PASETO: v4PASETO} {
		if k, err := ring.Signer(ctx, f); err != nil || k.ID() != kid {
			t.Errorf("%s signer: %v, %v; want %s", f, k, err, kid)
		}
	}

	wantStatus := map[string]issuer.Status{
		"ZBsddh1fqoxALWfG4XAF2w": issuer.StatusRevoked, // by jti
		"AdMXZNAd9CuDaNvLN6GRBg": issuer.StatusRevoked, // its key compromised
		"BldIwHgSFo-TY8FzjqOYwQ": issuer.StatusRevoked, // its subject
		"If-TdOnBvqu5x5MZltzsjA": issuer.StatusRevoked, // regenerated, the grace over
		"in37r57-htvEG6QDhx77EA": issuer.StatusActive,  // the replacement
	}
	all, err := iss.List(ctx, issuer.Filter{})
	if err != nil || len(all) != len(wantStatus) {
		t.Fatalf("tokens: %d, %v", len(all), err)
	}
	for _, r := range all {
		if r.Status != wantStatus[r.ID] {
			t.Errorf("token %s: %s, want %s", r.ID, r.Status, wantStatus[r.ID])
		}
	}
	// The migration recorded on each revoked token's row when its
	// revocation took effect, which outlives the entries.
	for jti, st := range wantStatus {
		row, err := db.TokenGet(ctx, jti)
		if err != nil || (row.RevokedAt != 0) != (st == issuer.StatusRevoked) {
			t.Errorf("token %s (%s): revoked_at %d, %v", jti, st, row.RevokedAt, err)
		}
	}
	if r, err := iss.Get(ctx, "ZBsddh1fqoxALWfG4XAF2w"); err != nil || r.Subject != "alice" || r.Name != "deploy" ||
		!slices.Equal(r.Scopes, []string{"read"}) || r.KeyID != v4Retired {
		t.Errorf("record of alice's token %+v, %v", r, err)
	}

	entries, err := list.Entries(ctx, revocation.Filter{})
	if err != nil || len(entries) != 4 {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	if e := entries[3]; e.Kind != revocation.Key || e.Value != v4Compromised || e.Reason != "test" {
		t.Errorf("the compromised key's entry %+v", e)
	}
	b, err := list.Changes(ctx, 0)
	if err != nil || b.Seq != 4 || b.Epoch != before.Epoch || len(b.Tokens) != 2 || len(b.Subjects) != 1 || len(b.Keys) != 1 {
		t.Fatalf("changes from 0: %+v, %v", b, err)
	}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: list, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	verify := func(token string) error {
		t.Helper()
		ks, err := ring.KeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := verifier.New(verifier.Config{Issuer: v4Issuer, Audience: v4Audience, Keys: ks, Now: now,
			Algorithms: []verifier.Algorithm{verifier.EdDSA, verifier.V4Public}, Revocation: snap})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(ctx, token)
		return err
	}
	for jti, want := range map[string]error{
		"ZBsddh1fqoxALWfG4XAF2w": verifier.ErrRevoked,
		"AdMXZNAd9CuDaNvLN6GRBg": verifier.ErrUnknownKey, // out of the key set
		"BldIwHgSFo-TY8FzjqOYwQ": verifier.ErrRevoked,
		"If-TdOnBvqu5x5MZltzsjA": verifier.ErrRevoked,
		"in37r57-htvEG6QDhx77EA": nil,
	} {
		if err := verify(tokens[jti]); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("verify %s: %v, want %v", jti, err, want)
		}
	}

	// It goes on: issue, revoke, rotate, compromise.
	tok, err := iss.Issue(ctx, issuer.Request{Subject: "dave", Audience: []string{v4Audience}})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(tok.Token); err != nil {
		t.Errorf("a token issued now: %v", err)
	}
	if e, err := list.RevokeToken(ctx, tok.ID, revocation.Options{Reason: "test"}); err != nil || e.Seq != 5 {
		t.Errorf("RevokeToken: %+v, %v; want seq 5", e, err)
	}
	if rot, err := ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil || rot.Retired != v4Active {
		t.Errorf("Rotate: %+v, %v", rot, err)
	}
	if e, err := ring.Compromise(ctx, v4Retired, revocation.Options{Reason: "test"}); err != nil || e.Seq != 6 {
		t.Errorf("Compromise: %+v, %v; want seq 6", e, err)
	}
	if err := snap.Refresh(ctx); err != nil || snap.Seq() != 6 {
		t.Errorf("snapshot refreshed to %d, %v; want 6", snap.Seq(), err)
	}
	if err := verify(tok.Token); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("the token revoked now: %v, want ErrRevoked", err)
	}
	if err := verify(tokens["in37r57-htvEG6QDhx77EA"]); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("a token of the key compromised now: %v, want ErrUnknownKey", err)
	}
	db.Close()
	if got := sqlitetest.Schema(t, path); got != schema {
		t.Errorf("using the database changed its schema:\n%s\nwant\n%s", got, schema)
	}
}
