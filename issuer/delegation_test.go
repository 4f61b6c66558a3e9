package issuer_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// verified returns the claims of tok as a verifier of audience sees them.
func (e *env) verified(t *testing.T, tok *issuer.Token, audience string) *verifier.Claims {
	t.Helper()
	ks, err := e.ring.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: testIssuer, Audience: audience, Keys: ks, Now: clock, UnsafeAnyClient: true,
		Algorithms: []verifier.Algorithm{verifier.EdDSA, verifier.V4Public}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// delegator issues alice a token that may issue, for two hours, bound to
// two networks, and returns its verified claims.
func (e *env) delegator(t *testing.T, ttl time.Duration) *verifier.Claims {
	t.Helper()
	tok := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{testAudience, "billing"}, TTL: ttl,
		Scopes:     []string{issuer.IssueScope, "orders/*:write", "repos/acme/**:read", "deploy"},
		AllowedIPs: prefixes("10.0.0.0/8", "2001:db8::/32")})
	return e.verified(t, tok, testAudience)
}

// TestDelegationRefusals: a delegated request that escapes its delegator's
// grants in any way is refused with ErrDelegation, naming the rule, and
// leaves no record.
func TestDelegationRefusals(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	d := e.delegator(t, 2*time.Hour)
	noIssue := e.verified(t, e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"orders/*:write"}}), testAudience)
	valid := func() issuer.Request {
		return issuer.Request{Subject: "alice", Audience: []string{"billing"}, Scopes: []string{"orders/42:read"},
			AllowedIPs: prefixes("10.1.0.0/16"), Delegator: d}
	}
	for _, tc := range []struct {
		name string
		mod  func(*issuer.Request)
		want string
	}{
		{"other subject", func(r *issuer.Request) { r.Subject = "bob" }, `subject "bob" is not the issuing token's subject "alice"`},
		{"wider resource", func(r *issuer.Request) { r.Scopes = []string{"orders/**:read"} }, `scope "orders/**:read" is not implied`},
		{"deeper resource", func(r *issuer.Request) { r.Scopes = []string{"orders/42/items:read"} }, `scope "orders/42/items:read" is not implied`},
		{"other resource", func(r *issuer.Request) { r.Scopes = []string{"users/*:read"} }, `scope "users/*:read" is not implied`},
		{"higher action", func(r *issuer.Request) { r.Scopes = []string{"orders/42:admin"} }, `scope "orders/42:admin" is not implied`},
		{"read to write", func(r *issuer.Request) { r.Scopes = []string{"repos/acme/api:write"} }, `scope "repos/acme/api:write" is not implied`},
		{"other action", func(r *issuer.Request) { r.Scopes = []string{"orders/42:delete"} }, `scope "orders/42:delete" is not implied`},
		{"other flat scope", func(r *issuer.Request) { r.Scopes = []string{"deploy", "admin"} }, `scope "admin" is not implied`},
		{"writ:issue", func(r *issuer.Request) { r.Scopes = []string{issuer.IssueScope} }, `scope "writ:issue" is writ's own`},
		{"writ:admin", func(r *issuer.Request) { r.Scopes = []string{"writ:admin"} }, `scope "writ:admin" is writ's own`},
		{"other audience", func(r *issuer.Request) { r.Audience = []string{"billing", "payroll"} }, `audience "payroll" is not one of`},
		{"longer lifetime", func(r *issuer.Request) { r.TTL = 2*time.Hour + time.Second }, `expiry 2026-03-01T14:00:01Z is after the issuing token's expiry 2026-03-01T14:00:00Z`},
		{"later expiry", func(r *issuer.Request) { r.Expires = testNow.Add(3 * time.Hour) }, `expiry 2026-03-01T15:00:00Z is after`},
		{"unbound", func(r *issuer.Request) { r.AllowedIPs = nil }, `the issuing token is bound to networks`},
		{"outside network", func(r *issuer.Request) { r.AllowedIPs = prefixes("10.1.0.0/16", "192.168.0.0/16") }, `network 192.168.0.0/16 is not within`},
		{"wider network", func(r *issuer.Request) { r.AllowedIPs = prefixes("10.0.0.0/7") }, `network 10.0.0.0/7 is not within`},
		// Written as IPv4-mapped IPv6, a network is read as the IPv4 one it is.
		{"mapped network", func(r *issuer.Request) { r.AllowedIPs = prefixes("::ffff:11.0.0.0/104") }, `network 11.0.0.0/8 is not within`},
		{"without writ:issue", func(r *issuer.Request) { r.Delegator = noIssue }, `the issuing token lacks the scope writ:issue`},
		{"forged claims", func(r *issuer.Request) {
			c := *d
			c.Scope += " users/**:admin"
			r.Delegator = &c
			r.Scopes = []string{"users/1:read"}
		},
			`the issuing token's claims are not those recorded for "` + d.ID + `"`},
		{"other issuer", func(r *issuer.Request) { c := *d; c.Issuer = "https://elsewhere.test"; r.Delegator = &c }, `the issuing token is not one of this issuer's`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := valid()
			tc.mod(&req)
			_, err := e.issuer.Issue(context.Background(), req)
			if !errors.Is(err, issuer.ErrDelegation) || !strings.Contains(err.Error(), "delegation: "+tc.want) {
				t.Errorf("Issue = %v, want delegation: %s", err, tc.want)
			}
		})
	}
	if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"parent": d.ID}); n != 0 {
		t.Errorf("%d children recorded", n)
	}
	if _, err := e.issuer.Issue(context.Background(), valid()); err != nil {
		t.Errorf("the valid request: %v", err)
	}
}

// TestDelegatedToken: a request within its delegator's grants is issued,
// in either format, records its parent and the delegation, and verifies.
func TestDelegatedToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	d := e.delegator(t, 2*time.Hour)
	for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
		tok := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{"billing"}, Format: f, TTL: 2 * time.Hour,
			Scopes:     []string{"orders/42:read", "orders/7:write", "repos/acme:read", "repos/acme/api/v2:read", "deploy"},
			AllowedIPs: prefixes("10.1.2.0/24", "2001:db8:1::/48"), Delegator: d, IssuedBy: "api:alice"})
		c := e.verified(t, tok, "billing")
		if c.Subject != "alice" || !c.HasScope("orders/7:write") || len(c.AllowedIPs) != 2 || !c.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
			t.Errorf("%s: claims %+v", f, c)
		}
		rec, err := e.issuer.Get(ctx, tok.ID)
		if err != nil || rec.Parent != d.ID {
			t.Errorf("%s: record %+v, %v; want parent %s", f, rec, err, d.ID)
		}
		events := sqlitetest.Count(t, e.db, "audit", sqlitetest.Where{"jti": tok.ID, "detail": "delegated by " + d.ID})
		if events != 1 {
			t.Errorf("%s: %d audit events saying who delegated", f, events)
		}
	}
}

// TestPASETODelegator: the claims of a PASETO token (times as RFC 3339,
// one audience) match its record as a JWT's do.
func TestPASETODelegator(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	d := e.verified(t, e.issue(t, issuer.Request{Subject: "alice", Format: keys.PASETO, Scopes: []string{issuer.IssueScope, "deploy"}}), testAudience)
	tok := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"deploy"}, Delegator: d})
	if rec, err := e.issuer.Get(context.Background(), tok.ID); err != nil || rec.Parent != d.ID {
		t.Errorf("record %+v, %v", rec, err)
	}
}

// TestDelegatedDefaultLifetime: the default lifetime is cut to end with a
// delegator that expires sooner; a lifetime asked for is not.
func TestDelegatedDefaultLifetime(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil) // default lifetime: an hour
	d := e.delegator(t, 30*time.Minute)
	tok := e.issue(t, issuer.Request{Subject: "alice", AllowedIPs: prefixes("10.0.0.0/8"), Delegator: d})
	if want := testNow.Add(30 * time.Minute); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expires %v, want the delegator's %v", tok.ExpiresAt, want)
	}
	if _, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: "alice", Audience: []string{testAudience},
		AllowedIPs: prefixes("10.0.0.0/8"), Delegator: d, TTL: time.Hour}); !errors.Is(err, issuer.ErrDelegation) {
		t.Errorf("an hour asked for, beyond the delegator: %v", err)
	}
	long := e.delegator(t, 5*time.Hour)
	tok = e.issue(t, issuer.Request{Subject: "alice", AllowedIPs: prefixes("10.0.0.0/8"), Delegator: long})
	if want := testNow.Add(issuer.DefaultTTL); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expires %v, want the default %v", tok.ExpiresAt, want)
	}
}

// TestDelegationParentRevoked: a child is never recorded once its parent
// is revoked, at once or later (a grace period), by its jti, subject or
// key; even when the revocation lands while the child is being signed,
// after its request was checked.
func TestDelegationParentRevoked(t *testing.T) {
	ctx := context.Background()
	child := func(d *verifier.Claims) issuer.Request {
		return issuer.Request{Subject: "alice", Audience: []string{testAudience}, AllowedIPs: prefixes("10.0.0.0/8"), Delegator: d}
	}
	// A second on: a subject revocation covers the tokens issued before.
	later := func() time.Time { return testNow.Add(time.Second) }
	for _, tc := range []struct {
		name   string
		revoke func(l *revocation.List, d *verifier.Claims) error
	}{
		{"token", func(l *revocation.List, d *verifier.Claims) error {
			_, err := l.RevokeToken(ctx, d.ID, revocation.Options{})
			return err
		}},
		{"token later", func(l *revocation.List, d *verifier.Claims) error {
			_, err := l.RevokeToken(ctx, d.ID, revocation.Options{Grace: time.Hour})
			return err
		}},
		{"subject", func(l *revocation.List, d *verifier.Claims) error {
			_, err := l.RevokeSubject(ctx, "alice", time.Time{}, revocation.Options{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, verifier.EdDSA, nil)
			l, err := revocation.NewList(revocation.Config{Store: e.db, Now: later})
			if err != nil {
				t.Fatal(err)
			}
			d := e.delegator(t, 2*time.Hour)
			if err := tc.revoke(l, d); err != nil {
				t.Fatal(err)
			}
			if _, err := e.issuer.Issue(ctx, child(d)); !errors.Is(err, issuer.ErrDelegation) || !strings.Contains(err.Error(), "is revoked") {
				t.Errorf("Issue under a revoked parent = %v", err)
			}

			// The revocation lands while the child is signed: Signer is
			// asked after the request was checked.
			e = newEnv(t, verifier.EdDSA, nil)
			if l, err = revocation.NewList(revocation.Config{Store: e.db, Now: later}); err != nil {
				t.Fatal(err)
			}
			d = e.delegator(t, 2*time.Hour)
			src := &revokeOnRead{ring: e.ring, revoke: func() error { return tc.revoke(l, d) }}
			iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: src, Store: e.db, Now: clock, UnsafeDatabaseNow: clock})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := iss.Issue(ctx, child(d)); !errors.Is(err, issuer.ErrDelegation) || !strings.Contains(err.Error(), "is revoked") {
				t.Errorf("Issue while the parent is revoked = %v", err)
			}
			if src.err != nil {
				t.Fatal(src.err)
			}
			if n := sqlitetest.Count(t, e.db, "tokens", sqlitetest.Where{"parent": d.ID}); n != 0 {
				t.Errorf("%d children recorded", n)
			}
		})
	}
}

// revokeOnRead runs revoke the first time the active key is read.
type revokeOnRead struct {
	ring   *keys.Ring
	revoke func() error
	once   sync.Once
	err    error
}

func (r *revokeOnRead) Signer(ctx context.Context, f keys.Format) (*keys.Key, error) {
	r.once.Do(func() { r.err = r.revoke() })
	return r.ring.Signer(ctx, f)
}

// TestParentRecordedOnlyIfKnown: a Parent that was never issued here is
// refused, with or without a Delegator.
func TestParentRecordedOnlyIfKnown(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	_, err := e.issuer.Issue(context.Background(), issuer.Request{Subject: "alice", Audience: []string{testAudience}, Parent: "nope"})
	if !errors.Is(err, issuer.ErrDelegation) || !strings.Contains(err.Error(), `"nope" was not issued here`) {
		t.Errorf("Issue = %v", err)
	}
}

// TestRegenerateChildEndsByParent: the replacement of a delegated token
// ends by its parent's expiry, however long the child lived, and a child
// whose parent has expired is not regenerated.
func TestRegenerateChildEndsByParent(t *testing.T) {
	ctx := context.Background()
	var elapsed atomic.Int64
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) {
		c.Now = func() time.Time { return testNow.Add(time.Duration(elapsed.Load())) }
	})
	d := e.delegator(t, 2*time.Hour)
	child := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{"billing"}, TTL: 90 * time.Minute,
		Scopes: []string{"deploy"}, AllowedIPs: prefixes("10.1.0.0/16"), Delegator: d})
	elapsed.Store(int64(time.Hour))
	repl, err := e.issuer.Regenerate(ctx, child.ID, revocation.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(2 * time.Hour); !repl.ExpiresAt.Equal(want) {
		t.Errorf("the replacement expires at %v, want the parent's expiry %v", repl.ExpiresAt, want)
	}
	elapsed.Store(int64(2 * time.Hour))
	if _, err := e.issuer.Regenerate(ctx, repl.ID, revocation.Options{Actor: "test"}); !errors.Is(err, issuer.ErrDelegation) || !strings.Contains(err.Error(), "has expired") {
		t.Errorf("regenerating a child of an expired parent: %v, want ErrDelegation", err)
	}
}

// TestRegenerateRevoked: a revoked token is not regenerated, which would
// hand its grants back; one whose revocation is only scheduled is.
func TestRegenerateRevoked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	tok := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{testAudience}, TTL: time.Hour})
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := list.RevokeToken(ctx, tok.ID, revocation.Options{Reason: "leaked", Actor: "test", Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	repl, err := e.issuer.Regenerate(ctx, tok.ID, revocation.Options{Actor: "test"})
	if err != nil {
		t.Fatalf("regenerating a token whose revocation is scheduled: %v", err)
	}
	if _, err := e.issuer.Regenerate(ctx, tok.ID, revocation.Options{Actor: "test"}); !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), "is revoked") {
		t.Errorf("regenerating a revoked token: %v, want ErrRequest saying it is revoked", err)
	}
	if _, err := e.issuer.Regenerate(ctx, repl.ID, revocation.Options{Actor: "test"}); err != nil {
		t.Errorf("regenerating the replacement: %v", err)
	}
}

// TestRegenerateRevokedAfterPrune: a revoked token stays revoked once its
// entry is pruned (writ serve prunes the entries of expired tokens every
// minute), so regenerating it is still refused.
func TestRegenerateRevokedAfterPrune(t *testing.T) {
	ctx := context.Background()
	var elapsed atomic.Int64
	now := func() time.Time { return testNow.Add(time.Duration(elapsed.Load())) }
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.Now = now })
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.issue(t, issuer.Request{Subject: "alice", Audience: []string{testAudience}, TTL: time.Minute, Scopes: []string{"orders:admin"}})
	if _, err := list.RevokeToken(ctx, tok.ID, revocation.Options{Reason: "leaked", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	elapsed.Store(int64(time.Hour))
	if n, err := list.Prune(ctx, "test"); err != nil || n == 0 {
		t.Fatalf("Prune = %d, %v; want the entry pruned", n, err)
	}
	if rec, err := e.issuer.Get(ctx, tok.ID); err != nil || rec.Status != issuer.StatusRevoked {
		t.Errorf("record once the entry is pruned: %+v, %v; want revoked", rec, err)
	}
	if _, err := e.issuer.Regenerate(ctx, tok.ID, revocation.Options{Actor: "test"}); !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), "is revoked") {
		t.Errorf("regenerating a revoked token whose entry was pruned: %v, want ErrRequest", err)
	}
}
