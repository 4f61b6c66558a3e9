package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// tamperer is someone who may write the database but has no master key:
// a handle of their own on the file.
func (e *ringEnv) tamperer(t *testing.T) *sqlite.DB {
	t.Helper()
	return sqlitetest.Open(t, e.dbPath)
}

// plantKey inserts, as db's user, a key row for a fresh key of alg in
// state, without a private half, and returns the key.
func plantKey(t *testing.T, db *sqlite.DB, alg verifier.Algorithm, state keys.State, createdAt int64) *keys.Key {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	sqlitetest.Insert(t, db, "keys", map[string]any{"kid": k.ID(), "format": string(k.Format()), "alg": string(alg),
		"state": string(state), "public_key": pub, "created_at": createdAt})
	return k
}

// published reports whether kid is in any of the keyring's published forms:
// the JWKS, the PASERK set, the verifier key set and Published.
func (e *ringEnv) published(t *testing.T, kid string) []string {
	t.Helper()
	ctx := context.Background()
	var where []string
	jwks, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(jwks), kid) {
		where = append(where, "JWKS")
	}
	ps, err := e.ring.PASERKSet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ps), kid) {
		where = append(where, "PASERK set")
	}
	ks, err := e.ring.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LookupKey(ctx, kid); err == nil {
		where = append(where, "KeySet")
	}
	recs, err := e.ring.Published(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(recs, func(r keys.Record) bool { return r.ID == kid }) {
		where = append(where, "Published")
	}
	return where
}

// untrusted returns the kids that List marks Untrusted.
func (e *ringEnv) untrusted(t *testing.T) []string {
	t.Helper()
	var kids []string
	for _, r := range e.records(t) {
		if r.Untrusted {
			kids = append(kids, r.ID)
		}
	}
	return kids
}

// A key row planted without the master key is never published, and List
// marks it, whatever MAC it carries.
func TestPlantedKeyNeverTrusted(t *testing.T) {
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.V4Public} {
		for _, mac := range []string{"none", "forged"} {
			t.Run(string(alg)+"/"+mac, func(t *testing.T) {
				e := newRingEnv(t)
				e.ensure(t, verifier.EdDSA)
				db := e.tamperer(t)
				k := plantKey(t, db, alg, keys.Next, ringNow.Unix())
				if mac == "forged" {
					forged := make([]byte, 32)
					rand.Read(forged)
					setKey(t, db, k.ID(), map[string]any{"mac": forged})
				}
				if where := e.published(t, k.ID()); len(where) > 0 {
					t.Errorf("planted key published in %v", where)
				}
				if got := e.untrusted(t); !slices.Equal(got, []string{k.ID()}) {
					t.Errorf("List marks %v untrusted, want only the planted %s", got, k.ID())
				}
			})
		}
	}
}

// Changing a bound row without the master key makes it untrusted: it leaves
// the key sets and stops signing, rather than serving the tamperer.
func TestTamperedRowsUntrusted(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(t *testing.T, e *ringEnv, db *sqlite.DB) string // returns the kid tampered with
	}{
		{"compromised back to retired", func(t *testing.T, e *ringEnv, db *sqlite.DB) string {
			kid := e.signer(t, keys.PASETO).ID()
			if _, err := e.ring.Compromise(ctx, kid, revocation.Options{}); err != nil {
				t.Fatal(err)
			}
			setKey(t, db, kid, map[string]any{"state": "retired", "unpublish_at": ringNow.Unix() + 1e6})
			return kid
		}},
		{"retired kept published longer", func(t *testing.T, e *ringEnv, db *sqlite.DB) string {
			rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
			if err != nil {
				t.Fatal(err)
			}
			setKey(t, db, rot.Retired, map[string]any{"unpublish_at": keyRow(t, db, rot.Retired).Unpublish.Sec + 86400})
			return rot.Retired
		}},
		{"next key's public key replaced", func(t *testing.T, e *ringEnv, db *sqlite.DB) string {
			kid := kidOf(t, db, keys.JWT, keys.Next)
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			der, _ := x509.MarshalPKIXPublicKey(pub)
			setKey(t, db, kid, map[string]any{"public_key": der})
			return kid
		}},
		{"active key's activation moved", func(t *testing.T, e *ringEnv, db *sqlite.DB) string {
			kid := e.signer(t, keys.JWT).ID()
			setKey(t, db, kid, map[string]any{"activated_at": keyRow(t, db, kid).Activated.Sec - 1})
			return kid
		}},
		{"algorithm changed", func(t *testing.T, e *ringEnv, db *sqlite.DB) string {
			kid := e.signer(t, keys.JWT).ID()
			setKey(t, db, kid, map[string]any{"alg": "ES256"})
			return kid
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRingEnv(t)
			e.ensure(t, verifier.EdDSA)
			kid := tt.tamper(t, e, e.tamperer(t))
			if where := e.published(t, kid); len(where) > 0 {
				t.Errorf("tampered key published in %v", where)
			}
			if got := e.untrusted(t); !slices.Equal(got, []string{kid}) {
				t.Errorf("List marks %v untrusted, want %s", got, kid)
			}
			for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
				k, err := e.ring.Signer(ctx, f)
				if err == nil && k.ID() == kid {
					t.Errorf("the tampered key %s signs", kid)
				}
			}
		})
	}
}

// An earlier version of a row, with the MAC the master key gave it then,
// put back without the master key is never trusted again: a compromised
// key restored as next or active, a removed one as retired. Its MAC is
// genuine; the seal of the published set no longer lists it.
func TestPutBackRowsUntrusted(t *testing.T) {
	ctx := context.Background()
	save := func(t *testing.T, db *sqlite.DB, kid string) store.KeyRow {
		t.Helper()
		return keyRow(t, db, kid)
	}
	putBack := func(t *testing.T, db *sqlite.DB, kid string, s store.KeyRow) {
		t.Helper()
		setKey(t, db, kid, map[string]any{"state": s.State, "unpublish_at": nullable(s.Unpublish), "mac": s.MAC, "private_key": s.Private,
			"retired_at": nil, "removed_at": nil, "compromised_at": nil})
	}
	for _, tc := range []struct {
		name string
		// withdraw takes the key kid out of service as an admin would.
		withdraw func(t *testing.T, e *ringEnv, kid string)
		state    keys.State // the earlier state put back
	}{
		{"compromised next put back", func(t *testing.T, e *ringEnv, kid string) {
			if _, err := e.ring.Compromise(ctx, kid, revocation.Options{}); err != nil {
				t.Fatal(err)
			}
		}, keys.Next},
		{"compromised active put back with its private half", func(t *testing.T, e *ringEnv, kid string) {
			if _, err := e.ring.Compromise(ctx, kid, revocation.Options{}); err != nil {
				t.Fatal(err)
			}
		}, keys.Active},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRingEnv(t)
			e.ensure(t, verifier.EdDSA)
			db := e.tamperer(t)
			kid := kidOf(t, db, keys.JWT, tc.state)
			before := save(t, db, kid)
			tc.withdraw(t, e, kid)
			if tc.state == keys.Active { // make room: the next key signs now
				sqlitetest.Set(t, db, "keys", map[string]any{"state": "retired"}, sqlitetest.Where{"format": "jwt", "state": "active"})
			}
			putBack(t, db, kid, before)
			if where := e.published(t, kid); len(where) > 0 {
				t.Errorf("key put back is published in %v", where)
			}
			if got := e.untrusted(t); !slices.Contains(got, kid) {
				t.Errorf("List marks %v untrusted, not the key put back %s", got, kid)
			}
			if k, err := e.ring.Signer(ctx, keys.JWT); err == nil && k.ID() == kid {
				t.Errorf("the key put back %s signs", kid)
			}
			// A later change sealed by the master key does not take it in.
			if _, err := e.ring.Rotate(ctx, keys.PASETO, keys.RotateOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if where := e.published(t, kid); len(where) > 0 {
				t.Errorf("after a rotation, the key put back is published in %v", where)
			}
		})
	}
	t.Run("removed put back as retired", func(t *testing.T) {
		e := newRingEnv(t)
		e.ensure(t, verifier.EdDSA)
		db := e.tamperer(t)
		rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		before := save(t, db, rot.Retired)
		later, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk, Now: func() time.Time { return ringNow.Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		if kids, err := later.Expire(ctx); err != nil || !slices.Contains(kids, rot.Retired) {
			t.Fatalf("Expire = %v, %v; want %s removed", kids, err, rot.Retired)
		}
		putBack(t, db, rot.Retired, before)
		setKey(t, db, rot.Retired, map[string]any{"retired_at": before.Created})
		if where := e.published(t, rot.Retired); len(where) > 0 {
			t.Errorf("removed key put back is published in %v", where)
		}
	})
}

// A planted active key never signs, and neither rotation nor Ensure adopts
// a planted next key: they would bind it.
func TestPlantedKeyNeverSigns(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	db := e.tamperer(t)
	sqlitetest.Set(t, db, "keys", map[string]any{"state": "retired"}, sqlitetest.Where{"format": "jwt", "state": "active"})
	plantKey(t, db, verifier.EdDSA, keys.Active, ringNow.Unix())
	if _, err := e.ring.Signer(ctx, keys.JWT); !errors.Is(err, keys.ErrUntrusted) {
		t.Errorf("Signer over a planted active key: %v, want ErrUntrusted", err)
	}

	e = newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	db = e.tamperer(t)
	// Older than the genuine next key, so first in line.
	planted := plantKey(t, db, verifier.EdDSA, keys.Next, ringNow.Unix()-3600)
	rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Activated == planted.ID() || e.signer(t, keys.JWT).ID() == planted.ID() {
		t.Fatalf("rotation activated the planted key")
	}
	if where := e.published(t, planted.ID()); len(where) > 0 {
		t.Errorf("planted key published in %v after a rotation", where)
	}
	// Compromising it binds it as compromised: that clears the alarm.
	if _, err := e.ring.Compromise(ctx, planted.ID(), revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := e.untrusted(t); len(got) != 0 {
		t.Errorf("after compromising the planted key, %v untrusted", got)
	}
	if where := e.published(t, planted.ID()); len(where) > 0 {
		t.Errorf("compromised planted key published in %v", where)
	}
}

// unbind turns e's database back into one from before key rows were bound
// (schema version 3: no mac column, a check value of the old kind), as the
// writ before the binding left it.
func (e *ringEnv) unbind(t *testing.T) {
	t.Helper()
	sqlitetest.Downgrade(t, e.db)
	e.sealUnboundCheck(t)
}

// sealUnboundCheck writes a master-key check value of the kind writ wrote
// before key rows were bound.
func (e *ringEnv) sealUnboundCheck(t *testing.T) {
	t.Helper()
	if err := e.db.MetaPut(context.Background(), store.MetaMasterKeyCheck, keys.SealUnboundCheck(e.mk)); err != nil {
		t.Fatal(err)
	}
}

// A database from before the binding is bound by the first keyring that
// opens it with the master key: its genuine keys stay trusted; rows that
// cannot be genuine do not.
func TestBindOnUpgrade(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.ES256)
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Compromise(ctx, e.signer(t, keys.PASETO).ID(), revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	before := e.records(t)
	jwks, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.unbind(t)
	// Planted before the upgrade: a next key without a private half, and
	// a retired one whose kid is not its public key's.
	planted := plantKey(t, e.db, verifier.EdDSA, keys.Next, ringNow.Unix())
	other := plantKey(t, e.db, verifier.EdDSA, keys.Retired, ringNow.Unix())
	setKey(t, e.db, other.ID(), map[string]any{"kid": "not-its-kid"})
	e.db.Close()

	e.db = sqlitetest.Open(t, e.dbPath)
	e.ring = e.open(t, e.mk)
	if got := e.untrusted(t); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values([]string{planted.ID(), "not-its-kid"}))) {
		t.Errorf("after binding, %v untrusted; want the two planted rows", got)
	}
	after, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(jwks) {
		t.Errorf("JWKS changed by the binding:\n%s\nwant\n%s", after, jwks)
	}
	for _, rec := range before {
		if rec.Untrusted {
			t.Errorf("%s untrusted before the upgrade", rec.ID)
		}
	}
	for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
		e.signer(t, f)
	}
	// Bound once: the planted rows stay untrusted on the next open.
	e.ring = e.open(t, e.mk)
	if got := e.untrusted(t); len(got) != 2 {
		t.Errorf("on reopening, %v untrusted", got)
	}
}

// After the binding, a tamperer cannot make the database look unbound again
// to have a row of theirs bound: without the master key they can only drop
// or garble the check value.
func TestNoRebinding(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		check func(t *testing.T, db *sqlite.DB)
	}{
		{"check value deleted", func(t *testing.T, db *sqlite.DB) {
			sqlitetest.Delete(t, db, "meta", sqlitetest.Where{"name": store.MetaMasterKeyCheck})
		}},
		{"mac column emptied", func(t *testing.T, db *sqlite.DB) {
			sqlitetest.Set(t, db, "keys", map[string]any{"mac": nil}, nil)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newRingEnv(t)
			e.ensure(t, verifier.EdDSA)
			db := e.tamperer(t)
			planted := plantKey(t, db, verifier.EdDSA, keys.Next, ringNow.Unix())
			tt.check(t, db)
			ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk})
			if err != nil {
				t.Fatal(err)
			}
			e.ring = ring
			if where := e.published(t, planted.ID()); len(where) > 0 {
				t.Errorf("planted key published in %v", where)
			}
			if !slices.Contains(e.untrusted(t), planted.ID()) {
				t.Errorf("planted key not marked untrusted")
			}
		})
	}
}

// A process that may only read cannot bind a database from before the
// binding: it says what to do, and trusts nothing meanwhile.
func TestReadOnlyCannotBind(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	sqlitetest.Set(t, e.db, "keys", map[string]any{"mac": nil}, nil)
	e.sealUnboundCheck(t)
	ro, err := sqlite.OpenReadOnly(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = keys.OpenRing(ctx, keys.RingConfig{Store: ro, MasterKey: e.mk})
	if err == nil || !strings.Contains(err.Error(), "write access") {
		t.Fatalf("OpenRing read-only on an unbound database: %v, want an error asking for write access", err)
	}
}

// A ring opened ReadOnly, as writ's read commands open it, binds nothing
// even with write access: it asks for a command that writes.
func TestReadOnlyRingWritesNothing(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	sqlitetest.Set(t, e.db, "keys", map[string]any{"mac": nil}, nil)
	e.sealUnboundCheck(t)
	_, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk, ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "write access") {
		t.Fatalf("OpenRing ReadOnly on an unbound database: %v, want an error asking for write access", err)
	}
	rows, _, err := e.db.KeyRows(ctx, store.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.MAC != nil {
			t.Errorf("a read-only ring bound %s", r.KID)
		}
	}
}

// The whole keyring put back as an earlier copy had it, rows and seal
// together, undoes a compromise in a way no row or seal shows: the seal is
// genuine, only older. A ring that has read a later seal (writ serve,
// reloading its key sets every second) notices the generation go back and
// trusts no published key until a change made with the master key seals
// them anew.
func TestKeyringPutBackWhole(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	db := e.tamperer(t)
	before, beforeSeal, err := db.KeyRows(ctx, store.KeyFilter{})
	if err != nil || beforeSeal == nil {
		t.Fatalf("key rows: %v, seal %x", err, beforeSeal)
	}
	kid := e.signer(t, keys.JWT).ID()
	if _, err := e.ring.Compromise(ctx, kid, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	e.records(t) // the ring reads the seal the compromise made, as writ serve would
	sqlitetest.Delete(t, db, "keys", nil)
	for _, r := range before {
		if err := db.KeyInsert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MetaPut(ctx, store.MetaKeySeal, beforeSeal); err != nil {
		t.Fatal(err)
	}

	if where := e.published(t, kid); len(where) > 0 {
		t.Errorf("the compromised key, put back with the keyring, is published in %v", where)
	}
	if !e.ring.Rolledback() {
		t.Error("Rolledback() = false after the keyring was put back")
	}
	if got := e.untrusted(t); !slices.Contains(got, kid) || len(got) != 4 {
		t.Errorf("List marks %v untrusted, want every published key", got)
	}
	if _, err := e.ring.Signer(ctx, keys.JWT); !errors.Is(err, keys.ErrUntrusted) {
		t.Errorf("Signer after the keyring was put back: %v, want ErrUntrusted", err)
	}
}
