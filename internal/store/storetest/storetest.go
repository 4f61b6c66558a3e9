// Package storetest is the conformance suite of the storage contract:
// every engine's tests call [Exercise], so that the rules in packages
// keys, issuer, revocation and audit meet the same behaviour on each.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/alg"
	"github.com/writ-dev/writ/internal/store"
)

// Exercise runs the suite, each test on a new, empty database from
// newStore (at the current schema, closed by the engine's test helpers or
// when tb ends).
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Meta", testMeta},
		{"KeyInsert", testKeyInsert},
		{"KeyUpdate", testKeyUpdate},
		{"KeyRows", testKeyRows},
		{"Tokens", testTokens},
		{"TokenStatus", testTokenStatus},
		{"TokenDescendants", testTokenDescendants},
		{"TokenJTIEach", testTokenJTIEach},
		{"TokenPages", testTokenPages},
		{"TokenSearch", TokenSearch},
		{"Revocations", testRevocations},
		{"RevocationChanges", testRevocationChanges},
		{"RevocationPrune", testRevocationPrune},
		{"Packed", testPacked},
		{"Audit", testAudit},
		{"ReadAll", testReadAll},
		{"RevocationRestore", testRevocationRestore},
		{"Transactions", testTransactions},
		{"ReadSnapshot", testReadSnapshot},
		{"Now", testNow},
		{"CompromiseAtomic", testCompromiseAtomic},
		{"RegenerateAtomic", testRegenerateAtomic},
		{"Sessions", testSessions},
		{"SessionLinks", testSessionLinks},
		{"SessionSeen", testSessionSeen},
		{"SessionHeld", testSessionHeld},
		{"TokenGetMany", testTokenGetMany},
		{"UsageRecord", testUsageRecord},
		{"UsageList", testUsageList},
		{"UsagePrune", testUsagePrune},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var ctx = context.Background()

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testMeta(t *testing.T, s store.Store) {
	if _, err := s.MetaGet(ctx, "probe"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MetaGet of a missing row: %v, want ErrNotFound", err)
	}
	for _, v := range [][]byte{{1, 2}, {3}} {
		check(t, s.MetaPut(ctx, "probe", v))
		if got, err := s.MetaGet(ctx, "probe"); err != nil || !bytes.Equal(got, v) {
			t.Errorf("MetaGet after MetaPut(%x) = %x, %v", v, got, err)
		}
	}
	check(t, s.MetaPut(ctx, "other", []byte{4}))
	check(t, s.MetaDelete(ctx, "probe"))
	if _, err := s.MetaGet(ctx, "probe"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MetaGet after MetaDelete: %v, want ErrNotFound", err)
	}
	if got, err := s.MetaGet(ctx, "other"); err != nil || !bytes.Equal(got, []byte{4}) {
		t.Errorf("MetaDelete of another row changed this one: %x, %v", got, err)
	}
	check(t, s.MetaDelete(ctx, "probe")) // a missing row is not an error
	if _, epoch, err := s.RevocationHead(ctx); err != nil || len(epoch) == 0 {
		t.Errorf("a new database's epoch: %x, %v; want one", epoch, err)
	}
}

// The algorithms of the key rows the suite makes up, as storage keeps them:
// text.
const (
	jwtAlg    = string(alg.EdDSA)
	pasetoAlg = string(alg.V4Public)
)

// key returns a row of a key that the suite makes up.
func key(kid, format, state string, created int64) store.KeyRow {
	r := store.KeyRow{KID: kid, Format: format, Alg: jwtAlg, State: state, Public: []byte("pub " + kid), Created: created, MAC: []byte("mac " + kid)}
	if state == "next" || state == "active" {
		r.Private = []byte("sealed " + kid)
	}
	if state == "active" {
		r.Activated = store.At(created)
	}
	if format == "paseto" {
		r.Alg = pasetoAlg
	}
	return r
}

func keyRow(t *testing.T, x store.Executor, kid string) store.KeyRow {
	t.Helper()
	rows, _, err := x.KeyRows(ctx, store.KeyFilter{KID: kid})
	if err != nil || len(rows) != 1 {
		t.Fatalf("KeyRows(%s): %d rows, %v", kid, len(rows), err)
	}
	return rows[0]
}

func testKeyInsert(t *testing.T, s store.Store) {
	a := key("a", "jwt", "active", 100)
	a.Retired, a.Unpublish, a.Removed, a.Compromised = store.At(1), store.At(2), store.At(3), store.At(4)
	check(t, s.KeyInsert(ctx, a))
	if got := keyRow(t, s, "a"); !keysEqual(got, a) {
		t.Errorf("row read back %+v, want %+v", got, a)
	}
	if err := s.KeyInsert(ctx, key("b", "jwt", "active", 101)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second active JWT key: %v, want ErrConflict", err)
	}
	if err := s.KeyInsert(ctx, key("a", "jwt", "next", 102)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second row of kid a: %v, want ErrConflict", err)
	}
	check(t, s.KeyInsert(ctx, key("c", "paseto", "active", 103))) // one per format
	check(t, s.KeyInsert(ctx, key("d", "jwt", "next", 104)))
	unbound := key("e", "jwt", "retired", 105)
	unbound.MAC = nil
	check(t, s.KeyInsert(ctx, unbound))
	if got := keyRow(t, s, "e"); got.MAC != nil || got.Private != nil || got.Activated.Valid {
		t.Errorf("row without MAC, private half or activation read back as %+v", got)
	}
	if state, err := s.KeyState(ctx, "d"); err != nil || state != "next" {
		t.Errorf("KeyState(d) = %q, %v", state, err)
	}
	if _, err := s.KeyState(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyState of a missing key: %v, want ErrNotFound", err)
	}
}

func keysEqual(a, b store.KeyRow) bool {
	return a.KID == b.KID && a.Format == b.Format && a.Alg == b.Alg && a.State == b.State && bytes.Equal(a.Public, b.Public) &&
		bytes.Equal(a.Private, b.Private) && a.Created == b.Created && a.Activated == b.Activated && a.Retired == b.Retired &&
		a.Unpublish == b.Unpublish && a.Removed == b.Removed && a.Compromised == b.Compromised && bytes.Equal(a.MAC, b.MAC)
}

func testKeyUpdate(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("a", "jwt", "active", 100)))
	check(t, s.KeyInsert(ctx, key("n", "jwt", "next", 101)))
	a := keyRow(t, s, "a")
	a.State, a.Retired, a.Unpublish, a.MAC = "retired", store.At(200), store.At(300), []byte("mac 2")
	check(t, s.KeyUpdate(ctx, a, "active", false))
	if got := keyRow(t, s, "a"); !keysEqual(got, store.KeyRow{KID: "a", Format: "jwt", Alg: jwtAlg, State: "retired", Public: a.Public,
		Created: 100, Activated: store.At(100), Retired: store.At(200), Unpublish: store.At(300), MAC: []byte("mac 2")}) {
		t.Errorf("after the update %+v: the private half erased, the rest as written", got)
	}
	// Compare-and-swap: the row is no longer active.
	a.State = "removed"
	if err := s.KeyUpdate(ctx, a, "active", false); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update from a state the row is not in: %v, want ErrConflict", err)
	}
	if err := s.KeyUpdate(ctx, store.KeyRow{KID: "nope", State: "retired"}, "active", false); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update of a missing row: %v, want ErrConflict", err)
	}
	n := keyRow(t, s, "n")
	n.State, n.Activated = "active", store.At(201)
	check(t, s.KeyUpdate(ctx, n, "next", true))
	if got := keyRow(t, s, "n"); !bytes.Equal(got.Private, []byte("sealed n")) || got.State != "active" {
		t.Errorf("next key activated keeping its private half: %+v", got)
	}
	// At most one active key per format, whatever the writers do.
	check(t, s.KeyInsert(ctx, key("m", "jwt", "next", 102)))
	m := keyRow(t, s, "m")
	m.State = "active"
	if err := s.KeyUpdate(ctx, m, "next", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second active key by update: %v, want ErrConflict", err)
	}
	check(t, s.KeySetMAC(ctx, "m", nil))
	if got := keyRow(t, s, "m"); got.MAC != nil || got.State != "next" {
		t.Errorf("after KeySetMAC(nil): %+v", got)
	}
	check(t, s.KeySetMAC(ctx, "m", []byte("mac m2")))
	if got := keyRow(t, s, "m"); !bytes.Equal(got.MAC, []byte("mac m2")) {
		t.Errorf("after KeySetMAC: %x", got.MAC)
	}
	before := keyRow(t, s, "n")
	check(t, s.KeySetPrivate(ctx, "m", []byte("resealed m")))
	if got := keyRow(t, s, "m"); !bytes.Equal(got.Private, []byte("resealed m")) || !bytes.Equal(got.MAC, []byte("mac m2")) || got.State != "next" {
		t.Errorf("after KeySetPrivate: %+v", got)
	}
	if got := keyRow(t, s, "n"); !bytes.Equal(got.Private, before.Private) {
		t.Errorf("KeySetPrivate of m changed n: %+v", got)
	}
	check(t, s.KeySetPrivate(ctx, "nope", []byte("x"))) // a missing row is not an error
}

func testKeyRows(t *testing.T, s store.Store) {
	if rows, seal, err := s.KeyRows(ctx, store.KeyFilter{}); err != nil || len(rows) != 0 || seal != nil {
		t.Errorf("KeyRows of an empty keyring: %v, %x, %v", rows, seal, err)
	}
	check(t, s.MetaPut(ctx, store.MetaKeySeal, []byte("seal 1")))
	// Inserted out of creation order: rows come oldest first, then by
	// insertion.
	for _, r := range []store.KeyRow{key("b", "jwt", "next", 200), key("a", "jwt", "active", 100), key("c", "paseto", "next", 200), key("d", "jwt", "retired", 50)} {
		check(t, s.KeyInsert(ctx, r))
	}
	check(t, s.KeySetMAC(ctx, "d", nil))
	for _, tc := range []struct {
		f    store.KeyFilter
		want []string
	}{
		{store.KeyFilter{}, []string{"d", "a", "b", "c"}},
		{store.KeyFilter{KID: "b"}, []string{"b"}},
		{store.KeyFilter{Format: "jwt"}, []string{"d", "a", "b"}},
		{store.KeyFilter{States: []string{"next", "active"}}, []string{"a", "b", "c"}},
		{store.KeyFilter{Format: "jwt", States: []string{"next"}}, []string{"b"}},
		{store.KeyFilter{Unbound: true}, []string{"d"}},
		{store.KeyFilter{KID: "nope"}, nil},
	} {
		rows, seal, err := s.KeyRows(ctx, tc.f)
		check(t, err)
		var kids []string
		for _, r := range rows {
			kids = append(kids, r.KID)
		}
		if !slices.Equal(kids, tc.want) {
			t.Errorf("KeyRows(%+v) = %v, want %v", tc.f, kids, tc.want)
		}
		if wantSeal := len(tc.want) > 0; wantSeal != bytes.Equal(seal, []byte("seal 1")) || !wantSeal && seal != nil {
			t.Errorf("KeyRows(%+v) read the seal %q", tc.f, seal)
		}
	}
	for _, f := range []string{"jwt", "paseto"} {
		rows, seal, err := s.KeyActive(ctx, f)
		check(t, err)
		if f == "jwt" && (len(rows) != 1 || rows[0].KID != "a" || !bytes.Equal(seal, []byte("seal 1"))) ||
			f == "paseto" && (len(rows) != 0 || seal != nil) {
			t.Errorf("KeyActive(%s) = %v, %q", f, rows, seal)
		}
	}
}

// token returns the record of a token that the suite makes up.
func token(jti, subject, kid string, iat, exp int64) store.TokenRow {
	return store.TokenRow{JTI: jti, Format: "jwt", KID: kid, Subject: subject, Name: subject + " token",
		Scopes: "read write", Audience: "api", IssuedAt: iat, ExpiresAt: exp, IssuedBy: "suite"}
}

// testTokenJTIEach: the jtis of the tokens issued before a time and
// expiring at or after another, each once, both bounds exact, read within a
// snapshot as any read; an error of fn stops the walk.
func testTokenJTIEach(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	toks := []store.TokenRow{token("early", "a", "k1", 99, 1000), token("edge", "a", "k1", 100, 999),
		token("late", "b", "k1", 101, 5000), token("expired", "b", "k1", 50, 998), token("ends", "c", "k1", 10, 999)}
	check(t, s.TokenInsertMany(ctx, toks, nil))
	each := func(x store.Executor, before, from int64) []string {
		var got []string
		check(t, x.TokenJTIEach(ctx, before, from, func(jti []byte) error {
			got = append(got, string(jti))
			return nil
		}))
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		before, from int64
		want         []string
	}{
		{101, 999, []string{"early", "edge", "ends"}},
		{100, 999, []string{"early", "ends"}},
		{101, 1000, []string{"early"}},
		{1 << 40, 0, []string{"early", "edge", "ends", "expired", "late"}},
		{10, 0, nil},
	} {
		if got := each(s, tc.before, tc.from); !slices.Equal(got, tc.want) {
			t.Errorf("TokenJTIEach(%d, %d) = %v, want %v", tc.before, tc.from, got, tc.want)
		}
	}
	tx, err := s.BeginRead(ctx)
	check(t, err)
	defer tx.Rollback()
	_, _, err = tx.RevocationHead(ctx) // the snapshot starts with its first read
	check(t, err)
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{token("after", "d", "k1", 1, 1<<40)}, nil))
	if got := each(tx, 1<<40, 0); slices.Contains(got, "after") || len(got) != len(toks) {
		t.Errorf("TokenJTIEach in a snapshot taken before a token was recorded: %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.TokenJTIEach(ctx, 1<<40, 0, func([]byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("TokenJTIEach after fn's error: %v, %d calls", err, n)
	}
}

func tokenIDs(rows []store.TokenRow) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.JTI)
	}
	return ids
}

func testTokens(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	check(t, s.KeyInsert(ctx, key("k2", "paseto", "active", 1)))
	toks := []store.TokenRow{token("t1", "alice", "k1", 100, 1000), token("t2", "alice", "k2", 100, 2000), token("t3", "bob", "k1", 200, 1500)}
	toks[1].Description, toks[1].AllowedIPs, toks[1].Parent = "CI deploys", "10.0.0.0/8 2001:db8::/32", "t1"
	var events []store.AuditRow
	for _, tk := range toks {
		events = append(events, store.AuditRow{At: tk.IssuedAt * 1000, Actor: "suite", Action: "token.issue", Subject: tk.Subject, JTI: tk.JTI, KID: tk.KID})
	}
	check(t, s.TokenInsertMany(ctx, toks, events))
	check(t, s.TokenInsertMany(ctx, nil, nil))
	got, err := s.TokenGet(ctx, "t2")
	if err != nil || got != toks[1] {
		t.Errorf("TokenGet(t2) = %+v, %v; want %+v", got, err, toks[1])
	}
	if _, err := s.TokenGet(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenGet of a missing token: %v, want ErrNotFound", err)
	}
	if err := s.TokenInsertMany(ctx, []store.TokenRow{token("t1", "carol", "k1", 300, 400)}, nil); err == nil {
		t.Error("a second record of t1 accepted")
	}
	for _, tc := range []struct {
		f    store.TokenFilter
		want []string
	}{
		{store.TokenFilter{Limit: 10}, []string{"t3", "t2", "t1"}}, // newest first, then the last inserted
		{store.TokenFilter{Limit: 2}, []string{"t3", "t2"}},
		{store.TokenFilter{Subject: "alice", Limit: 10}, []string{"t2", "t1"}},
		{store.TokenFilter{Name: "bob token", Limit: 10}, []string{"t3"}},
		{store.TokenFilter{JTI: "t1", Limit: 10}, []string{"t1"}},
		{store.TokenFilter{Parent: "t1", Limit: 10}, []string{"t2"}},
		{store.TokenFilter{Parent: "t2", Limit: 10}, nil},
		{store.TokenFilter{ExpiresBy: 1500, Limit: 10}, []string{"t3", "t1"}},
		{store.TokenFilter{ExpiresBy: 999, Limit: 10}, nil},
		{store.TokenFilter{At: 1000, ExpiresBy: 1500, Limit: 10}, []string{"t3"}}, // t1 expired at 1000
	} {
		rows, err := s.TokenList(ctx, tc.f)
		check(t, err)
		if ids := tokenIDs(rows); !slices.Equal(ids, tc.want) {
			t.Errorf("TokenList(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
		if tc.f.Limit == 10 {
			if n, err := s.TokenCount(ctx, tc.f); err != nil || n != int64(len(tc.want)) {
				t.Errorf("TokenCount(%+v) = %d, %v; want %d", tc.f, n, err, len(tc.want))
			}
		}
	}
	for subject, want := range map[string]bool{"alice": true, "nobody": false} {
		if known, err := s.TokenSubjectKnown(ctx, subject); err != nil || known != want {
			t.Errorf("TokenSubjectKnown(%s) = %v, %v", subject, known, err)
		}
	}
	for kid, want := range map[string]int64{"k1": 1500, "k2": 2000, "k3": 0} {
		if exp, ok, err := s.TokenLastExpiry(ctx, kid); err != nil || exp != want || ok != (want != 0) {
			t.Errorf("TokenLastExpiry(%s) = %d, %v, %v; want %d", kid, exp, ok, err, want)
		}
	}
	if log, err := s.AuditList(ctx, store.AuditFilter{Limit: 10}); err != nil || len(log) != 3 || log[0].JTI != "t1" {
		t.Errorf("the events recorded with the tokens: %+v, %v", log, err)
	}
}

// testTokenDescendants: the tokens a token issued, to any depth, in the
// order they were inserted, a walk that ends on a cycle of parents, and
// the descendants of a key's tokens.
func testTokenDescendants(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	child := func(jti, parent string) store.TokenRow {
		r := token(jti, "alice", "k1", 100, 1000)
		r.Parent = parent
		return r
	}
	// root issued a and b, a issued c, c issued d; x is an admin's, y's
	// parent was never recorded, and p and q are each other's parent.
	toks := []store.TokenRow{child("root", ""), child("a", "root"), child("x", ""), child("c", "a"),
		child("b", "root"), child("d", "c"), child("y", "gone"), child("p", "q"), child("q", "p")}
	check(t, s.TokenInsertMany(ctx, toks, nil))
	for _, tc := range []struct {
		jti  string
		want []string
	}{
		{"root", []string{"a", "c", "b", "d"}},
		{"a", []string{"c", "d"}},
		{"d", nil},
		{"x", nil},
		{"gone", []string{"y"}},
		{"nope", nil},
		{"", nil},
		{"p", []string{"p", "q"}},
	} {
		rows, err := s.TokenDescendants(ctx, tc.jti)
		check(t, err)
		if ids := tokenIDs(rows); !slices.Equal(ids, tc.want) {
			t.Errorf("TokenDescendants(%q) = %v, want %v", tc.jti, ids, tc.want)
		}
	}
	rows, err := s.TokenDescendants(ctx, "c")
	if check(t, err); len(rows) != 1 || rows[0] != toks[5] {
		t.Errorf("TokenDescendants(c) = %+v, want %+v", rows, toks[5])
	}

	// By key: the descendants of the tokens of k2 that k2 did not sign.
	check(t, s.KeyInsert(ctx, key("k2", "paseto", "active", 1)))
	byK2 := func(jti, parent string) store.TokenRow {
		r := child(jti, parent)
		r.KID = "k2"
		return r
	}
	// r2 (k2) issued e (k1), which issued f (k2); root (k1) issued g (k2).
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{byK2("r2", ""), child("e", "r2"), byK2("f", "e"), byK2("g", "root")}, nil))
	for _, tc := range []struct {
		kid  string
		want []string
	}{
		{"k2", []string{"e"}},
		{"k1", []string{"f", "g"}},
		{"k3", nil},
	} {
		rows, err := s.TokenDescendantsOfKey(ctx, tc.kid)
		check(t, err)
		if ids := tokenIDs(rows); !slices.Equal(ids, tc.want) {
			t.Errorf("TokenDescendantsOfKey(%q) = %v, want %v", tc.kid, ids, tc.want)
		}
	}

	// By subject: the descendants of bob's tokens issued before 150 that
	// are not themselves bob's tokens issued before 150. p1 (100) issued
	// c0 (50, a tampered time) and c1 (200); c0 issued g1 (300).
	bob := func(jti, parent string, iat int64) store.TokenRow {
		r := token(jti, "bob", "k1", iat, 1000)
		r.Parent = parent
		return r
	}
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{bob("p1", "", 100), bob("c0", "p1", 50), bob("c1", "p1", 200), bob("g1", "c0", 300), bob("late", "", 200), bob("lc", "late", 300)}, nil))
	for _, tc := range []struct {
		subject string
		before  int64
		want    []string
	}{
		{"bob", 150, []string{"c1", "g1"}},
		{"bob", 100, []string{"g1"}}, // only c0 (50) was issued before: its child g1
		{"bob", 1000, nil},
		{"nobody", 1000, nil},
	} {
		rows, err := s.TokenDescendantsOfSubject(ctx, tc.subject, tc.before)
		check(t, err)
		if ids := tokenIDs(rows); !slices.Equal(ids, tc.want) {
			t.Errorf("TokenDescendantsOfSubject(%q, %d) = %v, want %v", tc.subject, tc.before, ids, tc.want)
		}
	}
}

// testTokenPages pages through tokens, several issued in each second,
// while more are inserted between pages: each token present at the start
// is listed exactly once, in TokenList's order.
func testTokenPages(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	var want []string
	for n := range 25 {
		jti := fmt.Sprintf("t%02d", n)
		check(t, s.TokenInsertMany(ctx, []store.TokenRow{token(jti, "alice", "k1", 100+int64(n/4), 5000)}, nil))
		want = append(want, jti)
	}
	slices.Reverse(want) // newest first
	got := pages(t, s, store.TokenFilter{At: 1, Limit: 7}, func(page int, last store.TokenRow) {
		// Tokens issued meanwhile, later or in the second of the last
		// row listed: a later page must not show them.
		iat := last.IssuedAt
		if page%2 == 0 {
			iat = 200
		}
		check(t, s.TokenInsertMany(ctx, []store.TokenRow{token(fmt.Sprintf("new%d", page), "alice", "k1", iat, 5000)}, nil))
	})
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}

// pages lists the tokens of f page by page, f.Limit at a time, each page
// after the last row of the one before, and returns their jtis; between,
// when set, runs after each page.
func pages(t *testing.T, s store.Store, f store.TokenFilter, between func(page int, last store.TokenRow)) []string {
	t.Helper()
	var got []string
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		rows, err := s.TokenList(ctx, f)
		check(t, err)
		if len(rows) == 0 {
			return got
		}
		got = append(got, tokenIDs(rows)...)
		last := rows[len(rows)-1]
		f.Before = store.TokenCursor{IssuedAt: last.IssuedAt, LastUse: last.LastUse, Row: last.Row}
		if between != nil {
			between(page, last)
		}
	}
}

func testTokenStatus(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	check(t, s.KeyInsert(ctx, key("k2", "jwt", "retired", 1)))
	toks := []store.TokenRow{
		token("by-jti", "alice", "k1", 100, 1000),
		token("by-jti-later", "alice", "k1", 100, 1000), // its revocation takes effect at 600
		token("by-subject", "bob", "k1", 100, 1000),
		token("bob-after", "bob", "k1", 300, 1000), // issued after the cut-off
		token("by-key", "carol", "k2", 100, 1000),
		token("expired", "dave", "k1", 100, 400),
		token("active", "dave", "k1", 100, 1000),
	}
	check(t, s.TokenInsertMany(ctx, toks, nil))
	for _, r := range []store.RevocationRow{
		{Kind: store.RevokeToken, Value: "by-jti", EffectiveAt: 200, ExpiresAt: 1000},
		{Kind: store.RevokeToken, Value: "by-jti-later", EffectiveAt: 600, ExpiresAt: 1000},
		{Kind: store.RevokeSubject, Value: "bob", IssuedBefore: store.At(200), EffectiveAt: 200, ExpiresAt: 5000},
		{Kind: store.RevokeKey, Value: "k2", EffectiveAt: 200, ExpiresAt: 5000},
	} {
		_, err := s.RevocationInsert(ctx, r)
		check(t, err)
	}
	// The live token of a name: not revoked, nor scheduled to be, nor
	// expired.
	for _, tc := range []struct {
		subject       string
		at            int64
		except, named string
	}{
		{"alice", 500, "", ""}, {"bob", 500, "", "bob-after"}, {"bob", 500, "bob-after", ""}, {"carol", 500, "", ""},
		{"dave", 500, "", "active"}, {"dave", 500, "active", ""}, {"dave", 1000, "", ""}, {"erin", 500, "", ""},
	} {
		if jti, err := s.TokenNamed(ctx, tc.subject, tc.subject+" token", tc.at, tc.except); err != nil || jti != tc.named {
			t.Errorf("TokenNamed(%s, at %d, except %q) = %q, %v; want %q", tc.subject, tc.at, tc.except, jti, err, tc.named)
		}
	}
	if jti, err := s.TokenNamed(ctx, "bob", "other", 500, ""); err != nil || jti != "" {
		t.Errorf("TokenNamed of another name = %q, %v", jti, err)
	}
	want := map[string]string{"by-jti": "revoked", "by-jti-later": "active", "by-subject": "revoked", "bob-after": "active",
		"by-key": "revoked", "expired": "expired", "active": "active"}
	rows, err := s.TokenList(ctx, store.TokenFilter{At: 500, Limit: 100})
	check(t, err)
	for _, r := range rows {
		if r.Status != want[r.JTI] {
			t.Errorf("%s at 500: %s, want %s", r.JTI, r.Status, want[r.JTI])
		}
		covered, err := s.RevocationCovers(ctx, 500, r.JTI, r.Subject, r.KID, r.IssuedAt)
		if err != nil || covered != (want[r.JTI] == "revoked") {
			t.Errorf("RevocationCovers(%s) at 500 = %v, %v; TokenList says %s", r.JTI, covered, err, r.Status)
		}
	}
	// The status filter is part of the query: the limit counts matches.
	for status, n := range map[string]int{"revoked": 3, "expired": 1, "active": 3} {
		rows, err := s.TokenList(ctx, store.TokenFilter{At: 500, Status: status, Limit: 100})
		check(t, err)
		if len(rows) != n {
			t.Errorf("TokenList(status %s) = %v, want %d", status, tokenIDs(rows), n)
		}
		if c, err := s.TokenCount(ctx, store.TokenFilter{At: 500, Status: status}); err != nil || c != int64(n) {
			t.Errorf("TokenCount(status %s) = %d, %v; want %d", status, c, err, n)
		}
		if rows, err := s.TokenList(ctx, store.TokenFilter{At: 500, Status: status, Limit: 1}); err != nil || len(rows) != 1 || rows[0].Status != status {
			t.Errorf("TokenList(status %s, limit 1) = %+v, %v", status, rows, err)
		}
	}
	if rows, err := s.TokenList(ctx, store.TokenFilter{At: 700, JTI: "by-jti-later", Limit: 1}); err != nil || len(rows) != 1 || rows[0].Status != "revoked" {
		t.Errorf("by-jti-later at 700: %+v, %v; want revoked", rows, err)
	}
	// The rows keep when a revocation took effect on them, the earliest,
	// and stay revoked once every entry is pruned.
	for jti, want := range map[string]int64{"by-jti": 200, "by-jti-later": 600, "by-subject": 200, "bob-after": 0, "by-key": 200, "active": 0} {
		if r, err := s.TokenGet(ctx, jti); err != nil || r.RevokedAt != want {
			t.Errorf("TokenGet(%s).RevokedAt = %d, %v; want %d", jti, r.RevokedAt, err, want)
		}
	}
	_, err = s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(900), EffectiveAt: 400, ExpiresAt: 5000})
	check(t, err)
	if r, err := s.TokenGet(ctx, "by-jti-later"); err != nil || r.RevokedAt != 400 {
		t.Errorf("by-jti-later after a sooner revocation: %d, %v; want 400", r.RevokedAt, err)
	}
	if _, _, err := s.RevocationPrune(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"by-jti": "revoked", "by-jti-later": "revoked", "by-subject": "revoked", "bob-after": "active",
		"by-key": "revoked", "expired": "expired", "active": "active"}
	rows, err = s.TokenList(ctx, store.TokenFilter{At: 500, Limit: 100})
	check(t, err)
	for _, r := range rows {
		if r.Status != want[r.JTI] {
			t.Errorf("%s at 500, its entries pruned: %s, want %s", r.JTI, r.Status, want[r.JTI])
		}
	}
}

func testRevocations(t *testing.T, s store.Store) {
	if seq, _, err := s.RevocationHead(ctx); err != nil || seq != 0 {
		t.Errorf("RevocationHead of an empty list: %d, %v", seq, err)
	}
	entries := []store.RevocationRow{
		{Kind: store.RevokeToken, Value: "t1", EffectiveAt: 10, ExpiresAt: 100, Reason: "leaked", Actor: "admin", CreatedAt: 10},
		{Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(20), EffectiveAt: 20, ExpiresAt: 200, CreatedAt: 20},
		{Kind: store.RevokeKey, Value: "k1", EffectiveAt: 30, ExpiresAt: 300, CreatedAt: 30},
		{Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(40), EffectiveAt: 40, ExpiresAt: 400, CreatedAt: 40},
	}
	for i, e := range entries {
		seq, err := s.RevocationInsert(ctx, e)
		check(t, err)
		if seq != int64(i+1) {
			t.Errorf("entry %d got seq %d", i, seq)
		}
		entries[i].Seq = seq
	}
	for _, dup := range []store.RevocationRow{entries[0], entries[2]} {
		if _, err := s.RevocationInsert(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a second %s entry for %s: %v, want ErrConflict", dup.Kind, dup.Value, err)
		}
	}
	for _, e := range []store.RevocationRow{entries[0], entries[2]} {
		if got, err := s.RevocationGet(ctx, e.Kind, e.Value); err != nil || got != e {
			t.Errorf("RevocationGet(%s, %s) = %+v, %v; want %+v", e.Kind, e.Value, got, err, e)
		}
	}
	for _, kv := range [][2]string{{store.RevokeToken, "k1"}, {store.RevokeKey, "t1"}, {store.RevokeToken, "nope"}} {
		if _, err := s.RevocationGet(ctx, kv[0], kv[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevocationGet(%s, %s): %v, want ErrNotFound", kv[0], kv[1], err)
		}
	}
	check(t, s.RevocationDelete(ctx, entries[0].Seq))
	if _, err := s.RevocationGet(ctx, store.RevokeToken, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevocationGet after RevocationDelete: %v", err)
	}
	// The sequence never goes back: a deleted entry's number is not
	// given again.
	again := entries[0]
	again.EffectiveAt = 5
	seq, err := s.RevocationInsert(ctx, again)
	if err != nil || seq != 5 {
		t.Errorf("entry after a deletion: seq %d, %v; want 5", seq, err)
	}
	if head, _, err := s.RevocationHead(ctx); err != nil || head != 5 {
		t.Errorf("RevocationHead = %d, %v; want 5", head, err)
	}
	check(t, s.RevocationDelete(ctx, 5))
	if head, _, err := s.RevocationHead(ctx); err != nil || head != 5 {
		t.Errorf("RevocationHead after deleting the last entry = %d, %v; want 5 still", head, err)
	}
}

// seqs lists the entries that f selects, by sequence number.
func seqs(t *testing.T, x store.Executor, f store.RevocationFilter) []int64 {
	t.Helper()
	var out []int64
	check(t, x.RevocationEach(ctx, f, func(r *store.RevocationRow) error {
		out = append(out, r.Seq)
		return nil
	}))
	return out
}

func testRevocationChanges(t *testing.T, s store.Store) {
	for i, r := range []store.RevocationRow{
		{Kind: store.RevokeToken, Value: "t1", EffectiveAt: 1, ExpiresAt: 100},
		{Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(2), EffectiveAt: 2, ExpiresAt: 50},
		{Kind: store.RevokeKey, Value: "k1", EffectiveAt: 3, ExpiresAt: 300},
		{Kind: store.RevokeToken, Value: "t2", EffectiveAt: 4, ExpiresAt: 40},
		{Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(5), EffectiveAt: 5, ExpiresAt: 500},
	} {
		if seq, err := s.RevocationInsert(ctx, r); err != nil || seq != int64(i+1) {
			t.Fatalf("insert %d: seq %d, %v", i, seq, err)
		}
	}
	for _, tc := range []struct {
		f    store.RevocationFilter
		want []int64
	}{
		{store.RevocationFilter{}, []int64{1, 2, 3, 4, 5}},
		{store.RevocationFilter{After: 3}, []int64{4, 5}},
		{store.RevocationFilter{Kinds: []string{store.RevokeSubject, store.RevokeKey}}, []int64{2, 3, 5}},
		{store.RevocationFilter{Kinds: []string{store.RevokeToken}}, []int64{1, 4}},
		{store.RevocationFilter{Value: "alice"}, []int64{2, 5}},
		{store.RevocationFilter{ExpiresFrom: store.At(100)}, []int64{1, 3, 5}},
		{store.RevocationFilter{ExpiresFrom: store.At(100), After: 1, Kinds: []string{store.RevokeSubject}}, []int64{5}},
		{store.RevocationFilter{Before: 4}, []int64{1, 2, 3}},
		{store.RevocationFilter{Newest: 2}, []int64{5, 4}},
		{store.RevocationFilter{Newest: 9}, []int64{5, 4, 3, 2, 1}},
		{store.RevocationFilter{Newest: 2, Before: 5}, []int64{4, 3}},
		{store.RevocationFilter{Newest: 2, Before: 2}, []int64{1}},
		{store.RevocationFilter{Newest: 1, Kinds: []string{store.RevokeToken}, Before: 4}, []int64{1}},
	} {
		if got := seqs(t, s, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("RevocationEach(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.RevocationEach(ctx, store.RevocationFilter{}, func(*store.RevocationRow) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("RevocationEach stopped by its function: %v after %d", err, n)
	}
	var subject store.RevocationRow
	check(t, s.RevocationEach(ctx, store.RevocationFilter{After: 1, Kinds: []string{store.RevokeSubject}}, func(r *store.RevocationRow) error {
		if r.Seq == 2 {
			subject = *r
		}
		return nil
	}))
	if subject.IssuedBefore != store.At(2) || subject.Value != "alice" {
		t.Errorf("subject entry read back as %+v", subject)
	}
}

func testRevocationPrune(t *testing.T, s store.Store) {
	for _, r := range []store.RevocationRow{
		{Kind: store.RevokeToken, Value: "t1", ExpiresAt: 10},
		{Kind: store.RevokeToken, Value: "t2", ExpiresAt: 100},
		{Kind: store.RevokeSubject, Value: "alice", ExpiresAt: 10},
		{Kind: store.RevokeKey, Value: "k1", ExpiresAt: 99},
		{Kind: store.RevokeKey, Value: "k2", ExpiresAt: 1000},
	} {
		_, err := s.RevocationInsert(ctx, r)
		check(t, err)
	}
	check(t, s.PackedAppend(ctx, []byte("packed"), 1024))
	tokens, others, err := s.RevocationPrune(ctx, 100)
	if err != nil || tokens != 1 || others != 2 {
		t.Errorf("RevocationPrune(100) = %d tokens, %d others, %v; want 1 and 2 (expired before 100)", tokens, others, err)
	}
	if got := seqs(t, s, store.RevocationFilter{}); !slices.Equal(got, []int64{2, 5}) {
		t.Errorf("after the prune: %v", got)
	}
	if n, err := s.PackedSize(ctx); err != nil || n != 6 {
		t.Errorf("the prune changed the packed entries: %d, %v", n, err)
	}
	if head, _, err := s.RevocationHead(ctx); err != nil || head != 5 {
		t.Errorf("the prune moved the sequence: %d, %v", head, err)
	}
	if tokens, others, err := s.RevocationPrune(ctx, 100); err != nil || tokens+others != 0 {
		t.Errorf("a second prune: %d, %d, %v", tokens, others, err)
	}
}

func chunks(t *testing.T, x store.Executor) []string {
	t.Helper()
	var out []string
	check(t, x.PackedEach(ctx, func(c []byte) error {
		out = append(out, string(c)) // copied: c is the engine's
		return nil
	}))
	return out
}

func testPacked(t *testing.T, s store.Store) {
	if n, err := s.PackedSize(ctx); err != nil || n != 0 || len(chunks(t, s)) != 0 {
		t.Errorf("packed entries of an empty list: %d, %v", n, err)
	}
	for _, r := range []string{"aa", "bb", "cc", "dd", "ee"} {
		check(t, s.PackedAppend(ctx, []byte(r), 4)) // two records of 2 bytes to a chunk
	}
	if got := chunks(t, s); !slices.Equal(got, []string{"aabb", "ccdd", "ee"}) {
		t.Errorf("chunks %q", got)
	}
	if n, err := s.PackedSize(ctx); err != nil || n != 10 {
		t.Errorf("PackedSize = %d, %v; want 10", n, err)
	}
	check(t, s.PackedReplace(ctx, [][]byte{[]byte("xyz"), []byte("w")}))
	if got := chunks(t, s); !slices.Equal(got, []string{"xyz", "w"}) {
		t.Errorf("chunks after PackedReplace %q", got)
	}
	check(t, s.PackedAppend(ctx, []byte("v"), 4))
	if got := chunks(t, s); !slices.Equal(got, []string{"xyz", "wv"}) {
		t.Errorf("chunks after PackedAppend %q", got)
	}
	check(t, s.PackedReplace(ctx, nil))
	if got := chunks(t, s); len(got) != 0 {
		t.Errorf("chunks after PackedReplace(nil) %q", got)
	}
	stop := errors.New("stop")
	check(t, s.PackedReplace(ctx, [][]byte{[]byte("a"), []byte("b")}))
	n := 0
	if err := s.PackedEach(ctx, func([]byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("PackedEach stopped by its function: %v after %d", err, n)
	}
}

func testAudit(t *testing.T, s store.Store) {
	for i := range 5 {
		subject := "alice"
		if i%2 == 1 {
			subject = "bob"
		}
		check(t, s.AuditInsert(ctx, store.AuditRow{ID: 99, At: int64(1000 * (i + 1)), Actor: fmt.Sprint("actor", i), Action: "token.issue",
			Subject: subject, JTI: fmt.Sprint("t", i), KID: "k", Detail: "d"}))
	}
	check(t, s.AuditInsert(ctx, store.AuditRow{At: 6000, Action: "key.add"}))
	all, err := s.AuditList(ctx, store.AuditFilter{Limit: 100})
	check(t, err)
	if len(all) != 6 || all[0].ID >= all[1].ID || all[0] != (store.AuditRow{ID: all[0].ID, At: 1000, Actor: "actor0", Action: "token.issue",
		Subject: "alice", JTI: "t0", KID: "k", Detail: "d"}) {
		t.Fatalf("AuditList = %+v", all)
	}
	if all[5].Actor != "unknown" {
		t.Errorf("an event without actor recorded as %q, want unknown", all[5].Actor)
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want []string // JTIs, oldest first
	}{
		{store.AuditFilter{Limit: 2}, []string{"t4", ""}}, // the newest two
		{store.AuditFilter{Subject: "bob", Limit: 100}, []string{"t1", "t3"}},
		{store.AuditFilter{JTI: "t2", Limit: 100}, []string{"t2"}},
		{store.AuditFilter{Since: 3000, Limit: 100}, []string{"t2", "t3", "t4", ""}},
		{store.AuditFilter{Subject: "alice", Since: 2000, Limit: 1}, []string{"t4"}},
		// Paging back from an event: the newest of those before it.
		{store.AuditFilter{Before: all[3].ID, Limit: 2}, []string{"t1", "t2"}},
		{store.AuditFilter{Before: all[1].ID, Limit: 2}, []string{"t0"}},
		{store.AuditFilter{Before: all[0].ID, Limit: 2}, nil},
		{store.AuditFilter{Subject: "alice", Before: all[4].ID, Limit: 100}, []string{"t0", "t2"}},
		{store.AuditFilter{Before: all[5].ID + 1000, Limit: 1}, []string{""}},
	} {
		rows, err := s.AuditList(ctx, tc.f)
		check(t, err)
		var got []string
		for _, r := range rows {
			got = append(got, r.JTI)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("AuditList(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func testTransactions(t *testing.T, s store.Store) {
	// Rolled back: nothing of it.
	tx, err := s.Begin(ctx)
	check(t, err)
	check(t, tx.MetaPut(ctx, "a", []byte("1")))
	if got, err := tx.MetaGet(ctx, "a"); err != nil || string(got) != "1" {
		t.Errorf("a transaction reads its own write: %q, %v", got, err)
	}
	check(t, tx.Rollback())
	if _, err := s.MetaGet(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after Rollback: %v, want ErrNotFound", err)
	}
	// Committed: all of it; Rollback afterwards does nothing.
	tx, err = s.Begin(ctx)
	check(t, err)
	check(t, tx.MetaPut(ctx, "a", []byte("2")))
	// A joined transaction commits with the one it joined.
	sub, err := tx.Begin(ctx)
	check(t, err)
	check(t, sub.MetaPut(ctx, "c", []byte("3")))
	nested, err := sub.Begin(ctx)
	check(t, err)
	check(t, nested.MetaPut(ctx, "d", []byte("4")))
	check(t, nested.Commit())
	if err := nested.MetaPut(ctx, "e", []byte("5")); err == nil {
		t.Error("a write through a joined transaction after its Commit was taken")
	}
	check(t, sub.Commit())
	check(t, sub.Rollback())
	check(t, tx.Commit())
	check(t, tx.Rollback())
	for name, want := range map[string]string{"a": "2", "c": "3", "d": "4", "e": ""} {
		got, err := s.MetaGet(ctx, name)
		if want == "" && !errors.Is(err, store.ErrNotFound) || want != "" && (err != nil || string(got) != want) {
			t.Errorf("meta %s after the commit: %q, %v; want %q", name, got, err, want)
		}
	}
	// A joined transaction rolled back undoes the whole transaction: what
	// its parent wrote before and after, and what a transaction joined to
	// it wrote; nothing runs in it afterwards, and its Commit fails.
	tx, err = s.Begin(ctx)
	check(t, err)
	check(t, tx.MetaPut(ctx, "f", []byte("6")))
	sub, err = tx.Begin(ctx)
	check(t, err)
	inner, err := sub.Begin(ctx)
	check(t, err)
	check(t, inner.MetaPut(ctx, "g", []byte("7")))
	check(t, sub.Rollback())
	if err := inner.MetaPut(ctx, "h", []byte("8")); err == nil {
		t.Error("a write through a transaction joined to one rolled back was taken")
	}
	if err := tx.MetaPut(ctx, "i", []byte("9")); err == nil {
		t.Error("a write after a joined transaction rolled back was taken")
	}
	if err := tx.Commit(); err == nil {
		t.Error("Commit after a joined transaction rolled back succeeded")
	}
	for _, name := range []string{"f", "g", "h", "i"} {
		if got, err := s.MetaGet(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("meta %s after a joined rollback: %q, %v; want ErrNotFound", name, got, err)
		}
	}
	// A read-only transaction takes no write, and nothing joined to it
	// does.
	rtx, err := s.BeginRead(ctx)
	check(t, err)
	if err := rtx.MetaPut(ctx, "j", []byte("10")); err == nil {
		t.Error("a write within BeginRead's transaction was taken")
	}
	if w, err := rtx.Begin(ctx); err == nil {
		if err := w.MetaPut(ctx, "j", []byte("10")); err == nil {
			t.Error("a write within a transaction joined to a read-only one was taken")
		}
	}
	check(t, rtx.Commit())
	if got, err := s.MetaGet(ctx, "j"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("meta j after a read-only transaction: %q, %v; want ErrNotFound", got, err)
	}
	// An operation of several statements called on the store is a
	// transaction of its own: a failing one leaves nothing.
	check(t, s.KeyInsert(ctx, key("k", "jwt", "active", 1)))
	err = s.TokenInsertMany(ctx, []store.TokenRow{token("t1", "a", "k", 1, 2), token("t1", "a", "k", 1, 2)}, nil)
	if err == nil {
		t.Fatal("two records of one jti accepted")
	}
	if _, err := s.TokenGet(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed TokenInsertMany left its first row: %v", err)
	}
}

func testReadSnapshot(t *testing.T, s store.Store) {
	_, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "t1", ExpiresAt: 10})
	check(t, err)
	check(t, s.PackedAppend(ctx, []byte("r1"), 100))
	rt, err := s.BeginRead(ctx)
	check(t, err)
	defer rt.Rollback()
	head, epoch, err := rt.RevocationHead(ctx)
	if err != nil || head != 1 {
		t.Fatalf("RevocationHead in the snapshot: %d, %v", head, err)
	}
	// Writers are not blocked, and the snapshot does not see them.
	_, err = s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "t2", ExpiresAt: 10})
	check(t, err)
	check(t, s.PackedAppend(ctx, []byte("r2"), 100))
	if head, e, err := rt.RevocationHead(ctx); err != nil || head != 1 || !bytes.Equal(e, epoch) {
		t.Errorf("the snapshot saw a later write: head %d, %v", head, err)
	}
	if got := chunks(t, rt); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("packed entries in the snapshot %q", got)
	}
	if got := seqs(t, rt, store.RevocationFilter{}); !slices.Equal(got, []int64{1}) {
		t.Errorf("entries in the snapshot %v", got)
	}
	check(t, rt.Commit())
	if head, _, err := s.RevocationHead(ctx); err != nil || head != 2 {
		t.Errorf("after the snapshot: %d, %v", head, err)
	}
}

// testNow: the database's clock is this machine's (a test's database is
// local), and within a transaction, read-only or not, it is the time of
// the call, not of the transaction's start: it moves on while the
// transaction lasts. An ended Tx refuses it.
func testNow(t *testing.T, s store.Store) {
	for _, read := range []bool{false, true} {
		t.Run(fmt.Sprintf("read=%v", read), func(t *testing.T) {
			begin := s.Begin
			if read {
				begin = s.BeginRead
			}
			tx, err := begin(ctx)
			check(t, err)
			defer tx.Rollback()
			start, err := tx.Now(ctx)
			check(t, err)
			if local := time.Now().Unix(); start < local-60 || start > local+60 {
				t.Fatalf("the database's clock says %d, this machine's %d", start, local)
			}
			// Wait for the next second, a few at most on a busy machine.
			deadline := time.Now().Add(5 * time.Second)
			for now := start; now == start; {
				if time.Now().After(deadline) {
					t.Fatalf("the database's clock stayed at %d within a transaction", start)
				}
				time.Sleep(20 * time.Millisecond)
				if now, err = tx.Now(ctx); err != nil {
					t.Fatal(err)
				} else if now < start {
					t.Fatalf("the database's clock went back from %d to %d", start, now)
				}
			}
			check(t, tx.Rollback())
			if _, err := tx.Now(ctx); err == nil {
				t.Error("an ended transaction read the clock")
			}
		})
	}
	if _, err := s.Now(ctx); err != nil {
		t.Error(err)
	}
}

// testCompromiseAtomic: the shape of keys.Ring.Compromise, the key
// withdrawn and its tokens revoked in one transaction, the revocation in a
// subtransaction. When the revocation fails, nothing of the withdrawal is
// left.
func testCompromiseAtomic(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("a", "jwt", "active", 1)))
	check(t, s.KeyInsert(ctx, key("n", "jwt", "next", 2)))
	check(t, s.MetaPut(ctx, store.MetaKeySeal, []byte("seal 1")))
	// A key revocation exists already (a row planted, say): the insert of
	// the transaction below fails.
	_, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeKey, Value: "a", ExpiresAt: 100})
	check(t, err)
	before, beforeSeal, err := s.KeyRows(ctx, store.KeyFilter{})
	check(t, err)

	compromise := func(s store.Store) error {
		tx, err := s.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		a, n := keyRow(t, tx, "a"), keyRow(t, tx, "n")
		a.State, a.Compromised = "compromised", store.At(10)
		if err := tx.KeyUpdate(ctx, a, "active", false); err != nil {
			return err
		}
		n.State, n.Activated = "active", store.At(10)
		if err := tx.KeyUpdate(ctx, n, "next", true); err != nil {
			return err
		}
		if err := tx.KeyInsert(ctx, key("fresh", "jwt", "next", 10)); err != nil {
			return err
		}
		if err := tx.MetaPut(ctx, store.MetaKeySeal, []byte("seal 2")); err != nil {
			return err
		}
		if err := tx.AuditInsert(ctx, store.AuditRow{At: 10, Action: "key.compromise", KID: "a"}); err != nil {
			return err
		}
		sub, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		defer sub.Rollback()
		if _, err := sub.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeKey, Value: "a", ExpiresAt: 1000}); err != nil {
			return err
		}
		if err := sub.AuditInsert(ctx, store.AuditRow{At: 10, Action: "key.revoke", KID: "a"}); err != nil {
			return err
		}
		if err := sub.Commit(); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := compromise(s); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("compromise whose revocation conflicts: %v, want ErrConflict", err)
	}
	after, afterSeal, err := s.KeyRows(ctx, store.KeyFilter{})
	check(t, err)
	if len(after) != len(before) || !bytes.Equal(afterSeal, beforeSeal) {
		t.Errorf("a failed compromise left %d key rows (had %d), seal %q", len(after), len(before), afterSeal)
	}
	for i := range min(len(before), len(after)) {
		if !keysEqual(before[i], after[i]) {
			t.Errorf("a failed compromise changed %+v into %+v", before[i], after[i])
		}
	}
	if log, err := s.AuditList(ctx, store.AuditFilter{Limit: 10}); err != nil || len(log) != 0 {
		t.Errorf("a failed compromise left audit events %+v, %v", log, err)
	}
	// Without the conflict, all of it.
	check(t, s.RevocationDelete(ctx, 1))
	check(t, compromise(s))
	if got := keyRow(t, s, "a"); got.State != "compromised" || got.Private != nil {
		t.Errorf("compromised key %+v", got)
	}
	if _, err := s.RevocationGet(ctx, store.RevokeKey, "a"); err != nil {
		t.Errorf("the key's revocation: %v", err)
	}
	if log, err := s.AuditList(ctx, store.AuditFilter{Limit: 10}); err != nil || len(log) != 2 {
		t.Errorf("audit events of the compromise %+v, %v", log, err)
	}
}

// testRegenerateAtomic: the shape of issuer.Regenerate, the replacement
// recorded and the old token revoked in one transaction. When the
// revocation fails, nothing of the replacement is left.
func testRegenerateAtomic(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k", "jwt", "active", 1)))
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{token("old", "alice", "k", 1, 100)}, nil))
	// The old token's revocation exists already and the new one takes
	// effect sooner: the rules would replace it; here the insert conflicts.
	_, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "old", EffectiveAt: 90, ExpiresAt: 100})
	check(t, err)
	check(t, s.PackedAppend(ctx, []byte("old 90"), 100))

	regenerate := func(s store.Store) error {
		tx, err := s.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if state, err := tx.KeyState(ctx, "k"); err != nil || state != "active" {
			return fmt.Errorf("key state %q, %v", state, err)
		}
		err = tx.TokenInsertMany(ctx, []store.TokenRow{token("new", "alice", "k", 2, 101)},
			[]store.AuditRow{{At: 2, Action: "token.regenerate", JTI: "new"}})
		if err != nil {
			return err
		}
		sub, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		defer sub.Rollback()
		if _, err := sub.TokenGet(ctx, "old"); err != nil {
			return err
		}
		if _, err := sub.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "old", EffectiveAt: 2, ExpiresAt: 100}); err != nil {
			return err
		}
		if err := sub.AuditInsert(ctx, store.AuditRow{At: 2, Action: "token.revoke", JTI: "old"}); err != nil {
			return err
		}
		if err := sub.PackedAppend(ctx, []byte("old 2"), 100); err != nil {
			return err
		}
		if err := sub.Commit(); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := regenerate(s); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("regenerate whose revocation conflicts: %v, want ErrConflict", err)
	}
	if _, err := s.TokenGet(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed regeneration left the replacement: %v", err)
	}
	if log, err := s.AuditList(ctx, store.AuditFilter{Limit: 10}); err != nil || len(log) != 0 {
		t.Errorf("a failed regeneration left audit events %+v, %v", log, err)
	}
	if got := chunks(t, s); !slices.Equal(got, []string{"old 90"}) {
		t.Errorf("a failed regeneration changed the packed entries: %q", got)
	}
	check(t, s.RevocationDelete(ctx, 1))
	check(t, s.PackedReplace(ctx, nil))
	check(t, regenerate(s))
	if _, err := s.TokenGet(ctx, "new"); err != nil {
		t.Errorf("the replacement: %v", err)
	}
	if e, err := s.RevocationGet(ctx, store.RevokeToken, "old"); err != nil || e.EffectiveAt != 2 {
		t.Errorf("the old token's revocation: %+v, %v", e, err)
	}
	if log, err := s.AuditList(ctx, store.AuditFilter{Limit: 10}); err != nil || len(log) != 2 {
		t.Errorf("audit events of the regeneration %+v, %v", log, err)
	}
}

// testReadAll: MetaEach, TokenEach and AuditEach read every row as it is,
// tokens in insertion order and events by ID, and stop at fn's error.
func testReadAll(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	// Inserted out of the order of their issuance.
	toks := []store.TokenRow{token("t2", "bob", "k1", 300, 1000), token("t1", "alice", "k1", 100, 1000), token("t3", "carol", "k1", 200, 1000)}
	toks[2].Description, toks[2].AllowedIPs, toks[2].Parent = "child", "192.0.2.0/24", "t1"
	events := []store.AuditRow{{At: 3000, Actor: "a", Action: "token.issue", JTI: "t2"}, {At: 1000, Actor: "b", Action: "key.add", KID: "k1", Detail: "d"}}
	check(t, s.TokenInsertMany(ctx, toks[:1], events[:1]))
	check(t, s.TokenInsertMany(ctx, toks[1:], events[1:]))
	check(t, s.MetaPut(ctx, "b", []byte{2}))
	check(t, s.MetaPut(ctx, "a", []byte{1}))

	var gotToks []store.TokenRow
	check(t, s.TokenEach(ctx, func(r *store.TokenRow) error {
		gotToks = append(gotToks, *r)
		return nil
	}))
	if !slices.Equal(gotToks, toks) {
		t.Errorf("TokenEach = %+v, want %+v", gotToks, toks)
	}
	var gotEvents []store.AuditRow
	check(t, s.AuditEach(ctx, func(r *store.AuditRow) error {
		gotEvents = append(gotEvents, *r)
		return nil
	}))
	if len(gotEvents) != 2 || gotEvents[0].ID >= gotEvents[1].ID {
		t.Fatalf("AuditEach = %+v", gotEvents)
	}
	for i := range events {
		if want := events[i]; gotEvents[i] != (store.AuditRow{ID: gotEvents[i].ID, At: want.At, Actor: want.Actor, Action: want.Action, JTI: want.JTI, KID: want.KID, Detail: want.Detail}) {
			t.Errorf("AuditEach event %d = %+v, want %+v", i, gotEvents[i], want)
		}
	}
	meta := map[string]string{}
	var names []string
	check(t, s.MetaEach(ctx, func(name string, value []byte) error {
		names = append(names, name)
		meta[name] = string(value) // copied: value is the engine's
		return nil
	}))
	if !slices.IsSorted(names) || meta["a"] != "\x01" || meta["b"] != "\x02" || meta[store.MetaRevocationEpoch] == "" || len(meta) != 3 {
		t.Errorf("MetaEach = %q in the order %q; want a, b and the epoch, by name", meta, names)
	}

	stop := errors.New("stop")
	for name, each := range map[string]func(n *int) error{
		"MetaEach":  func(n *int) error { return s.MetaEach(ctx, func(string, []byte) error { *n++; return stop }) },
		"TokenEach": func(n *int) error { return s.TokenEach(ctx, func(*store.TokenRow) error { *n++; return stop }) },
		"AuditEach": func(n *int) error { return s.AuditEach(ctx, func(*store.AuditRow) error { *n++; return stop }) },
	} {
		if n := 0; !errors.Is(each(&n), stop) || n != 1 {
			t.Errorf("%s stopped by its function after %d calls", name, n)
		}
	}
}

// testRevocationRestore: entries keep their numbers and every field; the
// last becomes the head, from which RevocationInsert goes on; numbers that
// do not ascend above the head, and second entries, are ErrConflict.
func testRevocationRestore(t *testing.T, s store.Store) {
	check(t, s.RevocationRestore(ctx, nil))
	rows := []store.RevocationRow{
		{Seq: 3, Kind: store.RevokeToken, Value: "t1", EffectiveAt: 10, ExpiresAt: 100, Reason: "leaked", Actor: "admin", CreatedAt: 9},
		{Seq: 7, Kind: store.RevokeSubject, Value: "alice", IssuedBefore: store.At(20), EffectiveAt: 20, ExpiresAt: 200, CreatedAt: 20},
		{Seq: 8, Kind: store.RevokeKey, Value: "k1", EffectiveAt: 30, ExpiresAt: 300, Reason: "r", Actor: "b", CreatedAt: 30},
	}
	check(t, s.RevocationRestore(ctx, rows[:1]))
	check(t, s.RevocationRestore(ctx, rows[1:]))
	var got []store.RevocationRow
	check(t, s.RevocationEach(ctx, store.RevocationFilter{}, func(r *store.RevocationRow) error {
		got = append(got, *r)
		return nil
	}))
	if !slices.Equal(got, rows) {
		t.Errorf("restored entries read back as %+v, want %+v", got, rows)
	}
	if head, _, err := s.RevocationHead(ctx); err != nil || head != 8 {
		t.Errorf("RevocationHead after the restore = %d, %v; want 8", head, err)
	}
	for _, bad := range [][]store.RevocationRow{
		{{Seq: 5, Kind: store.RevokeToken, Value: "t9"}},                                                  // below the head, though no entry holds it
		{{Seq: 8, Kind: store.RevokeToken, Value: "t9"}},                                                  // not above the head
		{{Seq: 10, Kind: store.RevokeToken, Value: "t9"}, {Seq: 9, Kind: store.RevokeToken, Value: "t8"}}, // descending
		{{Seq: 11, Kind: store.RevokeToken, Value: "t1"}},                                                 // t1 is revoked already
		{{Seq: 12, Kind: store.RevokeKey, Value: "k1"}},
	} {
		tx, err := s.Begin(ctx)
		check(t, err)
		if err := tx.RevocationRestore(ctx, bad); !errors.Is(err, store.ErrConflict) {
			t.Errorf("RevocationRestore(%+v): %v, want ErrConflict", bad, err)
		}
		// The transaction stays usable.
		if _, _, err := tx.RevocationHead(ctx); err != nil {
			t.Errorf("the transaction after a refused restore: %v", err)
		}
		check(t, tx.Rollback())
	}
	if seq, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "t2", EffectiveAt: 1, ExpiresAt: 2}); err != nil || seq != 9 {
		t.Errorf("RevocationInsert after the restore: seq %d, %v; want 9", seq, err)
	}
}

func session(id byte, exp int64) store.SessionRow {
	return store.SessionRow{ID: bytes.Repeat([]byte{id}, 32), JTI: fmt.Sprintf("jti-%d", id), Subject: "alice", KID: "k1",
		Scopes: "writ:admin", Audience: "https://writ.example", AllowedIPs: "10.0.0.0/8", IssuedAt: 50, TokenExpAt: 500,
		CreatedAt: 100, ExpiresAt: exp, SeenAt: 100}
}

func testSessions(t *testing.T, s store.Store) {
	a, b := session(1, 200), session(2, 300)
	check(t, s.SessionInsert(ctx, a))
	check(t, s.SessionInsert(ctx, b))
	if err := s.SessionInsert(ctx, a); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second SessionInsert of an id: %v, want ErrConflict", err)
	}
	for _, tc := range []struct {
		name string
		id   []byte
		at   int64
		want *store.SessionRow
	}{
		{"live", a.ID, 199, &a},
		{"at its expiry", a.ID, 200, nil},
		{"other live", b.ID, 250, &b},
		{"unknown", bytes.Repeat([]byte{9}, 32), 0, nil},
		{"a link is no session", session(3, 900).ID, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "a link is no session" {
				check(t, s.SessionLinkInsert(ctx, session(3, 900)))
			}
			got, err := s.SessionGet(ctx, tc.id, tc.at)
			switch {
			case tc.want == nil && !errors.Is(err, store.ErrNotFound):
				t.Errorf("SessionGet = %+v, %v; want ErrNotFound", got, err)
			case tc.want != nil && (err != nil || !sessionsEqual(got, *tc.want)):
				t.Errorf("SessionGet = %+v, %v; want %+v", got, err, *tc.want)
			}
		})
	}
	check(t, s.SessionDelete(ctx, b.ID))
	check(t, s.SessionDelete(ctx, b.ID)) // a missing row is not an error
	if _, err := s.SessionGet(ctx, b.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionGet after SessionDelete: %v, want ErrNotFound", err)
	}
	check(t, s.SessionInsert(ctx, session(4, 1000)))
	// a (200) and the link (900) expired by 900; session 4 has not.
	if n, err := s.SessionPrune(ctx, 900); err != nil || n != 2 {
		t.Errorf("SessionPrune(900) = %d, %v; want 2", n, err)
	}
	if _, err := s.SessionLinkTake(ctx, session(3, 0).ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a pruned link was taken: %v", err)
	}
	if _, err := s.SessionGet(ctx, session(4, 0).ID, 900); err != nil {
		t.Errorf("SessionPrune deleted a live session: %v", err)
	}
}

func sessionsEqual(a, b store.SessionRow) bool {
	return bytes.Equal(a.ID, b.ID) && reflect.DeepEqual(a.Fields()[1:], b.Fields()[1:])
}

// onceOnly runs take concurrently, 8 times, and checks that one took
// what (nil) and the others found nothing (ErrNotFound).
func onceOnly(t *testing.T, what string, take func() error) {
	t.Helper()
	const takers = 8
	got := make(chan error, takers)
	for range takers {
		go func() { got <- take() }()
	}
	var taken int
	for range takers {
		switch err := <-got; {
		case err == nil:
			taken++
		case !errors.Is(err, store.ErrNotFound):
			t.Error(err)
		}
	}
	if taken != 1 {
		t.Errorf("%d concurrent takes got %s, want 1", taken, what)
	}
}

func testSessionLinks(t *testing.T, s store.Store) {
	l := session(1, 200)
	check(t, s.SessionLinkInsert(ctx, l))
	if err := s.SessionLinkInsert(ctx, l); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second SessionLinkInsert of an id: %v, want ErrConflict", err)
	}
	if _, err := s.SessionGet(ctx, l.ID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a link read as a session: %v", err)
	}
	if _, err := s.SessionLinkTake(ctx, l.ID, 200); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired link taken: %v, want ErrNotFound", err)
	}
	// Concurrent takes: one gets the link.
	live := session(2, 1000)
	check(t, s.SessionLinkInsert(ctx, live))
	onceOnly(t, "the link", func() error {
		r, err := s.SessionLinkTake(ctx, live.ID, 500)
		if err == nil && !sessionsEqual(r, live) {
			err = fmt.Errorf("took %+v, want %+v", r, live)
		}
		return err
	})
	// Within a transaction that rolls back, the link stays.
	again := session(3, 1000)
	check(t, s.SessionLinkInsert(ctx, again))
	tx, err := s.Begin(ctx)
	check(t, err)
	if _, err := tx.SessionLinkTake(ctx, again.ID, 500); err != nil {
		t.Fatal(err)
	}
	check(t, tx.Rollback())
	if _, err := s.SessionLinkTake(ctx, again.ID, 500); err != nil {
		t.Errorf("a take rolled back took the link for good: %v", err)
	}
}

// testSessionSeen: SessionSeen records a session's last request, which
// SessionGet then returns; it leaves links and other sessions be.
func testSessionSeen(t *testing.T, s store.Store) {
	a, b, l := session(1, 1000), session(2, 1000), session(3, 1000)
	check(t, s.SessionInsert(ctx, a))
	check(t, s.SessionInsert(ctx, b))
	check(t, s.SessionLinkInsert(ctx, l))
	check(t, s.SessionSeen(ctx, a.ID, 400))
	check(t, s.SessionSeen(ctx, l.ID, 400))
	check(t, s.SessionSeen(ctx, bytes.Repeat([]byte{9}, 32), 400)) // a missing row is not an error
	if got, err := s.SessionGet(ctx, a.ID, 500); err != nil || got.SeenAt != 400 {
		t.Errorf("SessionGet after SessionSeen(400): SeenAt %d, %v", got.SeenAt, err)
	}
	if got, err := s.SessionGet(ctx, b.ID, 500); err != nil || got.SeenAt != 100 {
		t.Errorf("SessionSeen of another session changed this one: SeenAt %d, %v", got.SeenAt, err)
	}
	if got, err := s.SessionLinkTake(ctx, l.ID, 500); err != nil || got.SeenAt != 100 {
		t.Errorf("SessionSeen changed a link: SeenAt %d, %v", got.SeenAt, err)
	}
}

// testSessionHeld: a session holds one value under a name for one take,
// which one of concurrent takes gets; links and missing sessions hold
// nothing.
func testSessionHeld(t *testing.T, s store.Store) {
	a, b, l := session(1, 1000), session(2, 1000), session(3, 1000)
	check(t, s.SessionInsert(ctx, a))
	check(t, s.SessionInsert(ctx, b))
	check(t, s.SessionLinkInsert(ctx, l))
	for _, id := range [][]byte{l.ID, bytes.Repeat([]byte{9}, 32)} {
		if err := s.SessionHold(ctx, id, "x", []byte{1}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionHold on no session: %v, want ErrNotFound", err)
		}
	}
	take := func(id []byte, name string, want []byte) {
		t.Helper()
		got, err := s.SessionTakeHeld(ctx, id, name)
		switch {
		case want == nil && !errors.Is(err, store.ErrNotFound):
			t.Errorf("SessionTakeHeld(%q) = %x, %v; want ErrNotFound", name, got, err)
		case want != nil && (err != nil || !bytes.Equal(got, want)):
			t.Errorf("SessionTakeHeld(%q) = %x, %v; want %x", name, got, err, want)
		}
	}
	take(a.ID, "", nil) // nothing held yet
	check(t, s.SessionHold(ctx, a.ID, "first", []byte("one")))
	check(t, s.SessionHold(ctx, a.ID, "second", []byte("two"))) // replaces
	check(t, s.SessionHold(ctx, b.ID, "second", []byte("b's")))
	take(a.ID, "first", nil)
	take(a.ID, "", nil)
	take(a.ID, "second", []byte("two"))
	take(a.ID, "second", nil) // once
	take(b.ID, "second", []byte("b's"))
	if got, err := s.SessionGet(ctx, a.ID, 500); err != nil || !sessionsEqual(got, a) {
		t.Errorf("the session after a take: %+v, %v", got, err)
	}
	// Concurrent takes: one gets the value.
	check(t, s.SessionHold(ctx, a.ID, "raced", []byte("r")))
	onceOnly(t, "the value", func() error {
		v, err := s.SessionTakeHeld(ctx, a.ID, "raced")
		if err == nil && string(v) != "r" {
			err = fmt.Errorf("took %q, want r", v)
		}
		return err
	})
	// Ending the session forgets what it held.
	check(t, s.SessionHold(ctx, b.ID, "gone", []byte("g")))
	check(t, s.SessionDelete(ctx, b.ID))
	check(t, s.SessionInsert(ctx, b))
	take(b.ID, "gone", nil)
}

// TokenSearch is the suite's test of TokenFilter.Search, on an empty
// database s: it finds tokens by a part of their name or subject (no
// patterns), ignoring the case of ASCII letters only, and counts alike.
// Exercise runs it; an engine whose databases have locales runs it again
// on one whose locale folds every letter.
func TokenSearch(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	rows := []store.TokenRow{token("s1", "svc-Billing", "k1", 300, 5000), token("s2", "bob", "k1", 301, 5000), token("s3", "carol", "k1", 302, 5000),
		token("s4", "ÉCOLE", "k1", 303, 5000), token("s5", "école", "k1", 304, 5000), token("s6", "kelvin", "k1", 305, 5000)}
	rows[1].Name, rows[2].Name, rows[5].Name = "CI-billing", "deploy_%", "Straße"
	check(t, s.TokenInsertMany(ctx, rows, nil))
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"billing", []string{"s2", "s1"}},
		{"BILLING", []string{"s2", "s1"}},
		{"bIlLiNg", []string{"s2", "s1"}},
		{"ci-b", []string{"s2"}},
		{"bob", []string{"s2"}},
		{"BOB", []string{"s2"}},
		{"%", []string{"s3"}},
		{"_", []string{"s3"}},
		{"Y_", []string{"s3"}},
		{"nothing", nil},
		{`\`, nil},
		{`\%`, nil},
		// Other letters match only as written, on every engine.
		{"ÉCOLE", []string{"s4"}},
		{"école", []string{"s5"}},
		{"Écol", []string{"s4"}},
		{"COLE", []string{"s5", "s4"}},
		{"ß", []string{"s6"}},
		{"STRASSE", nil},
		{"STRAßE", []string{"s6"}},
		{"\u212aelvin", nil}, // the Kelvin sign is not K
	} {
		f := store.TokenFilter{Search: tc.search, At: 1, Limit: 100}
		got, err := s.TokenList(ctx, f)
		check(t, err)
		if !slices.Equal(tokenIDs(got), tc.want) {
			t.Errorf("Search %q = %v, want %v", tc.search, tokenIDs(got), tc.want)
		}
		if n, err := s.TokenCount(ctx, f); err != nil || n != int64(len(tc.want)) {
			t.Errorf("TokenCount for Search %q = %d, %v; want %d", tc.search, n, err, len(tc.want))
		}
	}
}

// testTokenGetMany: the recorded tokens among the jtis asked for, whole,
// the others left out.
func testTokenGetMany(t *testing.T, s store.Store) {
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	toks := []store.TokenRow{token("t1", "alice", "k1", 100, 1000), token("t2", "bob", "k1", 100, 1000), token("t3", "carol", "k1", 100, 1000)}
	toks[1].RevokedAt, toks[1].Parent = 500, "t1"
	check(t, s.TokenInsertMany(ctx, toks, nil))
	for _, tc := range []struct {
		jtis []string
		want []store.TokenRow
	}{
		{nil, nil},
		{[]string{"nope"}, nil},
		{[]string{"t2", "nope", "t1", "t2"}, toks[:2]},
		{[]string{`"t3`, "t3'", "t3"}, toks[2:]}, // quotes are data
	} {
		got, err := s.TokenGetMany(ctx, tc.jtis)
		check(t, err)
		slices.SortFunc(got, func(a, b store.TokenRow) int { return strings.Compare(a.JTI, b.JTI) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("TokenGetMany(%q) = %+v, want %+v", tc.jtis, got, tc.want)
		}
	}
}

// usageTokens records the tokens the usage tests use: t1 and t2 expire
// at 1000, t3 at 5000.
func usageTokens(t *testing.T, s store.Store) {
	t.Helper()
	check(t, s.KeyInsert(ctx, key("k1", "jwt", "active", 1)))
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{token("t1", "alice", "k1", 10, 1000), token("t2", "bob", "k1", 20, 1000),
		token("t3", "carol", "k1", 30, 5000)}, nil))
}

// testUsageRecord: deltas add up into a summary, row by row, the last
// client following the last use; UsageGet reads it back ordered, days
// only when asked; a delta of an unknown token is refused.
func testUsageRecord(t *testing.T, s store.Store) {
	usageTokens(t, s)
	check(t, s.UsageRecord(ctx, nil))
	check(t, s.UsageRecord(ctx, []store.Usage{{
		JTI: "t1", First: 100, Last: 200, LastClient: "192.0.2.1", Uses: 2,
		Reasons:  []store.UsageReason{{Reason: "expired", N: 1}},
		Days:     []store.UsageDay{{Day: 1, Uses: 2, Refused: 1}},
		Clients:  []store.UsageClient{{Addr: "192.0.2.1", First: 100, Last: 200, Uses: 3}},
		Networks: []store.UsageNetwork{{Network: "192.0.2.0/24", First: 100}},
	}}))
	tx, err := s.Begin(ctx)
	check(t, err)
	check(t, tx.UsageRecord(ctx, []store.Usage{{
		JTI: "t1", First: 50, Last: 300, LastClient: "2001:db8::1", Uses: 1, ClientsOverflow: 2, AlertedAt: 250,
		Reasons:  []store.UsageReason{{Reason: "ip", N: 1}, {Reason: "expired", N: 2}},
		Days:     []store.UsageDay{{Day: 2, Refused: 1}, {Day: 1, Uses: 1}},
		Clients:  []store.UsageClient{{Addr: "2001:db8::1", First: 300, Last: 300, Uses: 1}, {Addr: "192.0.2.1", First: 60, Last: 150, Uses: 1}},
		Networks: []store.UsageNetwork{{Network: "2001:db8::/48", First: 300}, {Network: "192.0.2.0/24", First: 60}},
	}, {
		JTI: "t2", First: 40, Last: 40, Uses: 1, Days: []store.UsageDay{{Day: 0, Uses: 1}},
	}}))
	check(t, tx.Commit())
	// An earlier last use leaves the last client, and a smaller AlertedAt
	// the larger one.
	check(t, s.UsageRecord(ctx, []store.Usage{{JTI: "t1", First: 250, Last: 250, LastClient: "198.51.100.7", AlertedAt: 10}}))

	want := []store.Usage{{
		JTI: "t1", First: 50, Last: 300, LastClient: "2001:db8::1", Uses: 3, ClientsOverflow: 2, AlertedAt: 250,
		Reasons:  []store.UsageReason{{Reason: "expired", N: 3}, {Reason: "ip", N: 1}},
		Days:     []store.UsageDay{{Day: 1, Uses: 3, Refused: 1}, {Day: 2, Refused: 1}},
		Clients:  []store.UsageClient{{Addr: "192.0.2.1", First: 60, Last: 200, Uses: 4}, {Addr: "2001:db8::1", First: 300, Last: 300, Uses: 1}},
		Networks: []store.UsageNetwork{{Network: "192.0.2.0/24", First: 60}, {Network: "2001:db8::/48", First: 300}},
	}, {
		JTI: "t2", First: 40, Last: 40, Uses: 1, Days: []store.UsageDay{{Day: 0, Uses: 1}},
	}}
	got, err := s.UsageGet(ctx, []string{"t2", "nope", "t3", "t1"}, true)
	check(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UsageGet = %+v\nwant %+v", got, want)
	}
	got, err = s.UsageGet(ctx, []string{"t1"}, false)
	check(t, err)
	noDays := want[0]
	noDays.Days = nil
	if len(got) != 1 || !reflect.DeepEqual(got[0], noDays) {
		t.Errorf("UsageGet without days = %+v\nwant %+v", got, noDays)
	}
	if got, err := s.UsageGet(ctx, nil, true); err != nil || got != nil {
		t.Errorf("UsageGet(nil) = %+v, %v", got, err)
	}
	var each []store.Usage
	check(t, s.UsageEach(ctx, func(u *store.Usage) error {
		each = append(each, *u)
		return nil
	}))
	if !reflect.DeepEqual(each, want) {
		t.Errorf("UsageEach = %+v\nwant %+v", each, want)
	}
	stop := errors.New("stop")
	if n := 0; !errors.Is(s.UsageEach(ctx, func(*store.Usage) error { n++; return stop }), stop) || n != 1 {
		t.Errorf("UsageEach stopped by its function after %d calls", n)
	}
	if err := s.UsageRecord(ctx, []store.Usage{{JTI: "nope", First: 1, Last: 1}}); err == nil {
		t.Error("a summary of a token never recorded was written")
	}
	if got, err := s.UsageGet(ctx, []string{"nope"}, true); err != nil || len(got) != 0 {
		t.Errorf("after a refused delta: %+v, %v", got, err)
	}
}

// testUsageList: TokenList reads each token's last use, selects those
// never used, and pages by last use, the tokens never used last.
func testUsageList(t *testing.T, s store.Store) {
	usageTokens(t, s)
	check(t, s.TokenInsertMany(ctx, []store.TokenRow{token("t4", "dave", "k1", 40, 5000), token("t5", "erin", "k1", 50, 5000)}, nil))
	check(t, s.UsageRecord(ctx, []store.Usage{{JTI: "t1", First: 100, Last: 700}, {JTI: "t3", First: 100, Last: 300}, {JTI: "t4", First: 100, Last: 700}}))
	rows, err := s.TokenList(ctx, store.TokenFilter{JTI: "t1", Limit: 1})
	if check(t, err); len(rows) != 1 || rows[0].LastUse != 700 {
		t.Errorf("TokenList(t1) = %+v, want its last use 700", rows)
	}
	for _, tc := range []struct {
		f    store.TokenFilter
		want []string
	}{
		{store.TokenFilter{NeverUsed: true, Limit: 10}, []string{"t5", "t2"}},
		{store.TokenFilter{NeverUsed: true, Subject: "bob", Limit: 10}, []string{"t2"}},
		{store.TokenFilter{ByLastUse: true, Limit: 10}, []string{"t4", "t1", "t3", "t5", "t2"}},
		{store.TokenFilter{ByLastUse: true, NeverUsed: true, Limit: 10}, []string{"t5", "t2"}},
	} {
		rows, err := s.TokenList(ctx, tc.f)
		check(t, err)
		if ids := tokenIDs(rows); !slices.Equal(ids, tc.want) {
			t.Errorf("TokenList(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
		if n, err := s.TokenCount(ctx, tc.f); err != nil || n != int64(len(tc.want)) {
			t.Errorf("TokenCount(%+v) = %d, %v; want %d", tc.f, n, err, len(tc.want))
		}
	}
	got := pages(t, s, store.TokenFilter{ByLastUse: true, Limit: 2}, nil)
	if want := []string{"t4", "t1", "t3", "t5", "t2"}; !slices.Equal(got, want) {
		t.Errorf("pages by last use = %v, want %v", got, want)
	}
}

// testUsagePrune: days before the cut-off go, and whole summaries of the
// tokens expired before the other; the rest stays.
func testUsagePrune(t *testing.T, s store.Store) {
	usageTokens(t, s)
	summary := func(jti string) store.Usage {
		return store.Usage{JTI: jti, First: 100, Last: 200, Uses: 2,
			Reasons:  []store.UsageReason{{Reason: "expired", N: 1}},
			Days:     []store.UsageDay{{Day: 1, Uses: 1}, {Day: 5, Uses: 1, Refused: 1}},
			Clients:  []store.UsageClient{{Addr: "192.0.2.1", First: 100, Last: 200, Uses: 2}},
			Networks: []store.UsageNetwork{{Network: "192.0.2.0/24", First: 100}}}
	}
	check(t, s.UsageRecord(ctx, []store.Usage{summary("t1"), summary("t3")}))
	n, err := s.UsagePrune(ctx, 5, 1001)
	check(t, err)
	// The days 1 of both, and t1's other five rows.
	if n != 7 {
		t.Errorf("UsagePrune deleted %d rows, want 7", n)
	}
	want := summary("t3")
	want.Days = want.Days[1:]
	got, err := s.UsageGet(ctx, []string{"t1", "t3"}, true)
	if check(t, err); !reflect.DeepEqual(got, []store.Usage{want}) {
		t.Errorf("after the prune: %+v, want %+v", got, want)
	}
	if _, err := s.TokenGet(ctx, "t1"); err != nil {
		t.Errorf("the prune deleted the token: %v", err)
	}
	if n, err := s.UsagePrune(ctx, 5, 1001); err != nil || n != 0 {
		t.Errorf("a second prune deleted %d rows, %v", n, err)
	}
}
