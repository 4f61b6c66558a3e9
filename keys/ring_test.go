package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

func TestOpenRingWrongMasterKey(t *testing.T) {
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	other, err := keys.GenerateMasterKeyFile(filepath.Join(e.dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := keys.OpenRing(context.Background(), keys.RingConfig{Store: e.db, MasterKey: other})
	if r != nil || !errors.Is(err, keys.ErrMasterKey) {
		t.Fatalf("OpenRing with another master key = %v, %v; want ErrMasterKey", r, err)
	}
	// Even a keyring without keys knows its master key.
	empty := newRingEnv(t)
	if _, err := keys.OpenRing(context.Background(), keys.RingConfig{Store: empty.db, MasterKey: other}); !errors.Is(err, keys.ErrMasterKey) {
		t.Fatalf("OpenRing of an empty keyring with another master key = %v", err)
	}
	for name, cfg := range map[string]keys.RingConfig{"no Store": {MasterKey: e.mk}, "no MasterKey": {Store: e.db}} {
		if _, err := keys.OpenRing(context.Background(), cfg); err == nil {
			t.Errorf("OpenRing with %s succeeded", name)
		}
	}
}

func TestEnsure(t *testing.T) {
	e := newRingEnv(t)
	added := e.ensure(t, verifier.ES256)
	if len(added) != 4 {
		t.Fatalf("Ensure added %d keys, want 4", len(added))
	}
	count := map[string]int{}
	for _, r := range e.records(t) {
		count[string(r.Format)+" "+string(r.Algorithm)+" "+string(r.State)]++
	}
	want := map[string]int{"jwt ES256 active": 1, "jwt ES256 next": 1, "paseto v4.public active": 1, "paseto v4.public next": 1}
	if !mapsEqual(count, want) {
		t.Errorf("keyring %v, want %v", count, want)
	}
	if again := e.ensure(t, verifier.ES256); len(again) != 0 {
		t.Errorf("second Ensure added %d keys", len(again))
	}
	// A complete keyring stays as it is, whatever algorithm is asked for.
	if again := e.ensure(t, verifier.RS256); len(again) != 0 {
		t.Errorf("Ensure(RS256) on a complete keyring added %d keys", len(again))
	}
	if n := len(e.records(t)); n != 4 {
		t.Errorf("%d keys after three Ensures, want 4", n)
	}
	for _, alg := range []verifier.Algorithm{verifier.V4Public, "HS256", ""} {
		if _, err := newRingEnv(t).ring.Ensure(context.Background(), alg); err == nil {
			t.Errorf("Ensure(%q) succeeded", alg)
		}
	}
}

// TestConcurrentEnsure: keyrings racing to fill one new database (writ
// init beside a starting writ serve) add one set of keys between them, and
// none fails.
func TestConcurrentEnsure(t *testing.T) {
	e := newRingEnv(t)
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 4 {
		ring := e.open(t, e.mk)
		wg.Go(func() {
			added, err := ring.Ensure(context.Background(), verifier.EdDSA)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(len(added)))
		})
	}
	wg.Wait()
	if n := total.Load(); n != 4 || len(e.records(t)) != 4 {
		t.Errorf("%d keys added, %d in the keyring; want 4 and 4", n, len(e.records(t)))
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOneActiveKeyPerFormat(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	before := e.records(t)
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.V4Public} {
		k, err := keys.Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ring.Add(ctx, k, keys.Active); err == nil {
			t.Errorf("a second active %s key was added", k.Format())
		}
		for _, state := range []keys.State{keys.Retired, keys.Removed, keys.Compromised, "bogus"} {
			if err := e.ring.Add(ctx, k, state); err == nil {
				t.Errorf("a key was added as %s", state)
			}
		}
	}
	if after := e.records(t); len(after) != len(before) {
		t.Fatalf("%d keys after refused additions, were %d", len(after), len(before))
	}
	// A key already in the keyring cannot be added again.
	k := e.signer(t, keys.JWT)
	if err := e.ring.Add(ctx, k, keys.Next); err == nil {
		t.Error("the active key was added again as next")
	}
	// Another next key is fine.
	k, _ = keys.Generate(verifier.EdDSA)
	if err := e.ring.Add(ctx, k, keys.Next); err != nil {
		t.Errorf("Add(next): %v", err)
	}
	if rows, _, err := e.db.KeyRows(ctx, store.KeyFilter{Format: "jwt", States: []string{"active"}}); err != nil || len(rows) != 1 {
		t.Errorf("%d active JWT keys (%v)", len(rows), err)
	}
}

func TestSigner(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	if _, err := e.ring.Signer(ctx, keys.JWT); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("Signer on an empty keyring = %v, want ErrNoActiveKey", err)
	}
	e.ensure(t, verifier.EdDSA)
	active := map[keys.Format]string{}
	for _, r := range e.records(t) {
		if r.State == keys.Active {
			active[r.Format] = r.ID
		}
	}
	for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
		k := e.signer(t, f)
		if k.ID() != active[f] || k.Format() != f {
			t.Errorf("Signer(%s) = %s, want the active key %s", f, k, active[f])
		}
		if again := e.signer(t, f); again != k {
			t.Errorf("Signer(%s) opened the key again instead of returning its cached copy", f)
		}
		// Another process with the same master key signs with the same key.
		if other, err := e.open(t, e.mk).Signer(ctx, f); err != nil || other.ID() != k.ID() {
			t.Errorf("another Ring's Signer(%s) = %v, %v", f, other, err)
		}
	}
	// After a rotation, the new active key signs.
	old := e.signer(t, keys.JWT)
	rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if k := e.signer(t, keys.JWT); k.ID() != rot.Activated || k.ID() == old.ID() {
		t.Errorf("after rotation Signer = %s, want %s", k, rot.Activated)
	}
}

func TestJWKSHasNoPrivateMembers(t *testing.T) {
	for _, alg := range jwsAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			e := newRingEnv(t)
			e.ensure(t, alg)
			data, err := e.ring.JWKS(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var published []string
			for _, r := range e.records(t) {
				if r.Format == keys.JWT {
					published = append(published, r.ID)
				}
			}
			var kids []string
			for _, k := range decodeSet(t, data) {
				for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
					if _, ok := k[m]; ok {
						t.Errorf("key %v has private member %q", k["kid"], m)
					}
				}
				kid, _ := k["kid"].(string)
				if kid == "" || k["alg"] != string(alg) || k["use"] != "sig" {
					t.Errorf("key without kid, alg %s or use sig: %v", alg, k)
				}
				kids = append(kids, kid)
			}
			slices.Sort(kids)
			slices.Sort(published)
			if !slices.Equal(kids, published) {
				t.Errorf("JWKS kids %v, published JWT keys %v", kids, published)
			}
			// The private halves appear nowhere in the set.
			for _, f := range []keys.Format{keys.JWT} {
				if bytes.Contains(data, []byte(b64.Encode(privateScalar(e.signer(t, f))))) {
					t.Error("the JWKS holds the private key")
				}
			}
			if ks, err := verifier.ParseJWKS(data); err != nil || ks.Len() != 2 {
				t.Errorf("ParseJWKS: %v, %v", ks, err)
			}
		})
	}
}

func TestKeySetsLeaveOutUnpublishedKeys(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	var next string
	for _, r := range e.records(t) {
		if r.Format == keys.JWT && r.State == keys.Next {
			next = r.ID
		}
	}
	if _, err := e.ring.Compromise(ctx, next, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	data, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(next)) {
		t.Error("a compromised key is still in the JWKS")
	}
	ks, err := e.ring.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LookupKey(ctx, next); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("KeySet still holds the compromised key: %v", err)
	}
	if ks.Len() != 4 { // active and a fresh next per format
		t.Errorf("KeySet of %d keys, want 4", ks.Len())
	}
}

// TestPrivateKeysSealed reads the keys table and the database files and
// checks that no private key is stored in the clear, and that a sealed key
// opens only under its own kid.
func TestPrivateKeysSealed(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	var added []*keys.Key
	for _, alg := range allAlgs {
		k, err := keys.Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		state := keys.Next
		if alg == verifier.EdDSA || alg == verifier.V4Public {
			state = keys.Active
		}
		if err := e.ring.Add(ctx, k, state); err != nil {
			t.Fatal(err)
		}
		added = append(added, k)
	}
	sqlitetest.Checkpoint(t, e.db, "FULL")
	var files [][]byte
	for _, suffix := range []string{"", "-wal"} {
		if data, err := os.ReadFile(e.dbPath + suffix); err == nil {
			files = append(files, data)
		}
	}
	for _, k := range added {
		der := pkcs8(t, k)
		sealed := e.sealed(t, k.ID())
		if len(sealed) < len(der) {
			t.Errorf("%s: sealed private key of %d bytes, PKCS #8 of %d", k, len(sealed), len(der))
		}
		// The whole PKCS #8 and the private scalar or seed alone.
		for _, needle := range [][]byte{der, privateScalar(k)} {
			if bytes.Contains(sealed, needle) {
				t.Errorf("%s: the private_key column holds the key in the clear", k)
			}
			for _, f := range files {
				if bytes.Contains(f, needle) {
					t.Errorf("%s: the database file holds the key in the clear", k)
				}
			}
		}
	}
	// Swapping two sealed keys must not make one sign as the other: each is
	// bound to its kid.
	jwtActive, jwtNext := added[0], added[1]
	setKey(t, e.db, jwtActive.ID(), map[string]any{"private_key": e.sealed(t, jwtNext.ID())})
	if k, err := e.open(t, e.mk).Signer(ctx, keys.JWT); k != nil || !errors.Is(err, keys.ErrMasterKey) {
		t.Errorf("Signer of a key sealed for another kid = %v, %v; want ErrMasterKey", k, err)
	}
}

func TestPASERKSet(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	data, err := e.ring.PASERKSet(ctx)
	if err != nil || string(data) != `{"keys":[]}` {
		t.Fatalf("PASERK set of an empty keyring: %s, %v", data, err)
	}
	e.ensure(t, verifier.EdDSA)
	if data, err = e.ring.PASERKSet(ctx); err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, r := range e.records(t) {
		if r.Format == keys.PASETO {
			published = append(published, r.ID)
		}
	}
	var kids []string
	for _, k := range decodeSet(t, data) {
		kid, _ := k["kid"].(string)
		pk, _ := k["paserk"].(string)
		if len(k) != 2 || !strings.HasPrefix(kid, "k4.pid.") || !strings.HasPrefix(pk, "k4.public.") {
			t.Errorf("PASERK set entry %v, want exactly kid k4.pid.… and paserk k4.public.…", k)
			continue
		}
		raw, err := b64.Decode(strings.TrimPrefix(pk, "k4.public."))
		if err != nil || len(raw) != ed25519.PublicKeySize || paserk.ID(raw) != kid {
			t.Errorf("entry %v: kid is not the k4.pid of the key (%v)", k, err)
		}
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	slices.Sort(published)
	if !slices.Equal(kids, published) {
		t.Errorf("PASERK set kids %v, published PASETO keys %v", kids, published)
	}
	if ks, err := verifier.ParsePASERKSet(data); err != nil || ks.Len() != 2 {
		t.Errorf("ParsePASERKSet: %v, %v", ks, err)
	}
	// Neither set holds the other format's keys.
	jwks, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range published {
		if bytes.Contains(jwks, []byte(kid)) {
			t.Errorf("PASETO key %s is in the JWKS", kid)
		}
	}
}

func TestRecordsMatchSigners(t *testing.T) {
	e := newRingEnv(t)
	e.ensure(t, verifier.PS256)
	for _, r := range e.records(t) {
		if r.State != keys.Active {
			continue
		}
		k := e.signer(t, r.Format)
		if r.ID != k.ID() || r.Algorithm != k.Algorithm() || !r.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("record %+v does not match its signer %s", r, k)
		}
		if r.CreatedAt.IsZero() || r.ActivatedAt.IsZero() || !r.RetiredAt.IsZero() {
			t.Errorf("record times %+v", r)
		}
	}
}

// TestWithdrawnKeysDestroyed: once a key is retired or compromised, its
// sealed private half is gone from the database file too, after a
// checkpoint; with a compromised spare next key, no new key takes the
// freed space. (SQLite rewrites these pages here even without
// secure_delete, which writ turns on so that the property does not depend
// on the page layout.)
func TestWithdrawnKeysDestroyed(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	active, err := e.ring.Signer(ctx, keys.JWT)
	if err != nil {
		t.Fatal(err)
	}
	spare, err := keys.Generate(verifier.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ring.Add(ctx, spare, keys.Next); err != nil {
		t.Fatal(err)
	}
	sealed := map[string][]byte{active.ID(): e.sealed(t, active.ID()), spare.ID(): e.sealed(t, spare.ID())}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Compromise(ctx, spare.ID(), revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	sqlitetest.Checkpoint(t, e.db, "TRUNCATE")
	for kid, blob := range sealed {
		for _, suffix := range []string{"", "-wal"} {
			if data, err := os.ReadFile(e.dbPath + suffix); err == nil && bytes.Contains(data, blob) {
				t.Errorf("the sealed private key of withdrawn %s is still in writ.db%s", kid, suffix)
			}
		}
	}
}
