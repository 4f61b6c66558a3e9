package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// newClockedEnv returns an issuer and a revocation list on a clock that
// the test moves.
func newClockedEnv(t *testing.T) (*env, *revocation.List, *clocked) {
	now := &clocked{testNow}
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.Now = now.now })
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: now.now})
	if err != nil {
		t.Fatal(err)
	}
	return e, list, now
}

// clocked is a time that a test sets.
type clocked struct{ time.Time }

func (c *clocked) now() time.Time { return c.Time }

// TestUniqueNames: a name is unique among a subject's live tokens, but
// for the default name; revoked, expired and regenerated tokens free it.
func TestUniqueNames(t *testing.T) {
	ctx := context.Background()
	e, list, now := newClockedEnv(t)
	issue := func(subject, name string) (*issuer.Token, error) {
		return e.issuer.Issue(ctx, issuer.Request{Subject: subject, Name: name, Audience: []string{testAudience}})
	}
	first := e.issue(t, issuer.Request{Subject: "alice", Name: "ci"})
	_, err := issue("alice", "ci")
	if !errors.Is(err, issuer.ErrNameTaken) || errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), first.ID) {
		t.Fatalf("a second live token named ci: %v, want ErrNameTaken naming %s", err, first.ID)
	}
	for _, req := range [][2]string{{"bob", "ci"}, {"alice", "deploy"}, {"alice", ""}, {"alice", ""}, {"alice", "alice"}} {
		if _, err := issue(req[0], req[1]); err != nil {
			t.Errorf("Issue(%q, %q): %v", req[0], req[1], err)
		}
	}
	// Regenerated with a grace period: the replacement takes the name
	// while the old one lives on, and can be regenerated in turn.
	second, err := e.issuer.Regenerate(ctx, first.ID, revocation.Options{Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	third, err := e.issuer.Regenerate(ctx, second.ID, revocation.Options{Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issue("alice", "ci"); !errors.Is(err, issuer.ErrNameTaken) || !strings.Contains(err.Error(), third.ID) {
		t.Fatalf("the name of a regenerated token: %v, want ErrNameTaken naming %s", err, third.ID)
	}
	if _, err := list.RevokeToken(ctx, third.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	fourth, err := issue("alice", "ci")
	if err != nil {
		t.Fatalf("the name of a revoked token: %v", err)
	}
	now.Time = fourth.ExpiresAt
	if _, err := issue("alice", "ci"); err != nil {
		t.Fatalf("the name of an expired token: %v", err)
	}
}

// TestDescription: a description is plain text of at most 1024 bytes,
// recorded and never put in the token.
func TestDescription(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	desc := "deploys from CI — rotate monthly"
	tok := e.issue(t, issuer.Request{Subject: "svc", Description: desc})
	if rec, err := e.issuer.Get(ctx, tok.ID); err != nil || rec.Description != desc {
		t.Fatalf("Get: %+v, %v", rec, err)
	}
	if _, claims := jwtParts(t, tok.Token); claims["description"] != nil || strings.Contains(fmt.Sprint(claims), "deploys") {
		t.Errorf("the description is in the token: %v", claims)
	}
	for _, d := range []string{strings.Repeat("x", 1025), "two\nlines", "bidi \u202e"} {
		if _, err := e.issuer.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{testAudience}, Description: d}); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("description %q: %v, want ErrRequest", d, err)
		}
	}
	e.issue(t, issuer.Request{Subject: "svc", Description: strings.Repeat("x", 1024)})
}

// TestListPages: ListPage lists each token once, page by page, while
// tokens are issued; it selects by parent and by expiry.
func TestListPages(t *testing.T) {
	ctx := context.Background()
	now := testNow
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) { c.Now = func() time.Time { return now } })
	var want []string
	for n := range 23 {
		tok := e.issue(t, issuer.Request{Subject: "svc", TTL: time.Duration(n+1) * day})
		want = append([]string{tok.ID}, want...) // newest first
		if n%5 == 0 {
			now = now.Add(time.Second)
		}
	}
	var got []string
	meanwhile := 0
	f := issuer.Filter{Subject: "svc", Limit: 5}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p, err := e.issuer.ListPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			got = append(got, r.ID)
		}
		if (p.Next == "") != (len(got) == len(want)) {
			t.Fatalf("page %d: next %q after %d of %d", pages, p.Next, len(got), len(want))
		}
		if p.Next == "" {
			break
		}
		f.After = p.Next
		e.issue(t, issuer.Request{Subject: "svc"}) // newer: never on a later page
		meanwhile++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %v\nwant    %v", got, want)
	}
	for _, c := range []string{"x", "1.", ".1", "0.5", "1.-1", strings.Repeat("9", 41), "1.2.3"} {
		if _, err := e.issuer.ListPage(ctx, issuer.Filter{After: c}); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("cursor %q: %v, want ErrRequest", c, err)
		}
	}

	// Expiring within 3 days: the tokens of 1, 2 and 3 days, and not
	// once they expired or were revoked.
	recs, err := e.issuer.List(ctx, issuer.Filter{Subject: "svc", ExpiringWithin: 3 * day})
	if err != nil || len(recs) != 3+meanwhile { // and those of an hour issued while paging
		t.Fatalf("expiring within 3 days: %d records, %v", len(recs), err)
	}
	if _, err := e.issuer.List(ctx, issuer.Filter{ExpiringWithin: day, Status: issuer.StatusRevoked}); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("expiring and revoked: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if recs, err := e.issuer.List(ctx, issuer.Filter{Subject: "svc", ExpiringWithin: 2*day - time.Hour}); err != nil || len(recs) != 2 {
		t.Fatalf("expiring within 2 days, later: %d records, %v", len(recs), err)
	}

	// Children: the tokens whose parent is a jti.
	parent := e.issue(t, issuer.Request{Subject: "svc", Name: "parent"})
	child := e.issue(t, issuer.Request{Subject: "svc", Name: "child", Parent: parent.ID})
	if recs, err := e.issuer.List(ctx, issuer.Filter{Parent: parent.ID}); err != nil || len(recs) != 1 || recs[0].ID != child.ID || recs[0].Parent != parent.ID {
		t.Fatalf("children: %+v, %v", recs, err)
	}
}

// TestShow: Show tells why a token is revoked (its own entry, scheduled
// or not, its subject's or its key's) and lists its children.
func TestShow(t *testing.T) {
	ctx := context.Background()
	e, list, now := newClockedEnv(t)
	parent := e.issue(t, issuer.Request{Subject: "alice", Name: "parent", Description: "the parent"})
	child := e.issue(t, issuer.Request{Subject: "alice", Name: "child", Parent: parent.ID})
	d, err := e.issuer.Show(ctx, parent.ID)
	if err != nil || d.Status != issuer.StatusActive || d.Revocation != nil || d.Description != "the parent" || len(d.Children) != 1 || d.Children[0].ID != child.ID {
		t.Fatalf("Show of an active parent: %+v, %v", d, err)
	}
	if d, err := e.issuer.Show(ctx, child.ID); err != nil || d.Parent != parent.ID || d.Children == nil || len(d.Children) != 0 {
		t.Fatalf("Show of a child: %+v, %v", d, err)
	}
	if _, err := list.RevokeToken(ctx, parent.ID, revocation.Options{Reason: "leaked", Actor: "bob", Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	d, err = e.issuer.Show(ctx, parent.ID)
	if err != nil || d.Status != issuer.StatusActive || d.Revocation == nil || !d.Revocation.Scheduled || d.Revocation.By != "token" ||
		d.Revocation.Reason != "leaked" || d.Revocation.Actor != "bob" || !d.Revocation.EffectiveAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Show with a revocation scheduled: %+v, %+v, %v", d, d.Revocation, err)
	}
	now.Time = now.Add(time.Minute)
	if _, err := list.RevokeSubject(ctx, "alice", time.Time{}, revocation.Options{Reason: "offboarded", Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	d, err = e.issuer.Show(ctx, parent.ID)
	if err != nil || d.Status != issuer.StatusRevoked || d.Revocation == nil || d.Revocation.Scheduled || d.Revocation.By != "subject" || d.Revocation.Reason != "offboarded" {
		t.Fatalf("Show once its subject is revoked: %+v, %+v, %v", d, d.Revocation, err)
	}
	now.Time = now.Add(time.Hour)
	if d, err = e.issuer.Show(ctx, parent.ID); err != nil || d.Revocation == nil || d.Revocation.By != "token" || d.Revocation.Scheduled {
		t.Fatalf("Show once the scheduled revocation took effect: %+v, %v", d, err)
	}
	if _, err := e.issuer.Show(ctx, "nope"); !errors.Is(err, issuer.ErrUnknownToken) {
		t.Errorf("Show of an unknown token: %v", err)
	}
}

// TestUniqueNamesConcurrent: issuances of one name at once, which the
// group commit records in shared transactions: one wins.
func TestUniqueNamesConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	e.issue(t, issuer.Request{Subject: "warm-up"}) // the signing key cached
	const n = 64
	errs := make(chan error, n+1)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "svc", Name: "deploy", Audience: []string{testAudience}})
			errs <- err
		}()
	}
	// Hold the write lock while an issuance of another name leads the
	// group commit and waits for it, and these queue behind it: the next
	// transaction then records them together.
	hold, err := e.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "other", Name: "leader", Audience: []string{testAudience}})
		errs <- err
	}()
	time.Sleep(100 * time.Millisecond)
	close(start)
	time.Sleep(200 * time.Millisecond)
	hold.Rollback()
	won := 0
	for range n + 1 {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, issuer.ErrNameTaken):
			t.Errorf("a loser's error: %v", err)
		}
	}
	if won != 2 {
		t.Errorf("%d issuances of one name won, want 1 (and the leader)", won-1)
	}
}

// TestRegenerateKeepsConstraints: the replacement keeps the description,
// the networks and the parent of the token it replaces.
func TestRegenerateKeepsConstraints(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	parent := e.issue(t, issuer.Request{Subject: "svc", Name: "parent"})
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	old := e.issue(t, issuer.Request{Subject: "svc", Name: "ci", Description: "CI", AllowedIPs: nets, Parent: parent.ID})
	repl, err := e.issuer.Regenerate(ctx, old.ID, revocation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.issuer.Get(ctx, repl.ID)
	if err != nil || rec.Description != "CI" || fmt.Sprint(rec.AllowedIPs) != fmt.Sprint(nets) || rec.Parent != parent.ID || rec.Name != "ci" {
		t.Fatalf("the replacement: %+v, %v", rec, err)
	}
	if _, claims := jwtParts(t, repl.Token); fmt.Sprint(claims["allowed_ips"]) != "[10.0.0.0/8 2001:db8::/32]" {
		t.Errorf("the replacement's allowed_ips claim: %v", claims["allowed_ips"])
	}
}

// TestUnstorableText: a jti, subject or name that no stored text can equal
// (invalid UTF-8, NUL) is an unknown token or a bad request, whichever the
// lookup, and never reaches the engine (PostgreSQL refuses such text even
// in a query).
func TestUnstorableText(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	for _, bad := range []string{"\xff", "a\x00b"} {
		if _, err := e.issuer.Get(ctx, bad); !errors.Is(err, issuer.ErrUnknownToken) {
			t.Errorf("Get(%+q): %v, want ErrUnknownToken", bad, err)
		}
		if _, err := e.issuer.Show(ctx, bad); !errors.Is(err, issuer.ErrUnknownToken) {
			t.Errorf("Show(%+q): %v, want ErrUnknownToken", bad, err)
		}
		for _, f := range []issuer.Filter{{Subject: bad}, {Name: bad}, {Search: bad}, {Parent: bad}} {
			if _, err := e.issuer.ListPage(ctx, f); !errors.Is(err, issuer.ErrRequest) {
				t.Errorf("ListPage(%+v): %v, want ErrRequest", f, err)
			}
		}
	}
}
