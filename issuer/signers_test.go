package issuer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// countingSigner counts the reads of the active key.
type countingSigner struct {
	ring  *keys.Ring
	reads atomic.Int64
}

func (c *countingSigner) Signer(ctx context.Context, f keys.Format) (*keys.Key, error) {
	c.reads.Add(1)
	return c.ring.Signer(ctx, f)
}

// TestIssueCachesSigner: the active key is read once for the issuances of
// a second, not once per token.
func TestIssueCachesSigner(t *testing.T) {
	now := testNow
	src := &countingSigner{}
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) {
		c.Now = func() time.Time { return now }
		c.Keys = src
	})
	src.ring = e.ring
	for range 5 {
		e.issue(t, issuer.Request{Subject: "s"})
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("5 issuances within a second read the active key %d times, want 1", n)
	}
	now = now.Add(time.Second)
	e.issue(t, issuer.Request{Subject: "s"})
	if n := src.reads.Load(); n != 2 {
		t.Errorf("an issuance a second later read the active key %d times in all, want 2", n)
	}
}

// TestIssueAfterRotationSignsWithNewKey: a rotation made behind the
// issuer's back (by another process, or the keyring directly) is never
// missed because of the cached key, however little time has passed.
func TestIssueAfterRotationSignsWithNewKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	before := e.issue(t, issuer.Request{Subject: "s"})
	rot, err := e.ring.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Retired != before.KeyID {
		t.Fatalf("rotation retired %s, the token's key is %s", rot.Retired, before.KeyID)
	}
	for range 2 {
		after := e.issue(t, issuer.Request{Subject: "s"})
		if after.KeyID != rot.Activated {
			t.Errorf("token issued after the rotation signed by %s, want the new active key %s", after.KeyID, rot.Activated)
		}
	}
	if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"kid": before.KeyID}); n != 1 {
		t.Errorf("%d records under the retired key, want the 1 from before the rotation", n)
	}
}

// TestIssueAfterCompromiseSignsWithNewKey: a cached key compromised since
// signs nothing more, and the issuance succeeds with the key active now.
func TestIssueAfterCompromiseSignsWithNewKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	before := e.issue(t, issuer.Request{Subject: "s"})
	if _, err := e.ring.Compromise(ctx, before.KeyID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	after := e.issue(t, issuer.Request{Subject: "s"})
	if after.KeyID == before.KeyID {
		t.Fatalf("token signed by the compromised key %s", before.KeyID)
	}
	if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"kid": before.KeyID}); n != 1 {
		t.Errorf("%d records under the compromised key, want the 1 from before", n)
	}
}

// TestIssueForCallerGone: a caller whose context has ended gets no token,
// and none is recorded, even with the signing key at hand in the cache.
func TestIssueForCallerGone(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	e.issue(t, issuer.Request{Subject: "s"}) // the key is now cached
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if tok, err := e.issuer.Issue(ctx, issuer.Request{Subject: "gone", Audience: []string{testAudience}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Issue for a caller gone = %v, %v; want context.Canceled", tok, err)
	}
	if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"subject": "gone"}); n != 0 {
		t.Errorf("%d records for a caller gone", n)
	}
}
