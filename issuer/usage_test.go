package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// usageEnv is an env whose issuer's clock is *now, which the test moves.
func usageEnv(t testing.TB, mod func(*issuer.Config)) (*env, *time.Time) {
	now := new(time.Time)
	*now = testNow
	e := newEnv(t, verifier.EdDSA, func(c *issuer.Config) {
		c.Now = func() time.Time { return *now }
		if mod != nil {
			mod(c)
		}
	})
	return e, now
}

func use(jti string, at time.Time, client, outcome string) issuer.Use {
	u := issuer.Use{JTI: jti, At: at, Outcome: outcome}
	if client != "" {
		u.Client = netip.MustParseAddr(client)
	}
	return u
}

// events returns the actions and details of the audit events of jti.
func events(t *testing.T, e *env, jti string) []string {
	t.Helper()
	log, err := audit.NewLog(e.db)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := log.List(context.Background(), audit.Filter{JTI: jti})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "token.used.") {
			out = append(out, ev.Action+" "+ev.Actor+": "+ev.Detail)
		}
	}
	return out
}

// TestRecordUsage: what a batch adds to a token's summary, what it
// ignores, and how Show, Get and List tell it.
func TestRecordUsage(t *testing.T) {
	ctx := context.Background()
	e, now := usageEnv(t, nil)
	a := e.issue(t, issuer.Request{Subject: "alice"})
	b := e.issue(t, issuer.Request{Subject: "bob"})
	*now = testNow.Add(2 * time.Hour)
	h := func(m int) time.Time { return testNow.Add(time.Hour + time.Duration(m)*time.Minute) }
	rep, err := e.issuer.RecordUsage(ctx, []issuer.Use{
		use(a.ID, h(0), "192.0.2.1", "accepted"),
		use(a.ID, h(1), "::ffff:192.0.2.9", "accepted"), // mapped: the same /24
		use(a.ID, h(2), "192.0.2.1", "audience"),
		use(a.ID, h(3), "192.0.2.1", "permission"),   // a refusal, not another use
		use(a.ID, h(4), "2001:db8:1::5", "accepted"), // a new network
		use(a.ID, h(5), "", "accepted"),
		use("never-issued", h(0), "192.0.2.1", "accepted"),
		use("never-issued-either", h(0), "192.0.2.1", "revoked"),
		use(a.ID, h(0), "203.0.113.1", "unverifiable"),
		use(a.ID, now.Add(2*time.Minute), "192.0.2.1", "accepted"),      // beyond the skew
		use(a.ID, testNow.Add(-time.Hour), "192.0.2.1", "accepted"),     // before its issuance
		use(a.ID, now.Add(30*time.Second), "2001:db8:1::5", "accepted"), // counts as now
		use(a.ID, testNow.Add(-10*time.Second), "192.0.2.1", "expired"), // within the leeway: at issuance
	}, "api:verifier (v1)")
	if err != nil {
		t.Fatal(err)
	}
	want := issuer.UsageReport{Recorded: 8, UnknownTokens: 2, Unverifiable: 1, OutOfRange: 2, NewNetworks: 1}
	if rep != want || rep.Ignored() != 5 {
		t.Errorf("RecordUsage = %+v, want %+v", rep, want)
	}
	d, err := e.issuer.Show(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantUsage := &issuer.Usage{
		FirstUse: testNow, LastUse: *now, LastClient: netip.MustParseAddr("2001:db8:1::5"), Uses: 5,
		Refusals: map[string]int64{"audience": 1, "permission": 1, "expired": 1},
		Days:     []issuer.UsageDay{{Date: "2026-03-01", Uses: 5, Refused: 3}},
		Clients: []issuer.UsageClient{
			{IP: netip.MustParseAddr("2001:db8:1::5"), First: h(4), Last: *now, Uses: 2},
			{IP: netip.MustParseAddr("192.0.2.1"), First: testNow, Last: h(2), Uses: 3},
			{IP: netip.MustParseAddr("192.0.2.9"), First: h(1), Last: h(1), Uses: 1},
		},
	}
	if !reflect.DeepEqual(d.Usage, wantUsage) {
		t.Errorf("Show(a).Usage = %+v\nwant %+v", d.Usage, wantUsage)
	}
	if got, want := events(t, e, a.ID), []string{"token.used.new_network api:verifier (v1): network 2001:db8:1::/48: client 2001:db8:1::5 at 2026-03-01T13:04:00Z, accepted"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if d, err := e.issuer.Show(ctx, b.ID); err != nil || d.Usage != nil {
		t.Errorf("Show(b).Usage = %+v, %v; want none", d.Usage, err)
	}
	if r, err := e.issuer.Get(ctx, a.ID); err != nil || !r.LastUsed.Equal(*now) {
		t.Errorf("Get(a).LastUsed = %v, %v; want %v", r.LastUsed, err, *now)
	}

	c := e.issue(t, issuer.Request{Subject: "carol"}) // newer, never used
	for _, tc := range []struct {
		f    issuer.Filter
		want []string
	}{
		{issuer.Filter{}, []string{c.ID, b.ID, a.ID}},
		{issuer.Filter{Sort: issuer.SortLastUsed}, []string{a.ID, c.ID, b.ID}},
		{issuer.Filter{NeverUsed: true}, []string{c.ID, b.ID}},
		{issuer.Filter{NeverUsed: true, Subject: "bob"}, []string{b.ID}},
	} {
		recs, err := e.issuer.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
	}
	// By last use, page by page.
	var ids []string
	f := issuer.Filter{Sort: issuer.SortLastUsed, Limit: 1}
	for range 5 {
		p, err := e.issuer.ListPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		if f.After = p.Next; f.After == "" {
			break
		}
	}
	if want := []string{a.ID, c.ID, b.ID}; !reflect.DeepEqual(ids, want) {
		t.Errorf("pages by last use = %v, want %v", ids, want)
	}
	// A cursor of one order is refused in the other.
	p, err := e.issuer.ListPage(ctx, issuer.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.issuer.ListPage(ctx, issuer.Filter{Sort: issuer.SortLastUsed, After: p.Next}); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("a cursor by issuance, by last use: %v, want ErrRequest", err)
	}
	for _, s := range []issuer.Sort{"newest", "issued"} {
		if _, err := e.issuer.List(ctx, issuer.Filter{Sort: s}); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("Sort %q: %v, want ErrRequest", s, err)
		}
	}
}

// TestRecordUsageAfterRevocation: uses after the revocation took effect,
// or refused as revoked, raise an event at most once an hour per token.
func TestRecordUsageAfterRevocation(t *testing.T) {
	ctx := context.Background()
	e, now := usageEnv(t, nil)
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	a := e.issue(t, issuer.Request{Subject: "alice"})
	at := func(m int) time.Time { return testNow.Add(time.Duration(m) * time.Minute) }
	*now = at(10)
	if _, err := list.RevokeToken(ctx, a.ID, revocation.Options{Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name      string
		now       int
		uses      []issuer.Use
		after, ev int
	}{
		{"before the revocation", 11, []issuer.Use{use(a.ID, at(5), "192.0.2.1", "accepted")}, 0, 0},
		{"after", 20, []issuer.Use{use(a.ID, at(15), "192.0.2.1", "accepted"), use(a.ID, at(16), "192.0.2.1", "revoked")}, 2, 1},
		{"within the hour", 50, []issuer.Use{use(a.ID, at(45), "192.0.2.1", "revoked")}, 1, 0},
		{"an hour on", 80, []issuer.Use{use(a.ID, at(79), "198.51.100.4", "revoked")}, 1, 1},
	} {
		*now = at(step.now)
		rep, err := e.issuer.RecordUsage(ctx, step.uses, "api:verifier (v1)")
		if err != nil {
			t.Fatal(err)
		}
		if rep.AfterRevocation != step.after || rep.Alerts != step.ev {
			t.Errorf("%s: %+v, want %d after revocation and %d events", step.name, rep, step.after, step.ev)
		}
	}
	got := events(t, e, a.ID)
	want := []string{
		"token.used.after_revocation api:verifier (v1): presented at 2026-03-01T12:16:00Z from 192.0.2.1, outcome revoked",
		"token.used.new_network api:verifier (v1): network 198.51.100.0/24: client 198.51.100.4 at 2026-03-01T13:19:00Z, revoked",
		"token.used.after_revocation api:verifier (v1): presented at 2026-03-01T13:19:00Z from 198.51.100.4, outcome revoked",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
}

// TestRecordUsageBounds: hostile batches stay within the summary's
// bounds, and malformed ones record nothing.
func TestRecordUsageBounds(t *testing.T) {
	ctx := context.Background()
	e, now := usageEnv(t, nil)
	a := e.issue(t, issuer.Request{Subject: "alice"})
	*now = testNow.Add(time.Hour)
	at := testNow.Add(time.Minute)
	for _, tc := range []struct {
		name  string
		uses  func(n int) issuer.Use
		check func(t *testing.T, rep issuer.UsageReport, u *issuer.Usage)
	}{
		{"distinct addresses", func(n int) issuer.Use {
			return use(a.ID, at, fmt.Sprintf("10.%d.%d.1", n/256, n%256), "accepted")
		}, func(t *testing.T, rep issuer.UsageReport, u *issuer.Usage) {
			if len(u.Clients) != issuer.MaxUsageClients || u.ClientsOverflow != 10000-issuer.MaxUsageClients || u.Uses != 10000 {
				t.Errorf("%d clients, %d overflow, %d uses", len(u.Clients), u.ClientsOverflow, u.Uses)
			}
			if rep.NewNetworks != issuer.MaxUsageNetworks-1 || len(events(t, e, a.ID)) != issuer.MaxUsageNetworks-1 {
				t.Errorf("%d new networks, %d events; want %d", rep.NewNetworks, len(events(t, e, a.ID)), issuer.MaxUsageNetworks-1)
			}
		}},
		{"distinct reasons", func(n int) issuer.Use {
			return use(a.ID, at, "10.0.0.1", fmt.Sprintf("r%d", n))
		}, func(t *testing.T, rep issuer.UsageReport, u *issuer.Usage) {
			if len(u.Refusals) != issuer.MaxUsageReasons+1 || u.Refusals["other"] != 10000-issuer.MaxUsageReasons {
				t.Errorf("%d reasons, %d other", len(u.Refusals), u.Refusals["other"])
			}
		}},
		{"unknown tokens", func(n int) issuer.Use {
			return use(fmt.Sprint("fake-", n), at, "10.0.0.1", "accepted")
		}, func(t *testing.T, rep issuer.UsageReport, u *issuer.Usage) {
			if rep.UnknownTokens != 10000 || rep.Recorded != 0 {
				t.Errorf("%+v", rep)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uses := make([]issuer.Use, 10000)
			for n := range uses {
				uses[n] = tc.uses(n)
			}
			rep, err := e.issuer.RecordUsage(ctx, uses, "api:v")
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.issuer.Show(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, rep, d.Usage)
		})
	}
	n := 0
	if err := e.db.UsageEach(ctx, func(*store.Usage) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("%d summaries, %v; want a's alone", n, err)
	}

	for name, uses := range map[string][]issuer.Use{
		"too many":      make([]issuer.Use, issuer.MaxRecordUses+1),
		"empty jti":     {use("", at, "", "accepted")},
		"long jti":      {use(strings.Repeat("j", 129), at, "", "accepted")},
		"outcome":       {use(a.ID, at, "", "Accepted")},
		"empty outcome": {use(a.ID, at, "", "")},
	} {
		if _, err := e.issuer.RecordUsage(ctx, uses, "api:v"); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("%s: %v, want ErrRequest", name, err)
		}
	}
	if _, err := e.issuer.RecordUsage(ctx, nil, "line\nbreak"); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("a reporter that is not plain text: %v, want ErrRequest", err)
	}
}

// TestPruneUsage: days older than the retention go; the summary of a
// token expired longer ago goes whole; the tokens stay.
func TestPruneUsage(t *testing.T) {
	ctx := context.Background()
	e, now := usageEnv(t, func(c *issuer.Config) { c.MaxTTL = 400 * 24 * time.Hour })
	day := 24 * time.Hour
	long := e.issue(t, issuer.Request{Subject: "alice", TTL: 300 * day})
	short := e.issue(t, issuer.Request{Subject: "bob", TTL: day})
	*now = testNow.Add(time.Hour)
	if _, err := e.issuer.RecordUsage(ctx, []issuer.Use{use(long.ID, *now, "", "accepted"), use(short.ID, *now, "", "accepted")}, "api:v"); err != nil {
		t.Fatal(err)
	}
	*now = testNow.Add(80 * day)
	if _, err := e.issuer.RecordUsage(ctx, []issuer.Use{use(long.ID, *now, "", "accepted")}, "api:v"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.issuer.PruneUsage(ctx); err != nil || n != 0 {
		t.Errorf("a prune with nothing to prune: %d, %v", n, err)
	}
	*now = testNow.Add(92 * day)
	n, err := e.issuer.PruneUsage(ctx)
	if err != nil || n != 3 { // long's first day; short's day and summary
		t.Errorf("PruneUsage = %d, %v", n, err)
	}
	d, err := e.issuer.Show(ctx, short.ID)
	if err != nil || d.Usage != nil {
		t.Errorf("Show(short) = %+v, %v; want it, without usage", d, err)
	}
	d, err = e.issuer.Show(ctx, long.ID)
	if err != nil || d.Usage == nil || d.Usage.Uses != 2 || !d.Usage.FirstUse.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("Show(long) = %+v, %v; want its summary", d.Usage, err)
	}
}

// BenchmarkRecordUsage records a batch of 10,000 uses on SQLite, once per
// iteration: of one token from 20 addresses, and of 10,000 tokens once
// each.
func BenchmarkRecordUsage(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		tokens int
	}{{"one token", 1}, {"10000 tokens", 10000}} {
		b.Run(bc.name, func(b *testing.B) {
			e, now := usageEnv(b, nil)
			first := e.issue(b, issuer.Request{Subject: "svc"})
			ids := []string{first.ID}
			var rows []store.TokenRow
			for n := 1; n < bc.tokens; n++ {
				jti := fmt.Sprint("bench-", n)
				ids = append(ids, jti)
				rows = append(rows, store.TokenRow{JTI: jti, Format: "jwt", KID: first.KeyID, Subject: "svc", Name: jti,
					Audience: testAudience, IssuedAt: testNow.Unix(), ExpiresAt: testNow.Add(time.Hour).Unix(), IssuedBy: "bench"})
			}
			if err := e.db.TokenInsertMany(ctx, rows, nil); err != nil {
				b.Fatal(err)
			}
			*now = testNow.Add(time.Hour)
			uses := make([]issuer.Use, 10000)
			outcomes := []string{"accepted", "accepted", "accepted", "expired", "permission"}
			for n := range uses {
				uses[n] = use(ids[n%len(ids)], testNow.Add(time.Duration(n%3600)*time.Second), fmt.Sprintf("192.0.2.%d", n%20), outcomes[n%len(outcomes)])
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.issuer.RecordUsage(ctx, uses, "api:bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// countingStore counts the write transactions begun once counting is
// set, and fails the one numbered failAt (from 1), if any.
type countingStore struct {
	store.Store
	counting      bool
	begun, failAt int
}

func (s *countingStore) Begin(ctx context.Context) (store.Tx, error) {
	if s.counting {
		s.begun++
		if s.begun == s.failAt {
			return nil, errors.New("the database is away")
		}
	}
	return s.Store.Begin(ctx)
}

// TestRecordUsageParts: the uses of many tokens are recorded in several
// transactions, of at most 256 tokens each; when one fails after others
// were committed, RecordUsage says which uses it recorded and which not.
func TestRecordUsageParts(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{}
	e, now := usageEnv(t, func(c *issuer.Config) {
		cs.Store = c.Store
		c.Store = cs
	})
	var uses []issuer.Use
	for i := range 600 {
		tok := e.issue(t, issuer.Request{Subject: fmt.Sprintf("user%d", i)})
		uses = append(uses, use(tok.ID, testNow.Add(time.Minute), "192.0.2.1", "accepted"))
	}
	*now = testNow.Add(time.Hour)
	cs.counting = true
	rep, err := e.issuer.RecordUsage(ctx, uses[:300], "test")
	if err != nil || rep.Recorded != 300 || cs.begun != 2 {
		t.Fatalf("300 tokens: %+v, %v, in %d transactions; want 2", rep, err, cs.begun)
	}
	cs.begun, cs.failAt = 0, 2
	rep, err = e.issuer.RecordUsage(ctx, uses[300:], "test")
	if !errors.Is(err, issuer.ErrUsagePartlyRecorded) || rep.Recorded != 256 || rep.Failed != 44 || rep.Ignored() != 44 {
		t.Fatalf("a second part failing: %+v, %v", rep, err)
	}
	for i, u := range uses[300:] {
		d, err := e.issuer.Show(ctx, u.JTI)
		if err != nil {
			t.Fatal(err)
		}
		if recorded := d.Usage != nil; recorded != (i < 256) {
			t.Errorf("use %d of the second batch recorded: %v", i, recorded)
		}
	}
	cs.begun, cs.failAt = 0, 1
	if rep, err := e.issuer.RecordUsage(ctx, uses[:1], "test"); err == nil || errors.Is(err, issuer.ErrUsagePartlyRecorded) || rep.Recorded != 0 {
		t.Errorf("the only part failing: %+v, %v; want an error and nothing recorded", rep, err)
	}
}
