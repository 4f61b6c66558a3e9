package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
)

// TestSnapshotClockSkew: hosts whose clocks disagree issue tokens while a
// snapshot reads the ledger, on each engine, on the database's real clock.
// An issuer whose clock runs behind the builder's would record tokens
// issued before the snapshot's universe ends yet outside the tokens its
// filter was built from, which the filter answers for at random: the
// ledger refuses them (ErrClockSkew, naming this host's clock), and the
// snapshot takes its universe from the database's clock, not from its
// builder's. Every recorded token then reads as the list says, before and
// after the deltas that follow; tokens issued on the database's clock
// during the build are recorded as ever.
func TestSnapshotClockSkew(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, tc := range []struct {
			name                string
			issuerSkew, builder time.Duration // of the clocks, from the database's
			refused             bool
		}{
			{"issuer behind", -3 * time.Minute, 0, true},
			{"builder ahead", 0, 3 * time.Minute, false},
		} {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				testSnapshotClockSkew(t, engine, tc.issuerSkew, tc.builder, tc.refused)
			})
		}
	}
}

func testSnapshotClockSkew(t *testing.T, engine string, issuerSkew, builderSkew time.Duration, refused bool) {
	ctx := context.Background()
	_, db := createDatabase(t, engine)
	defer db.Close()
	ring := newRing(t, db)
	newIssuer := func(now, dbNow func() time.Time) *issuer.Issuer {
		iss, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: ring, Store: db, Now: now, UnsafeDatabaseNow: dbNow})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	skewed := func(d time.Duration) func() time.Time {
		return func() time.Time { return time.Now().Add(d) }
	}
	issue := func(iss *issuer.Issuer, subject string) (*issuer.Token, error) {
		return iss.Issue(ctx, issuer.Request{Subject: subject, Audience: []string{"api"}, TTL: time.Hour})
	}
	list, err := revocation.NewList(revocation.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}

	// 400 tokens issued, and recorded, ten minutes ago, when the database's
	// clock said so: well inside the universe. Half of them revoked now.
	// Concurrently, in group commits.
	past := newIssuer(skewed(-10*time.Minute), skewed(-10*time.Minute))
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := range 20 {
				tok, err := issue(past, fmt.Sprintf("user%d", w))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// While the snapshot reads the ledger: 60 tokens from the skewed
	// issuer, 5 from one on the database's clock.
	skewedIssuer, onTime := newIssuer(skewed(issuerSkew), nil), newIssuer(nil, nil)
	var during []string
	var skewErrs []error
	builder, err := revocation.NewList(revocation.Config{Store: racingStore{db, func() {
		for range 60 {
			tok, err := issue(skewedIssuer, "skewed")
			if err != nil {
				skewErrs = append(skewErrs, err)
				continue
			}
			during = append(during, tok.ID)
		}
		for range 5 {
			tok, err := issue(onTime, "ontime")
			if err != nil {
				t.Error(err)
				continue
			}
			during = append(during, tok.ID)
		}
	}}, Now: skewed(builderSkew)})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	snap, err := builder.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	margin := int64(revocation.UniverseMargin / time.Second)
	if snap.Universe < before-margin || snap.Universe > after-margin {
		t.Errorf("universe %d, want the database's clock at the read less %ds, in [%d, %d]", snap.Universe, margin, before-margin, after-margin)
	}

	view := newEdgeView(snap)
	now := time.Now()
	if r, v := checkLedger(t, db, list, now, view); r != 200 || v != 200+len(during) {
		t.Errorf("%d revoked and %d valid tokens checked, want 200 and %d", r, v, 200+len(during))
	}
	if refused {
		if len(skewErrs) != 60 {
			t.Fatalf("%d of the skewed issuer's 60 tokens refused", len(skewErrs))
		}
		for _, err := range skewErrs {
			if !errors.Is(err, issuer.ErrClockSkew) || !strings.Contains(err.Error(), "check this host's clock") {
				t.Fatalf("a skewed issuance: %v, want ErrClockSkew naming this host's clock", err)
			}
		}
		if known, err := db.TokenSubjectKnown(ctx, "skewed"); err != nil || known {
			t.Errorf("a refused token was recorded (%v)", err)
		}
	} else if len(skewErrs) != 0 {
		t.Fatalf("issuances on the database's clock refused: %v", skewErrs[0])
	}

	// The tokens issued during the build, revoked in a delta.
	for _, jti := range during {
		if _, err := list.RevokeToken(ctx, jti, revocation.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	delta, err := list.Changes(ctx, snap.Seq)
	if err != nil {
		t.Fatal(err)
	}
	view.add(delta)
	if r, _ := checkLedger(t, db, list, time.Now(), view); r != 200+len(during) {
		t.Errorf("%d tokens revoked, want %d", r, 200+len(during))
	}
}

// TestLedgerChecksTheDatabaseClock: without a stand-in for the database's
// clock, the ledger reads the engine's own (store.Executor.Now): an issuer
// on it records tokens, one behind it by more than issuer.MaxClockSkew
// does not, and one ahead of it does (verifiers judge a future iat).
func TestLedgerChecksTheDatabaseClock(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			_, db := createDatabase(t, engine)
			defer db.Close()
			ring := newRing(t, db)
			for _, tc := range []struct {
				skew    time.Duration
				refused bool
			}{
				{0, false},
				{-time.Hour, true},
				{-2 * issuer.MaxClockSkew, true},
				{time.Minute, false},
			} {
				iss, err := issuer.New(issuer.Config{Issuer: "https://issuer.test", Keys: ring, Store: db,
					Now: func() time.Time { return time.Now().Add(tc.skew) }})
				if err != nil {
					t.Fatal(err)
				}
				tok, err := iss.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"api"}, TTL: 2 * time.Hour})
				switch {
				case tc.refused && !errors.Is(err, issuer.ErrClockSkew):
					t.Errorf("clock %v off: %v, want ErrClockSkew", tc.skew, err)
				case tc.refused && tok != nil:
					t.Errorf("clock %v off: a refused token was returned", tc.skew)
				case !tc.refused && err != nil:
					t.Errorf("clock %v off: %v", tc.skew, err)
				case !tc.refused:
					if _, err := db.TokenGet(ctx, tok.ID); err != nil {
						t.Errorf("clock %v off: the token is not recorded: %v", tc.skew, err)
					}
				}
			}
		})
	}
}
