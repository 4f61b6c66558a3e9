package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// onBothEngines runs test on SQLite and on PostgreSQL. newDatabase makes
// a new database and returns open, each call of which returns another
// handle on it, as another process (a replica) holds.
func onBothEngines(t *testing.T, test func(t *testing.T, newDatabase func() (open func() store.Store))) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func() func() store.Store {
			path := filepath.Join(t.TempDir(), "writ.db")
			sqlitetest.Create(t, path).Close()
			return func() store.Store { return sqlitetest.Open(t, path) }
		})
	})
	t.Run("postgres", func(t *testing.T) {
		cluster := pgtest.StartCluster(t)
		test(t, func() func() store.Store {
			url := cluster.NewDatabase(t)
			create := true
			return func() store.Store {
				db, err := postgres.Open(context.Background(), url, create)
				if err != nil {
					t.Fatal(err)
				}
				create = false
				t.Cleanup(func() { db.Close() })
				return db
			}
		})
	})
}

// clock is a settable time for the rings of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newMasterKey returns a fresh master key.
func newMasterKey(t *testing.T) *keys.MasterKey {
	t.Helper()
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// openRingOn opens the keyring of s with mk and the time of c.
func openRingOn(t *testing.T, s store.Store, mk *keys.MasterKey, c *clock) (*keys.Ring, error) {
	t.Helper()
	return keys.OpenRing(context.Background(), keys.RingConfig{Store: s, MasterKey: mk, Now: c.Now, MaxTTL: testMaxTTL, Actor: "test"})
}

func mustRing(t *testing.T, s store.Store, mk *keys.MasterKey, c *clock) *keys.Ring {
	t.Helper()
	r, err := openRingOn(t, s, mk, c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// publishedKIDs returns the kids of the ring's published keys, in order.
func publishedKIDs(t *testing.T, r *keys.Ring) string {
	t.Helper()
	recs, err := r.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, rec := range recs {
		kids = append(kids, rec.ID)
	}
	return strings.Join(kids, " ")
}

// checkSealedUnder fails the test unless every stored private half opens
// under mk and none under old, and mk trusts every key row.
func checkSealedUnder(t *testing.T, s store.Store, mk, old *keys.MasterKey, c *clock) {
	t.Helper()
	rows, _, err := s.KeyRows(context.Background(), store.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rows {
		if w.Private == nil {
			continue
		}
		if !keys.Unseals(mk, w.KID, w.Private) || keys.Unseals(old, w.KID, w.Private) {
			t.Errorf("%s %s: the private half opens under the new key: %v, under the old one: %v",
				w.State, w.KID, keys.Unseals(mk, w.KID, w.Private), keys.Unseals(old, w.KID, w.Private))
		}
	}
	for _, rec := range listAll(t, mustRing(t, s, mk, c)) {
		if rec.Untrusted {
			t.Errorf("%s %s untrusted under the new master key", rec.State, rec.ID)
		}
	}
}

func listAll(t *testing.T, r *keys.Ring) []keys.Record {
	t.Helper()
	recs, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestRotateMasterKeyWhileReplicasServe: replica A rotates the master
// key; replica B, still on the old one, keeps signing, publishing the same
// key set, rotating keys and compromising them; a process given the new
// key works at once, and one given the old key does until the rotation is
// finished, which waits for the old-key replicas unless forced; then every
// private half is sealed under the new key only and the old key opens
// nothing.
func TestRotateMasterKeyWhileReplicasServe(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		open := newDatabase()
		ctx := context.Background()
		c := &clock{now: ringNow}
		oldKey, newKey := newMasterKey(t), newMasterKey(t)
		dbA, dbB := open(), open()
		a := mustRing(t, dbA, oldKey, c)
		if _, err := a.Ensure(ctx, verifier.EdDSA); err != nil {
			t.Fatal(err)
		}
		b := mustRing(t, dbB, oldKey, c)
		before := publishedKIDs(t, b)
		signer, err := b.Signer(ctx, keys.JWT)
		if err != nil {
			t.Fatal(err)
		}

		if err := a.RotateMasterKey(ctx, newKey); err != nil {
			t.Fatal(err)
		}
		if a.MasterKeySuperseded() {
			t.Error("the rotating ring says its key was superseded")
		}
		if got := publishedKIDs(t, b); got != before {
			t.Errorf("the old-key replica publishes %q after the rotation, want %q", got, before)
		}
		if !b.MasterKeySuperseded() {
			t.Error("the old-key replica does not say that its key was superseded")
		}
		for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
			if _, err := b.Signer(ctx, f); err != nil {
				t.Errorf("old-key replica, %s signer: %v", f, err)
			}
		}
		checkSealedUnder(t, open(), newKey, oldKey, c)

		// A process given the old key, started now, works too.
		late, err := openRingOn(t, open(), oldKey, c)
		if err != nil {
			t.Fatalf("a process given the old key during the rotation: %v", err)
		}
		if got := publishedKIDs(t, late); got != before {
			t.Errorf("a process started on the old key publishes %q, want %q", got, before)
		}
		if k, err := late.Signer(ctx, keys.JWT); err != nil || k.ID() != signer.ID() {
			t.Errorf("a process started on the old key signs with %v, %v; want %s", k, err, signer.ID())
		}

		// The old-key replica changes keys: under the new master key.
		c.add(keys.DefaultPeriod)
		rots, err := b.RotateDue(ctx)
		if err != nil || len(rots) != 2 {
			t.Fatalf("scheduled rotation on the old-key replica: %v, %v", rots, err)
		}
		if k, err := b.Signer(ctx, keys.JWT); err != nil || k.ID() != rots[0].Activated {
			t.Errorf("after the rotation, the old-key replica signs with %v, %v; want %s", k, err, rots[0].Activated)
		}
		if _, err := b.Compromise(ctx, rots[1].Published, revocation.Options{Actor: "test"}); err != nil {
			t.Fatalf("compromise on the old-key replica: %v", err)
		}
		fresh := mustRing(t, open(), newKey, c)
		if got, want := publishedKIDs(t, fresh), publishedKIDs(t, b); got != want {
			t.Errorf("the new-key ring publishes %q, the old-key replica %q", got, want)
		}
		if k, err := fresh.Signer(ctx, keys.PASETO); err != nil || k.ID() != rots[1].Activated {
			t.Errorf("the new-key ring signs PASETO with %v, %v; want %s", k, err, rots[1].Activated)
		}
		checkSealedUnder(t, open(), newKey, oldKey, c)

		// Finishing waits for the old-key replicas.
		if err := fresh.FinishMasterKeyRotation(ctx, keys.FinishOptions{}); !errors.Is(err, keys.ErrPreviousMasterKeyInUse) {
			t.Fatalf("finish while an old-key replica writes: %v, want ErrPreviousMasterKeyInUse", err)
		}
		if err := late.FinishMasterKeyRotation(ctx, keys.FinishOptions{Force: true}); !errors.Is(err, keys.ErrMasterKey) {
			t.Errorf("finish with the old key: %v, want ErrMasterKey", err)
		}
		c.add(2 * time.Minute)
		if err := b.RecordPublicationLag(ctx, time.Minute); err != nil { // as writ serve does every minute
			t.Fatal(err)
		}
		c.add(2 * time.Minute)
		if err := fresh.FinishMasterKeyRotation(ctx, keys.FinishOptions{}); !errors.Is(err, keys.ErrPreviousMasterKeyInUse) {
			t.Fatalf("finish 2 minutes after an old-key replica wrote: %v, want ErrPreviousMasterKeyInUse", err)
		}
		c.add(2 * time.Minute)
		if err := fresh.FinishMasterKeyRotation(ctx, keys.FinishOptions{}); err != nil {
			t.Fatalf("finish once no old-key replica was seen for 4 minutes: %v", err)
		}
		if err := fresh.FinishMasterKeyRotation(ctx, keys.FinishOptions{}); err == nil {
			t.Error("a second finish succeeded")
		}

		if _, err := openRingOn(t, open(), oldKey, c); !errors.Is(err, keys.ErrMasterKey) || !strings.Contains(err.Error(), "master-key rotate") {
			t.Errorf("the old key after the rotation finished: %v, want ErrMasterKey with a hint", err)
		}
		checkSealedUnder(t, open(), newKey, oldKey, c)
		// The running old-key replica found the new key and keeps it.
		if _, err := b.Signer(ctx, keys.JWT); err != nil {
			t.Errorf("the running old-key replica after finish: %v", err)
		}

		events, err := audit.NewLog(dbA)
		if err != nil {
			t.Fatal(err)
		}
		log, err := events.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range log {
			if strings.HasPrefix(e.Action, "master_key.") {
				actions = append(actions, e.Action)
			}
			for _, secret := range [][]byte{keys.RawKey(oldKey), keys.RawKey(newKey)} {
				enc := base64.StdEncoding.EncodeToString(secret)
				if strings.Contains(e.Detail, enc) || strings.Contains(e.Detail, string(secret)) {
					t.Errorf("audit event %s holds a master key", e.Action)
				}
			}
		}
		if got := strings.Join(actions, " "); got != audit.MasterKeyRotate+" "+audit.MasterKeyFinish {
			t.Errorf("audit: %q, want a rotation and a finish", got)
		}
	})
}

// rotatedRingEnv returns a keyring with its keys whose master key was
// rotated, not finished, to the key it returns.
func rotatedRingEnv(t *testing.T) (*ringEnv, *keys.MasterKey) {
	t.Helper()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	newKey := newMasterKey(t)
	if err := e.ring.RotateMasterKey(context.Background(), newKey); err != nil {
		t.Fatal(err)
	}
	return e, newKey
}

// TestFinishMasterKeyRotationForce: finishing while an old-key process was
// seen lately is refused unless forced; forced, it finishes.
func TestFinishMasterKeyRotationForce(t *testing.T) {
	e, newKey := rotatedRingEnv(t)
	ctx := context.Background()
	r := e.open(t, newKey)
	if err := r.FinishMasterKeyRotation(ctx, keys.FinishOptions{}); !errors.Is(err, keys.ErrPreviousMasterKeyInUse) {
		t.Fatalf("finish right after the rotation: %v, want ErrPreviousMasterKeyInUse", err)
	}
	if err := r.FinishMasterKeyRotation(ctx, keys.FinishOptions{Force: true}); err != nil {
		t.Fatalf("forced finish: %v", err)
	}
	if _, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk}); !errors.Is(err, keys.ErrMasterKey) {
		t.Errorf("the old key after a forced finish: %v, want ErrMasterKey", err)
	}
}

// TestRotateMasterKeyKeepsUntrustedRows: a row that the old master key
// does not trust (planted without it, or an earlier version of a row put
// back with its earlier MAC) stays untrusted under the new one: a
// rotation never launders a row.
func TestRotateMasterKeyKeepsUntrustedRows(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		open := newDatabase()
		ctx := context.Background()
		c := &clock{now: ringNow}
		db := open()
		oldKey, newKey := newMasterKey(t), newMasterKey(t)
		r := mustRing(t, db, oldKey, c)
		if _, err := r.Ensure(ctx, verifier.EdDSA); err != nil {
			t.Fatal(err)
		}
		// Planted: a next key with a made-up MAC.
		k, err := keys.Generate(verifier.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		pub := publicDER(t, k)
		if err := db.KeyInsert(ctx, store.KeyRow{KID: k.ID(), Format: "jwt", Alg: "EdDSA", State: "next", Public: pub,
			Created: ringNow.Unix(), MAC: bytes.Repeat([]byte{1}, 32)}); err != nil {
			t.Fatal(err)
		}
		// Put back: the PASETO next key, compromised, restored as it was
		// before, with its earlier MAC (the old key's, but not in the seal).
		rows, _, err := db.KeyRows(ctx, store.KeyFilter{Format: "paseto", States: []string{"next"}})
		if err != nil || len(rows) != 1 {
			t.Fatalf("paseto next: %v, %v", rows, err)
		}
		earlier := rows[0]
		if _, err := r.Compromise(ctx, earlier.KID, revocation.Options{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := db.KeyUpdate(ctx, earlier, "compromised", false); err != nil {
			t.Fatal(err)
		}
		untrusted := func(r *keys.Ring) []string {
			var kids []string
			for _, rec := range listAll(t, r) {
				if rec.Untrusted {
					kids = append(kids, rec.ID)
				}
			}
			return kids
		}
		want := strings.Join([]string{earlier.KID, k.ID()}, " ") // oldest first, then by insertion
		if got := strings.Join(untrusted(r), " "); got != want {
			t.Fatalf("before the rotation, untrusted: %q, want %q", got, want)
		}
		published := publishedKIDs(t, r)
		if err := r.RotateMasterKey(ctx, newKey); err != nil {
			t.Fatal(err)
		}
		after := mustRing(t, open(), newKey, c)
		if got := strings.Join(untrusted(after), " "); got != want {
			t.Errorf("after the rotation, untrusted: %q, want %q", got, want)
		}
		if got := publishedKIDs(t, after); got != published {
			t.Errorf("after the rotation, published %q, want %q", got, published)
		}
	})
}

// TestRotateMasterKeyRefusals: rotating to the current key, rotating
// again before finishing, and rotating a keyring whose trusted key does
// not open under the master key fail and change nothing.
func TestRotateMasterKeyRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("same key", func(t *testing.T) {
		e := newRingEnv(t)
		e.ensure(t, verifier.EdDSA)
		same, err := keys.ReadMasterKeyFile(filepath.Join(e.dir, "writ.db.key"))
		if err != nil {
			t.Fatal(err)
		}
		snap := snapshot(t, e.db)
		if err := e.ring.RotateMasterKey(ctx, same); err == nil {
			t.Error("rotating to the current key succeeded")
		}
		if got := snapshot(t, e.db); got != snap {
			t.Error("a refused rotation changed the database")
		}
	})
	t.Run("under way", func(t *testing.T) {
		e := newRingEnv(t)
		e.ensure(t, verifier.EdDSA)
		second, third := newMasterKey(t), newMasterKey(t)
		if err := e.ring.RotateMasterKey(ctx, second); err != nil {
			t.Fatal(err)
		}
		snap := snapshot(t, e.db)
		for _, r := range []*keys.Ring{e.ring, e.open(t, second), e.open(t, e.mk)} {
			if err := r.RotateMasterKey(ctx, third); err == nil || !strings.Contains(err.Error(), "finish") {
				t.Errorf("a second rotation before the first finished: %v", err)
			}
		}
		if got := snapshot(t, e.db); got != snap {
			t.Error("a refused rotation changed the database")
		}
	})
	t.Run("unopenable private half", func(t *testing.T) {
		e := newRingEnv(t)
		e.ensure(t, verifier.EdDSA)
		kid := kidOf(t, e.db, keys.JWT, keys.Next)
		setKey(t, e.db, kid, map[string]any{"private_key": bytes.Repeat([]byte{7}, 64)})
		snap := snapshot(t, e.db)
		if err := e.ring.RotateMasterKey(ctx, newMasterKey(t)); err == nil || !strings.Contains(err.Error(), kid) {
			t.Errorf("rotation with a private half that does not open: %v", err)
		}
		if got := snapshot(t, e.db); got != snap {
			t.Error("a failed rotation changed the database")
		}
	})
	t.Run("wrong old key", func(t *testing.T) {
		e := newRingEnv(t)
		e.ensure(t, verifier.EdDSA)
		snap := snapshot(t, e.db)
		if _, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: newMasterKey(t)}); !errors.Is(err, keys.ErrMasterKey) {
			t.Errorf("a ring with another key: %v, want ErrMasterKey", err)
		}
		if got := snapshot(t, e.db); got != snap {
			t.Error("a refused ring changed the database")
		}
	})
}

// snapshot returns the key rows and the keyring's meta rows as text.
func snapshot(t *testing.T, s store.Store) string {
	t.Helper()
	rows, seal, err := s.KeyRows(context.Background(), store.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range rows {
		b.WriteString(strings.Join([]string{w.KID, w.State, base64.StdEncoding.EncodeToString(w.Private), base64.StdEncoding.EncodeToString(w.MAC)}, ",") + "\n")
	}
	b.WriteString(base64.StdEncoding.EncodeToString(seal) + "\n")
	for _, name := range []string{store.MetaMasterKeyCheck, store.MetaMasterKeySuccessor, store.MetaMasterKeyPreviousSeen} {
		v, err := s.MetaGet(context.Background(), name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		b.WriteString(name + "=" + base64.StdEncoding.EncodeToString(v) + "\n")
	}
	return b.String()
}

// TestRotateMasterKeyRacesReplicas: while one replica rotates the master
// key, another on the old key signs, publishes and rotates its keys as
// fast as it can. None of its signings or rotations fails, its key sets
// never shrink, and afterwards every row is trusted and sealed under the
// new key: no row was written under the old key after the change.
func TestRotateMasterKeyRacesReplicas(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		for range 5 {
			raceMasterKeyRotation(t, newDatabase())
		}
	})
}

func raceMasterKeyRotation(t *testing.T, open func() store.Store) {
	ctx := context.Background()
	c := &clock{now: ringNow}
	db := open()
	oldKey, newKey := newMasterKey(t), newMasterKey(t)
	a := mustRing(t, db, oldKey, c)
	if _, err := a.Ensure(ctx, verifier.EdDSA); err != nil {
		t.Fatal(err)
	}
	b := mustRing(t, open(), oldKey, c)
	wantKeys := len(strings.Fields(publishedKIDs(t, b)))
	var failures atomic.Int64
	var rotations atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch i {
				case 0:
					if _, err := b.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
						t.Errorf("rotation on the old-key replica: %v", err)
						failures.Add(1)
					} else {
						rotations.Add(1)
					}
				case 1:
					// Published keys: next, active and the retired ones;
					// never fewer than at the start.
					if p, err := b.Published(ctx); err != nil || len(p) < wantKeys {
						t.Errorf("old-key replica's key set: %d keys, %v", len(p), err)
						failures.Add(1)
					}
				default:
					if _, err := b.Signer(ctx, keys.Format([]keys.Format{keys.JWT, keys.PASETO}[i%2])); err != nil {
						t.Errorf("signing on the old-key replica: %v", err)
						failures.Add(1)
					}
				}
				if failures.Load() > 5 {
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := a.RotateMasterKey(ctx, newKey); err != nil {
		t.Error(err)
	}
	for deadline := time.Now().Add(10 * time.Second); rotations.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	before := rotations.Load()
	for deadline := time.Now().Add(10 * time.Second); rotations.Load() < before+3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !b.MasterKeySuperseded() {
		t.Error("the old-key replica did not take up the new key")
	}
	checkSealedUnder(t, open(), newKey, oldKey, c)
}

// publicDER returns the PKIX DER of k's public half.
func publicDER(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestOldKeyReplicaWritesUnderNewKey: a replica on the old master key
// that has read nothing since the rotation adds a key of a format with no
// keys yet (its writes read no seal first): it writes under the new key,
// and the key set stays whole.
func TestOldKeyReplicaWritesUnderNewKey(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		open := newDatabase()
		ctx := context.Background()
		c := &clock{now: ringNow}
		oldKey, newKey := newMasterKey(t), newMasterKey(t)
		a := mustRing(t, open(), oldKey, c)
		for _, state := range []keys.State{keys.Active, keys.Next} {
			k, err := keys.Generate(verifier.EdDSA)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Add(ctx, k, state); err != nil {
				t.Fatal(err)
			}
		}
		b := mustRing(t, open(), oldKey, c)
		if err := a.RotateMasterKey(ctx, newKey); err != nil {
			t.Fatal(err)
		}
		k, err := keys.Generate(verifier.V4Public)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(ctx, k, keys.Active); err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(publishedKIDs(t, mustRing(t, open(), newKey, c)))); n != 3 {
			t.Errorf("the new-key ring publishes %d keys, want 3", n)
		}
		checkSealedUnder(t, open(), newKey, oldKey, c)
	})
}

// TestPreviousMasterKeyForgesNothing: whoever holds the previous master
// key (it leaked: the reason to rotate) and may write the database plants
// a key row bound under it, listed in a seal under it of a later
// generation than any, after the rotation: a replica that took up the new
// key neither publishes nor trusts it, and neither does a ring given the
// new key.
func TestPreviousMasterKeyForgesNothing(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		open := newDatabase()
		ctx := context.Background()
		c := &clock{now: ringNow}
		oldKey, newKey := newMasterKey(t), newMasterKey(t)
		db := open()
		a := mustRing(t, db, oldKey, c)
		if _, err := a.Ensure(ctx, verifier.EdDSA); err != nil {
			t.Fatal(err)
		}
		b := mustRing(t, open(), oldKey, c)
		if err := a.RotateMasterKey(ctx, newKey); err != nil {
			t.Fatal(err)
		}
		published := publishedKIDs(t, b) // b takes up the new key
		if err := a.FinishMasterKeyRotation(ctx, keys.FinishOptions{Force: true}); err != nil {
			t.Fatal(err)
		}

		k, err := keys.Generate(verifier.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		w := store.KeyRow{KID: k.ID(), Format: "jwt", Alg: "EdDSA", State: "next", Public: publicDER(t, k), Created: ringNow.Unix()}
		w.MAC = keys.ForgeMAC(oldKey, &w)
		if err := db.KeyInsert(ctx, w); err != nil {
			t.Fatal(err)
		}
		rows, _, err := db.KeyRows(ctx, store.KeyFilter{States: []string{"next", "active", "retired"}})
		if err != nil {
			t.Fatal(err)
		}
		entries := map[string][]byte{}
		for _, r := range rows {
			entries[r.KID] = keys.ForgeMAC(oldKey, &r)
		}
		if err := db.MetaPut(ctx, store.MetaKeySeal, keys.ForgeSeal(oldKey, 1000, entries)); err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]*keys.Ring{"the replica that took up the new key": b, "the rotating ring": a} {
			if got := publishedKIDs(t, r); strings.Contains(got, k.ID()) {
				t.Errorf("%s publishes the key planted under the previous master key: %q (was %q)", name, got, published)
			}
		}
		if _, err := openRingOn(t, open(), oldKey, c); !errors.Is(err, keys.ErrMasterKey) {
			t.Errorf("the previous key after the finish: %v, want ErrMasterKey", err)
		}
	})
}

// TestPreviousMasterKeyRefusedWithoutCheckValue: a database writer without
// any master key who deletes the check value after a rotation, and the key
// set seal with it, does not get a process given the previous (leaked) key
// to bind the keyring to that key anew: it opens nothing of the keyring,
// so it is refused as before, and the new key still works.
func TestPreviousMasterKeyRefusedWithoutCheckValue(t *testing.T) {
	for name, deleted := range map[string][]string{
		"check value":          {store.MetaMasterKeyCheck},
		"check value and seal": {store.MetaMasterKeyCheck, store.MetaKeySeal},
	} {
		t.Run(name, func(t *testing.T) {
			e, newKey := rotatedRingEnv(t)
			ctx := context.Background()
			if err := e.open(t, newKey).FinishMasterKeyRotation(ctx, keys.FinishOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			for _, name := range deleted {
				if err := e.db.MetaDelete(ctx, name); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk}); !errors.Is(err, keys.ErrMasterKey) {
				t.Fatalf("the previous key on a keyring without its %s: %v, want ErrMasterKey", name, err)
			}
			e.open(t, newKey) // writes the check value anew
			if _, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk}); !errors.Is(err, keys.ErrMasterKey) {
				t.Errorf("the previous key once the new key wrote the check value again: %v, want ErrMasterKey", err)
			}
		})
	}
}

// TestConcurrentMasterKeyRotations: two processes that rotate the master
// key at once, to different keys, from the same one: one rotation wins,
// the other is refused and its process takes up the winner's key; the
// loser's key opens nothing.
func TestConcurrentMasterKeyRotations(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() func() store.Store) {
		open := newDatabase()
		ctx := context.Background()
		c := &clock{now: ringNow}
		oldKey := newMasterKey(t)
		a := mustRing(t, open(), oldKey, c)
		if _, err := a.Ensure(ctx, verifier.EdDSA); err != nil {
			t.Fatal(err)
		}
		rings := []*keys.Ring{a, mustRing(t, open(), oldKey, c)}
		next := []*keys.MasterKey{newMasterKey(t), newMasterKey(t)}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range rings {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = rings[i].RotateMasterKey(ctx, next[i])
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("two rotations at once: %v, %v; want one to succeed", errs[0], errs[1])
		}
		won, lost := 0, 1
		if errs[0] != nil {
			won, lost = 1, 0
		}
		if !strings.Contains(errs[lost].Error(), "under way") {
			t.Errorf("the losing rotation: %v", errs[lost])
		}
		if !rings[lost].MasterKeySuperseded() {
			t.Error("the losing process did not take up the winner's key")
		}
		if _, err := openRingOn(t, open(), next[lost], c); !errors.Is(err, keys.ErrMasterKey) {
			t.Errorf("the losing rotation's key: %v, want ErrMasterKey", err)
		}
		r := mustRing(t, open(), next[won], c)
		for _, x := range []*keys.Ring{r, rings[lost]} {
			if _, err := x.Signer(ctx, keys.JWT); err != nil {
				t.Errorf("after the rotations: %v", err)
			}
		}
	})
}
