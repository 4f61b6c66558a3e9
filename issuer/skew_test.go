package issuer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// TestLedgerRefusesClockSkew: the ledger records a token whose iat is at
// most MaxClockSkew behind the database's clock, or ahead of it, and
// refuses one further behind with ErrClockSkew, naming the skew and this
// host's clock: the token is neither recorded nor returned, by Issue as
// by Regenerate, whose old token stays as it was.
func TestLedgerRefusesClockSkew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		behind  time.Duration // the issuer's clock, behind the database's
		refused bool
	}{
		{"same clock", 0, false},
		{"ahead", -time.Hour, false},
		{"at the bound", issuer.MaxClockSkew, false},
		{"past the bound", issuer.MaxClockSkew + time.Second, true},
		{"three minutes", 3 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dbNow := func() time.Time { return testNow.Add(tc.behind) }
			e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.UnsafeDatabaseNow = dbNow })
			tokens := sqlitetest.Count(t, e.db, "tokens", nil)
			tok, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}})
			if !tc.refused {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.issuer.Get(ctx, tok.ID); err != nil {
					t.Errorf("the token is not recorded: %v", err)
				}
				return
			}
			checkSkewRefusal(t, tok, err, tc.behind)
			if n := sqlitetest.Count(t, e.db, "tokens", nil); n != tokens {
				t.Errorf("%d refused tokens recorded", n-tokens)
			}

			// Regenerate, of a token recorded on the database's clock.
			onTime, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: e.ring, Store: e.db, Now: dbNow, UnsafeDatabaseNow: dbNow})
			if err != nil {
				t.Fatal(err)
			}
			old, err := onTime.Issue(ctx, issuer.Request{Subject: "bob", Audience: []string{testAudience}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err = e.issuer.Regenerate(ctx, old.ID, revocation.Options{})
			checkSkewRefusal(t, tok, err, tc.behind)
			if rec, err := e.issuer.Get(ctx, old.ID); err != nil || rec.Status != issuer.StatusActive {
				t.Errorf("the old token after a refused regeneration: %+v, %v", rec, err)
			}
		})
	}
}

func checkSkewRefusal(t *testing.T, tok *issuer.Token, err error, behind time.Duration) {
	t.Helper()
	if tok != nil || !errors.Is(err, issuer.ErrClockSkew) {
		t.Fatalf("got %v, %v; want no token and ErrClockSkew", tok, err)
	}
	if msg := err.Error(); !strings.Contains(msg, behind.String()+" behind the database's clock") || !strings.Contains(msg, "check this host's clock") {
		t.Errorf("message %q does not name the skew (%v) and this host's clock", msg, behind)
	}
}
