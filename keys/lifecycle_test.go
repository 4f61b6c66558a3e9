package keys_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
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

// lcEnv is a keyring, issuer and revocation list on a settable clock.
type lcEnv struct {
	t      *testing.T
	db     *sqlite.DB
	now    time.Time
	mu     sync.Mutex
	ring   *keys.Ring
	issuer *issuer.Issuer
	list   *revocation.List
}

func (e *lcEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *lcEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func newLCEnv(t *testing.T, policy keys.Policy, fast bool) *lcEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlitetest.Create(t, filepath.Join(dir, "writ.db"))
	if fast {
		// Simulations issue thousands of tokens: skip the fsyncs, which
		// the durability tests cover elsewhere.
		sqlitetest.Unsynced(t, db)
	}
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	e := &lcEnv{t: t, db: db, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const maxTTL = 7 * 24 * time.Hour
	if e.ring, err = keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, Now: e.clock, Policy: policy, MaxTTL: maxTTL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Ensure(ctx, verifier.EdDSA); err != nil {
		t.Fatal(err)
	}
	if e.issuer, err = issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: e.ring, Store: db, Now: e.clock, UnsafeDatabaseNow: e.clock, MaxTTL: maxTTL}); err != nil {
		t.Fatal(err)
	}
	if e.list, err = revocation.NewList(revocation.Config{Store: db, MaxTTL: e.issuer.MaxTTL(), Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *lcEnv) issue(ttl time.Duration) *issuer.Token {
	e.t.Helper()
	tok, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: "svc", Audience: []string{"api"}, TTL: ttl})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// keySet is what a verifier fetching the key sets now would get.
func (e *lcEnv) keySet() *verifier.KeySet {
	e.t.Helper()
	ks, err := e.ring.KeySet(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ks
}

func (e *lcEnv) verify(ks *verifier.KeySet, snap *revoked.Snapshot, token string) error {
	cfg := verifier.Config{Issuer: "https://issuer.test", Audience: "api", Keys: ks, Now: e.clock,
		Algorithms: []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.V4Public}}
	if snap != nil {
		cfg.Revocation = snap
	}
	v, err := verifier.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), token)
	return err
}

func (e *lcEnv) state(kid string) keys.State {
	e.t.Helper()
	recs, err := e.ring.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		if r.ID == kid {
			return r.State
		}
	}
	e.t.Fatalf("no key %s", kid)
	return ""
}

// checkOneActive asserts the keyring's invariant: one active and one next
// key per format.
func (e *lcEnv) checkOneActive() {
	e.t.Helper()
	recs, err := e.ring.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range recs {
		count[string(r.Format)+"/"+string(r.State)]++
	}
	for _, f := range []string{"jwt", "paseto"} {
		if count[f+"/active"] != 1 || count[f+"/next"] != 1 {
			e.t.Fatalf("%s: %d active and %d next keys, want 1 and 1", f, count[f+"/active"], count[f+"/next"])
		}
	}
}

func TestRotate(t *testing.T) {
	e := newLCEnv(t, keys.Policy{MinPublished: 5*time.Minute + 30*time.Second}, false)
	ctx := context.Background()
	old := e.issue(2 * time.Hour)

	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
		t.Fatalf("rotation of a fresh next key: %v, want ErrTooEarly", err)
	}
	e.advance(keys.DefaultPublishFloor) // longer than MinPublished: the floor applies
	rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Retired != old.KeyID || e.state(rot.Activated) != keys.Active || e.state(rot.Published) != keys.Next || e.state(old.KeyID) != keys.Retired {
		t.Fatalf("rotation %+v left the wrong states", rot)
	}
	e.checkOneActive()
	// The fresh next key was published just now: it may not sign yet.
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
		t.Errorf("second rotation at once: %v, want ErrTooEarly", err)
	}
	fresh := e.issue(4 * time.Hour)
	if fresh.KeyID != rot.Activated {
		t.Errorf("new token signed by %s, want %s", fresh.KeyID, rot.Activated)
	}
	ks := e.keySet()
	for _, tok := range []*issuer.Token{old, fresh} {
		if err := e.verify(ks, nil, tok.Token); err != nil {
			t.Errorf("token of %s after rotation: %v", tok.KeyID, err)
		}
	}
	// The retired key leaves the key set once its last token has expired
	// by more than the largest verifier leeway, not before.
	e.advance(old.ExpiresAt.Sub(e.clock()) + verifier.MaxLeeway - time.Second)
	if removed, err := e.ring.Expire(ctx); err != nil || len(removed) != 0 {
		t.Fatalf("expire within the leeway after the token's expiry: %v, %v", removed, err)
	}
	e.advance(2 * time.Second)
	removed, err := e.ring.Expire(ctx)
	if err != nil || len(removed) != 1 || removed[0] != old.KeyID {
		t.Fatalf("expire: %v, %v; want [%s]", removed, err, old.KeyID)
	}
	if _, err := e.keySet().LookupKey(ctx, old.KeyID); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("removed key still published: %v", err)
	}
	if err := e.verify(e.keySet(), nil, fresh.Token); err != nil {
		t.Errorf("current token: %v", err)
	}
	// --force skips the wait for a next key published a moment ago.
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Errorf("forced rotation: %v", err)
	}
	e.checkOneActive()
}

func TestRotateChangesAlgorithm(t *testing.T) {
	e := newLCEnv(t, keys.Policy{MinPublished: time.Minute, PublishFloor: -1}, false)
	ctx := context.Background()
	eddsa := e.issue(24 * time.Hour)
	e.advance(2 * time.Minute)
	// First rotation publishes an ES256 next key...
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{NextAlg: verifier.ES256}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{NextAlg: verifier.V4Public}); err == nil {
		t.Error("a PASETO algorithm accepted for JWT keys")
	}
	e.advance(2 * time.Minute)
	// ...the second makes it sign.
	rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es := e.issue(time.Hour)
	k, err := e.keySet().LookupKey(ctx, es.KeyID)
	if err != nil || k.Algorithm() != verifier.ES256 || es.KeyID != rot.Activated {
		t.Fatalf("token after the algorithm change: key %v, %v", k, err)
	}
	for _, tok := range []*issuer.Token{eddsa, es} {
		if err := e.verify(e.keySet(), nil, tok.Token); err != nil {
			t.Errorf("%s token: %v", tok.KeyID, err)
		}
	}
	// Later keys keep the new algorithm.
	recs, _ := e.ring.List(ctx)
	if last := recs[len(recs)-1]; last.State != keys.Next || last.Algorithm != verifier.ES256 {
		t.Errorf("fresh next key %s is %s, want ES256", last.ID, last.Algorithm)
	}
}

func TestConcurrentRotations(t *testing.T) {
	e := newLCEnv(t, keys.Policy{}, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
				errs <- err
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.issuer.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"api"}})
			if err == nil {
				err = e.verify(e.keySet(), nil, tok.Token)
			}
			if err != nil {
				errs <- fmt.Errorf("issue during rotation: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.checkOneActive()
}

// TestRotateWaitsForPublicationLag: once a server has recorded how long its
// key sets may lag the database, a rotation elsewhere, with a shorter
// policy of its own, waits that long too; a shorter lag recorded later
// (another server, or a restart with a shorter max-age) takes over only
// once the longer no longer applies.
func TestRotateWaitsForPublicationLag(t *testing.T) {
	// No floor: the recorded lags alone, down to a minute, govern.
	e := newLCEnv(t, keys.Policy{MinPublished: time.Minute, PublishFloor: -1}, false)
	ctx := context.Background()
	if err := e.ring.RecordPublicationLag(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Minute)
	if err := e.ring.RecordPublicationLag(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
		t.Fatalf("rotation 2 minutes after publication, lag 1h: %v, want ErrTooEarly", err)
	}
	e.advance(time.Hour)
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); err != nil {
		t.Fatalf("rotation past the lag and leeway: %v", err)
	}
	// The fresh next key: the hour-long lag, last recorded 62 minutes ago,
	// applies for 2h1m; the one-minute lag cannot replace it before.
	e.advance(30 * time.Minute)
	if err := e.ring.RecordPublicationLag(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
		t.Fatalf("rotation 30 minutes after publication, hour-long lag still applying: %v, want ErrTooEarly", err)
	}
	e.advance(30 * time.Minute) // 2h2m after the hour-long lag was recorded
	if err := e.ring.RecordPublicationLag(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Minute) // the fresh next key is 2 minutes old
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); err != nil {
		t.Fatalf("rotation under the one-minute lag alone: %v", err)
	}
}

// TestPublishFloor: however short max-age is, a next key signs only once it
// has been published for the floor (16 minutes by default), unless forced;
// scheduled rotations wait for it too.
func TestPublishFloor(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		policy keys.Policy
		wait   time.Duration
	}{
		{"default", keys.Policy{}, 16 * time.Minute},
		{"short max-age", keys.Policy{MinPublished: time.Minute}, keys.DefaultPublishFloor},
		{"longer floor", keys.Policy{PublishFloor: time.Hour}, time.Hour},
		{"no floor", keys.Policy{MinPublished: time.Minute, PublishFloor: -1}, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newLCEnv(t, tt.policy, false)
			e.advance(tt.wait - time.Second)
			if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
				t.Fatalf("rotation a second before %v: %v, want ErrTooEarly", tt.wait, err)
			}
			e.advance(time.Second)
			if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); err != nil {
				t.Fatalf("rotation after %v: %v", tt.wait, err)
			}
			// The fresh next key may be forced into service at once.
			if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
				t.Errorf("forced rotation: %v", err)
			}
		})
	}
	// A scheduled rotation that is due waits for the floor as well.
	e := newLCEnv(t, keys.Policy{Period: 10 * time.Minute, MinPublished: time.Minute}, false)
	e.advance(keys.DefaultPublishFloor - time.Second)
	if rots, err := e.ring.RotateDue(ctx); err != nil || len(rots) != 0 {
		t.Fatalf("scheduled rotation due, next key younger than the floor: %v, %v; want none", rots, err)
	}
	e.advance(time.Second)
	if rots, err := e.ring.RotateDue(ctx); err != nil || len(rots) != 2 {
		t.Fatalf("scheduled rotation past the floor: %v, %v; want both formats", rots, err)
	}
}

// TestShorterLagRecordedMeanwhile: a shorter lag recorded while a longer
// one is in force (a second server) applies as soon as the longer expires,
// without waiting for that server to record it again.
func TestShorterLagRecordedMeanwhile(t *testing.T) {
	e := newLCEnv(t, keys.Policy{MinPublished: time.Minute}, false)
	ctx := context.Background()
	if err := e.ring.RecordPublicationLag(ctx, time.Hour); err != nil { // in force for 2h1m
		t.Fatal(err)
	}
	e.advance(110 * time.Minute)
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	e.advance(10 * time.Minute)
	if err := e.ring.RecordPublicationLag(ctx, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Minute) // the hour-long lag has expired; the next key is 12 minutes old
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) {
		t.Fatalf("rotation under the 30-minute lag recorded meanwhile: %v, want ErrTooEarly", err)
	}
	e.advance(19 * time.Minute)
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); err != nil {
		t.Fatalf("rotation past the 30-minute lag: %v", err)
	}
}

// TestCompromiseKeepsAlgorithmChange: with a next key of a new algorithm
// published, compromising the active key makes that key sign and publishes
// a fresh next key of the new algorithm, not of the compromised key's.
func TestCompromiseKeepsAlgorithmChange(t *testing.T) {
	e := newLCEnv(t, keys.Policy{}, false)
	ctx := context.Background()
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true, NextAlg: verifier.ES256}); err != nil {
		t.Fatal(err)
	}
	active, err := e.ring.Signer(ctx, keys.JWT)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Compromise(ctx, active.ID(), revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	e.checkOneActive()
	recs, err := e.ring.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Format == keys.JWT && (r.State == keys.Active || r.State == keys.Next) && r.Algorithm != verifier.ES256 {
			t.Errorf("%s JWT key %s is %s, want ES256", r.State, r.ID, r.Algorithm)
		}
	}
}

// TestCompromiseAllOrNothing: when revoking the key's tokens, done in the
// same transaction, fails, the key is not withdrawn either, whether the
// storage refuses the entry or the options are refused.
func TestCompromiseAllOrNothing(t *testing.T) {
	e := newLCEnv(t, keys.Policy{}, false)
	ctx := context.Background()
	active, err := e.ring.Signer(ctx, keys.JWT)
	if err != nil {
		t.Fatal(err)
	}
	events := func() int {
		t.Helper()
		n, err := e.db.AuditList(ctx, store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(n)
	}
	before := events()
	lift := sqlitetest.Refuse(t, e.db, "revocations", "kind", "key")
	if _, err := e.ring.Compromise(ctx, active.ID(), revocation.Options{}); err == nil || !strings.Contains(err.Error(), "poisoned record") {
		t.Fatalf("Compromise with the revocation refused: %v, want the refusal", err)
	}
	lift()
	if _, err := e.ring.Compromise(ctx, active.ID(), revocation.Options{Reason: "line\nbreak"}); !errors.Is(err, revocation.ErrInvalid) {
		t.Fatalf("Compromise with a reason that is not plain text: %v, want ErrInvalid", err)
	}
	if got := e.state(active.ID()); got != keys.Active {
		t.Errorf("key after a failed compromise: %s, want active", got)
	}
	if n := events(); n != before {
		t.Errorf("%d audit events recorded by failed compromises", n-before)
	}
	e.checkOneActive()
	// Done again, it completes; and a third time withdraws nothing more
	// and returns the first revocation.
	first, err := e.ring.Compromise(ctx, active.ID(), revocation.Options{Reason: "leaked"})
	if err != nil || first.Kind != revocation.Key || first.Value != active.ID() || first.Seq == 0 {
		t.Fatalf("Compromise: %+v, %v", first, err)
	}
	if want := first.CreatedAt.Add(7 * 24 * time.Hour); !first.ExpiresAt.Equal(want) {
		t.Errorf("the key's revocation expires at %v, want MaxTTL later, %v", first.ExpiresAt, want)
	}
	again, err := e.ring.Compromise(ctx, active.ID(), revocation.Options{Reason: "again"})
	if err != nil || again != first {
		t.Fatalf("Compromise again: %+v, %v; want the first entry %+v", again, err, first)
	}
	if got := e.state(active.ID()); got != keys.Compromised {
		t.Errorf("key after the compromise: %s", got)
	}
	e.checkOneActive()
}

// TestCompromiseDuringRotations: compromises of the signing key race forced
// rotations; every call succeeds, and the keyring keeps one active and one
// next key per format.
func TestCompromiseDuringRotations(t *testing.T) {
	e := newLCEnv(t, keys.Policy{}, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			k, err := e.ring.Signer(ctx, keys.JWT)
			if err == nil {
				_, err = e.ring.Compromise(ctx, k.ID(), revocation.Options{})
			}
			if err != nil {
				errs <- fmt.Errorf("compromise: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.checkOneActive()
}

// TestYearOfRotations simulates a year of scheduled weekly rotations, with
// a token issued every three hours at lifetimes from three hours to three
// days, and a verifier fleet whose key set caches are up to three hours old
// (far beyond the 5-minute max-age), plus one compromise. Every token is
// verified when issued (fresh and stale caches), one step before it
// expires, and one step after: zero valid tokens may be rejected, zero
// expired or compromised ones accepted.
func TestYearOfRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	e := newLCEnv(t, keys.Policy{Period: 7 * 24 * time.Hour, MinPublished: 5*time.Minute + 30*time.Second}, true)
	ctx := context.Background()
	const step = 3 * time.Hour
	ttls := []time.Duration{step, 2 * step, 8 * step, 24 * step}
	type pending struct {
		tok  *issuer.Token
		want error // nil, ErrExpired or ErrRevoked
	}
	checks := map[int][]pending{} // step → tokens to check then
	const steps = 365 * 8
	const compromiseAt = 200 * 8
	rotations, compromisedKID := 0, ""
	stale := e.keySet()
	var compromisedTokens []*issuer.Token
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: e.list, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < steps; i++ {
		rots, err := e.ring.RotateDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rotations += len(rots)
		if i == compromiseAt {
			// Compromise the active JWT key: its tokens are revoked at once.
			k, err := e.ring.Signer(ctx, keys.JWT)
			if err != nil {
				t.Fatal(err)
			}
			compromisedKID = k.ID()
			if _, err := e.ring.Compromise(ctx, compromisedKID, revocation.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := snap.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		current := e.keySet()
		ttl := ttls[i%len(ttls)]
		tok := e.issue(ttl)
		if tok.KeyID == compromisedKID {
			t.Fatalf("step %d: issued with the compromised key", i)
		}
		for name, ks := range map[string]*verifier.KeySet{"current": current, "a step stale": stale} {
			if err := e.verify(ks, snap, tok.Token); err != nil {
				t.Fatalf("step %d: new token rejected by a verifier with a key set %s: %v", i, name, err)
			}
		}
		n := int(ttl / step)
		checks[i+n-1] = append(checks[i+n-1], pending{tok, nil})
		checks[i+n+1] = append(checks[i+n+1], pending{tok, verifier.ErrExpired})
		if i > compromiseAt-24 && i < compromiseAt {
			compromisedTokens = append(compromisedTokens, tok)
		}
		for _, p := range checks[i] {
			err := e.verify(current, snap, p.tok.Token)
			want := p.want
			if p.tok.KeyID == compromisedKID && want == nil {
				want = verifier.ErrUnknownKey // gone from the key set; the snapshot would say ErrRevoked
			}
			switch {
			case want == nil && err != nil:
				t.Fatalf("step %d: valid token of %s rejected: %v", i, p.tok.KeyID, err)
			case want != nil && err == nil:
				t.Fatalf("step %d: token of %s accepted, want %v", i, p.tok.KeyID, want)
			case want == verifier.ErrExpired && !errors.Is(err, verifier.ErrExpired) && !errors.Is(err, verifier.ErrUnknownKey):
				t.Fatalf("step %d: expired token: %v", i, err)
			}
		}
		delete(checks, i)
		if i == compromiseAt {
			// Verifiers with a stale key set that still lists the key reject
			// its tokens through the revocation snapshot.
			checked := 0
			for _, tok := range compromisedTokens {
				if tok.KeyID != compromisedKID || !tok.ExpiresAt.After(e.clock()) {
					continue
				}
				if err := e.verify(stale, snap, tok.Token); !errors.Is(err, verifier.ErrRevoked) {
					t.Fatalf("token of the compromised key with a stale key set: %v, want ErrRevoked", err)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no live token of the compromised key to check")
			}
		}
		if i%8 == 0 {
			e.checkOneActive()
		}
		stale = current
		e.advance(step)
	}
	// 52 weeks, both formats, minus the compromise's fresh start for JWT.
	if rotations < 100 {
		t.Errorf("%d scheduled rotations in a year, want about 104", rotations)
	}
	recs, _ := e.ring.List(ctx)
	removed := 0
	for _, r := range recs {
		if r.State == keys.Removed {
			removed++
		}
	}
	if removed < 95 {
		t.Errorf("%d keys removed after their tokens expired, want about 100", removed)
	}
	t.Logf("%d rotations, %d keys removed, %d tokens", rotations, removed, steps)
}

// TestKeySetWithinVerifierLimit: forced rotations fill a format's key set up
// to the most keys writ's verifier accepts, and no further: the rotation
// that would publish one more is refused, naming the limit, while the set
// still parses and the other format's set rotates on.
func TestKeySetWithinVerifierLimit(t *testing.T) {
	e := newLCEnv(t, keys.Policy{}, true)
	ctx := context.Background()
	var err error
	var rot, last *keys.Rotation
	rotations := 0
	for ; rotations <= verifier.MaxKeys; rotations++ {
		if rot, err = e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
			break
		}
		last = rot
	}
	if !errors.Is(err, keys.ErrTooManyKeys) || !strings.Contains(err.Error(), fmt.Sprint(verifier.MaxKeys)) {
		t.Fatalf("after %d forced rotations: %v, want ErrTooManyKeys naming %d", rotations, err, verifier.MaxKeys)
	}
	jwks, err := e.ring.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verifier.ParseJWKS(jwks)
	if err != nil {
		t.Fatalf("the full JWKS does not parse: %v", err)
	}
	if n := len(ks.Keys()); n != verifier.MaxKeys {
		t.Errorf("full JWKS holds %d keys, want %d", n, verifier.MaxKeys)
	}
	// The refused rotation changed nothing: the same key signs.
	e.checkOneActive()
	if tok := e.issue(time.Hour); last == nil || tok.KeyID != last.Activated {
		t.Errorf("after the refused rotation, %s signs, want %v", tok.KeyID, last)
	}
	if _, err := e.ring.Rotate(ctx, keys.PASETO, keys.RotateOptions{Force: true}); err != nil {
		t.Errorf("PASETO rotation with a full JWKS: %v", err)
	}
}

// Durations that would let a rotation through at once (a negative
// MinPublished) or overflow the sums of the lifecycle (a lag of centuries,
// recorded or written into the database) are refused or ignored.
func TestPolicyDurationsBounded(t *testing.T) {
	ctx := context.Background()
	e := newRingEnv(t)
	for name, p := range map[string]keys.Policy{
		"negative MinPublished": {MinPublished: -time.Hour},
		"negative Period":       {Period: -time.Hour},
		"Period of centuries":   {Period: 200 * 365 * 24 * time.Hour},
		"floor of centuries":    {PublishFloor: math.MaxInt64},
	} {
		if _, err := keys.OpenRing(ctx, keys.RingConfig{Store: e.db, MasterKey: e.mk, Policy: p}); err == nil {
			t.Errorf("%s: OpenRing accepted %+v", name, p)
		}
	}
	for _, d := range []time.Duration{-time.Second, math.MaxInt64} {
		if err := e.ring.RecordPublicationLag(ctx, d); err == nil {
			t.Errorf("RecordPublicationLag(%v) accepted", d)
		}
	}
	// A lag beyond the bound, written into the database without writ,
	// counts as none.
	e.ensure(t, verifier.EdDSA)
	century := int64(100 * 365 * 24 * 3600)
	if err := e.db.MetaPut(ctx, store.MetaPublicationLag, fmt.Appendf(nil, "%d:%d ", century, ringNow.Unix()+3600)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{}); !errors.Is(err, keys.ErrTooEarly) || !strings.Contains(err.Error(), "needs 16m0s") {
		t.Errorf("rotation with a lag of a century recorded: %v; want ErrTooEarly for the default floor of 16m", err)
	}
}
