package storecopy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storecopy"
)

var ctx = context.Background()

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// engines makes new, empty stores of each engine.
type engines struct {
	pg *pgtest.Cluster
}

func newEngines(t *testing.T) *engines {
	return &engines{pg: pgtest.StartCluster(t)}
}

func (e *engines) new(t testing.TB, engine string) store.Store {
	t.Helper()
	var s store.Store
	var err error
	switch engine {
	case "sqlite":
		s, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "writ.db"), true)
	case "postgres":
		s, err = postgres.Open(ctx, e.pg.NewDatabase(t), true)
	}
	check(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// fill writes rows of every kind into s, as writ would have them after a
// while: keys in every state, some without private halves or MACs; tokens
// inserted out of the order of their issuance; revocation entries with
// gaps in their numbers (deleted ones, the last among them) and a packed
// copy that is not what repacking would make; events with equal times.
// n rows of each bulk kind go past the copy's batches.
func fill(t testing.TB, s store.Store, n int) {
	t.Helper()
	for name, v := range map[string]string{store.MetaMasterKeyCheck: "check", store.MetaKeySeal: "seal", store.MetaPublicationLag: "lag", "other": ""} {
		check(t, s.MetaPut(ctx, name, []byte(v)))
	}
	keys := []store.KeyRow{
		{KID: "k-retired", Format: "jwt", Alg: "EdDSA", State: "retired", Public: []byte("pub 1"), Created: 100,
			Activated: store.At(110), Retired: store.At(200), Unpublish: store.At(300), MAC: []byte("mac 1")},
		{KID: "k-active", Format: "jwt", Alg: "ES256", State: "active", Public: []byte("pub 2"), Private: []byte("sealed 2"), Created: 150,
			Activated: store.At(200), MAC: []byte("mac 2")},
		{KID: "k-next", Format: "jwt", Alg: "EdDSA", State: "next", Public: []byte("pub 3"), Private: []byte("sealed 3"), Created: 150, MAC: []byte("mac 3")},
		{KID: "k-paseto", Format: "paseto", Alg: "v4.public", State: "active", Public: []byte("pub 4"), Private: []byte("sealed 4"), Created: 90,
			Activated: store.At(90), MAC: []byte("mac 4")},
		{KID: "k-gone", Format: "paseto", Alg: "v4.public", State: "compromised", Public: []byte("pub 5"), Created: 80,
			Activated: store.At(80), Compromised: store.At(85), Removed: store.At(85)},
	}
	for _, k := range keys {
		check(t, s.KeyInsert(ctx, k))
	}
	var toks []store.TokenRow
	var events []store.AuditRow
	for i := range n {
		toks = append(toks, store.TokenRow{JTI: fmt.Sprint("jti-", i), Format: "jwt", KID: keys[i%2].KID, Subject: fmt.Sprint("s", i%7),
			Name: fmt.Sprint("name ", i), Scopes: "a b", Audience: "https://api", IssuedAt: int64(1000 + (i*7919)%n), ExpiresAt: int64(5000 + i), IssuedBy: "test"})
		events = append(events, store.AuditRow{At: int64(1000 * (i / 3)), Actor: fmt.Sprint("actor ", i), Action: "token.issue", JTI: toks[i].JTI,
			Subject: toks[i].Subject, KID: toks[i].KID, Detail: fmt.Sprint(i)})
	}
	check(t, s.TokenInsertMany(ctx, toks, events))
	for i, r := range []store.RevocationRow{
		{Kind: store.RevokeToken, Value: "jti-0", EffectiveAt: 10, ExpiresAt: 5000, Reason: "leaked", Actor: "admin", CreatedAt: 9},
		{Kind: store.RevokeToken, Value: "jti-1", EffectiveAt: 500, ExpiresAt: 5001, CreatedAt: 11},
		{Kind: store.RevokeSubject, Value: "s3", IssuedBefore: store.At(1500), EffectiveAt: 12, ExpiresAt: 9000, CreatedAt: 12},
		{Kind: store.RevokeKey, Value: "k-gone", EffectiveAt: 85, ExpiresAt: 9000, Reason: "compromised", CreatedAt: 85},
		{Kind: store.RevokeToken, Value: "jti-2", EffectiveAt: 13, ExpiresAt: 5002, CreatedAt: 13},
	} {
		seq, err := s.RevocationInsert(ctx, r)
		check(t, err)
		if i != 2 {
			check(t, s.PackedAppend(ctx, []byte(fmt.Sprintf("record %02d", seq)), 20))
		}
	}
	check(t, s.RevocationDelete(ctx, 2))
	check(t, s.RevocationDelete(ctx, 5))
	var more []store.RevocationRow
	for i := range n {
		more = append(more, store.RevocationRow{Seq: int64(10 + 2*i), Kind: store.RevokeToken, Value: fmt.Sprint("bulk-", i), EffectiveAt: 20, ExpiresAt: 6000, CreatedAt: 20})
	}
	check(t, s.RevocationRestore(ctx, more))
	check(t, s.AuditInsert(ctx, store.AuditRow{At: 0, Action: "key.add", KID: "k-next"}))
	// Usage summaries of every third token (not the last of 5, which
	// testChecks loses), some without any list.
	var uses []store.Usage
	for i := 0; i < n; i += 3 {
		u := store.Usage{JTI: toks[i].JTI, First: int64(2000 + i), Last: int64(3000 + i), Uses: int64(i), AlertedAt: int64(i % 3)}
		if i%2 == 0 {
			u.LastClient, u.ClientsOverflow = fmt.Sprint("192.0.2.", i%250), int64(i%5)
			u.Reasons = []store.UsageReason{{Reason: "expired", N: 1}, {Reason: "ip", N: int64(i)}}
			u.Days = []store.UsageDay{{Day: 1, Uses: 2}, {Day: 3, Refused: 1}}
			u.Clients = []store.UsageClient{{Addr: u.LastClient, First: u.First, Last: u.Last, Uses: 3}}
			u.Networks = []store.UsageNetwork{{Network: "192.0.2.0/24", First: u.First}}
		}
		uses = append(uses, u)
	}
	check(t, s.UsageRecord(ctx, uses))
}

// contents is everything a database holds, as the store contract reads it.
type contents struct {
	Epoch       []byte
	Head        int64
	Meta        map[string]string
	Keys        []store.KeyRow
	Seal        []byte
	Tokens      []store.TokenRow
	Revocations []store.RevocationRow
	Packed      []string
	Audit       []store.AuditRow // without their IDs
	Usage       []store.Usage
}

func dump(t *testing.T, s store.Store) contents {
	t.Helper()
	var c contents
	var err error
	c.Head, c.Epoch, err = s.RevocationHead(ctx)
	check(t, err)
	c.Meta = map[string]string{}
	check(t, s.MetaEach(ctx, func(name string, value []byte) error {
		c.Meta[name] = string(value)
		return nil
	}))
	delete(c.Meta, store.MetaRevocationEpoch)
	c.Keys, c.Seal, err = s.KeyRows(ctx, store.KeyFilter{})
	check(t, err)
	check(t, s.TokenEach(ctx, func(r *store.TokenRow) error {
		c.Tokens = append(c.Tokens, *r)
		return nil
	}))
	check(t, s.RevocationEach(ctx, store.RevocationFilter{}, func(r *store.RevocationRow) error {
		c.Revocations = append(c.Revocations, *r)
		return nil
	}))
	check(t, s.PackedEach(ctx, func(chunk []byte) error {
		c.Packed = append(c.Packed, string(chunk))
		return nil
	}))
	check(t, s.AuditEach(ctx, func(r *store.AuditRow) error {
		e := *r
		e.ID = 0
		c.Audit = append(c.Audit, e)
		return nil
	}))
	check(t, s.UsageEach(ctx, func(u *store.Usage) error {
		c.Usage = append(c.Usage, *u)
		return nil
	}))
	return c
}

// same fails t unless a and b hold the same rows; their epochs differ,
// and so may the last sequence number given out, when the source's last
// entries were deleted.
func same(t *testing.T, what string, a, b contents) {
	t.Helper()
	if bytes.Equal(a.Epoch, b.Epoch) || len(b.Epoch) == 0 {
		t.Errorf("%s: the copy has the epoch %x of its source", what, b.Epoch)
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if name := va.Type().Field(i).Name; name != "Epoch" && name != "Head" && !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			t.Errorf("%s: the copy's %s differ from its source's:\n%+v\n%+v", what, name, va.Field(i), vb.Field(i))
		}
	}
}

func counts(c contents) storecopy.Counts {
	return storecopy.Counts{Meta: int64(len(c.Meta)), Keys: int64(len(c.Keys)), Tokens: int64(len(c.Tokens)),
		Revocations: int64(len(c.Revocations)), PackedChunks: int64(len(c.Packed)), Audit: int64(len(c.Audit)), Usage: int64(len(c.Usage))}
}

// TestCopy runs the cases below on one PostgreSQL cluster.
func TestCopy(t *testing.T) {
	e := newEngines(t)
	t.Run("Directions", func(t *testing.T) { testDirections(t, e) })
	t.Run("Refuses", func(t *testing.T) { testRefuses(t, e) })
	t.Run("Checks", func(t *testing.T) { testChecks(t, e) })
	t.Run("Snapshot", func(t *testing.T) { testSnapshot(t, e) })
}

// testDirections copies between the engines in every direction, and back:
// each copy holds what its source holds, but a new revocation epoch, which
// neither the source nor the empty destination had.
func testDirections(t *testing.T, e *engines) {
	for _, tc := range []struct {
		name  string
		chain []string // the engines, source first
		n     int
	}{
		{"sqlite to postgres to sqlite", []string{"sqlite", "postgres", "sqlite"}, 2500},
		{"postgres to sqlite to postgres", []string{"postgres", "sqlite", "postgres"}, 30},
		{"sqlite to sqlite", []string{"sqlite", "sqlite"}, 30},
		{"postgres to postgres", []string{"postgres", "postgres"}, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := e.new(t, tc.chain[0])
			fill(t, src, tc.n)
			want := dump(t, src)
			if len(want.Tokens) != tc.n || len(want.Revocations) != 3+tc.n || len(want.Packed) < 2 || want.Head != int64(8+2*tc.n) || len(want.Usage) != (tc.n+2)/3 {
				t.Fatalf("the source is not what the test means: %d tokens, %d revocations, %d chunks, head %d, %d usage summaries",
					len(want.Tokens), len(want.Revocations), len(want.Packed), want.Head, len(want.Usage))
			}
			epochs := map[string]bool{string(want.Epoch): true}
			for i, engine := range tc.chain[1:] {
				dst := e.new(t, engine)
				// Not even the epoch the empty database had: verifiers may
				// have followed it (emptied by hand, say).
				epochs[string(dump(t, dst).Epoch)] = true
				c, err := storecopy.Copy(ctx, src, dst)
				check(t, err)
				what := fmt.Sprintf("copy %d (%s to %s)", i+1, tc.chain[i], engine)
				if c != counts(want) {
					t.Errorf("%s: counts %+v, want %+v", what, c, counts(want))
				}
				got := dump(t, dst)
				same(t, what, want, got)
				if epochs[string(got.Epoch)] {
					t.Errorf("%s: an epoch seen before", what)
				}
				epochs[string(got.Epoch)] = true
				src = dst
			}
			// The last copy's list goes on from the copied numbers.
			last := want.Revocations[len(want.Revocations)-1].Seq
			if seq, err := src.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "new", ExpiresAt: 1}); err != nil || seq != last+1 {
				t.Errorf("a revocation after the copies got %d, %v; want %d", seq, err, last+1)
			}
		})
	}
}

// testRefuses: a destination that holds anything, or that is the source,
// is refused and left as it was.
func testRefuses(t *testing.T, e *engines) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			src := e.new(t, engine)
			fill(t, src, 3)
			if _, err := storecopy.Copy(ctx, src, src); !errors.Is(err, storecopy.ErrSameDatabase) {
				t.Errorf("a copy onto its source: %v, want ErrSameDatabase", err)
			}
			for what, put := range map[string]func(s store.Store) error{
				"a meta value": func(s store.Store) error { return s.MetaPut(ctx, "x", []byte{1}) },
				"a key": func(s store.Store) error {
					return s.KeyInsert(ctx, store.KeyRow{KID: "k", Format: "jwt", Alg: "EdDSA", State: "retired", Public: []byte("p")})
				},
				"a revocation": func(s store.Store) error {
					_, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeSubject, Value: "s"})
					return err
				},
				"a deleted revocation": func(s store.Store) error {
					seq, err := s.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeSubject, Value: "s"})
					return errors.Join(err, s.RevocationDelete(ctx, seq))
				},
				"a packed revocation": func(s store.Store) error { return s.PackedAppend(ctx, []byte("r"), 10) },
				"an event":            func(s store.Store) error { return s.AuditInsert(ctx, store.AuditRow{Action: "x"}) },
			} {
				dst := e.new(t, engine)
				check(t, put(dst))
				before := dump(t, dst)
				if _, err := storecopy.Copy(ctx, src, dst); !errors.Is(err, storecopy.ErrNotEmpty) {
					t.Errorf("a copy onto a database with %s: %v, want ErrNotEmpty", what, err)
				}
				if after := dump(t, dst); !reflect.DeepEqual(before, after) {
					t.Errorf("a refused copy changed the destination with %s:\n%+v\n%+v", what, before, after)
				}
			}
		})
	}
}

// lossy is a destination that loses the last token of each batch
// written, as an engine with a bug might.
type lossy struct{ store.Store }

func (l lossy) Begin(ctx context.Context) (store.Tx, error) {
	tx, err := l.Store.Begin(ctx)
	return lossyTx{tx}, err
}

type lossyTx struct{ store.Tx }

func (l lossyTx) TokenInsertMany(ctx context.Context, tokens []store.TokenRow, events []store.AuditRow) error {
	if len(tokens) > 0 {
		tokens = tokens[:len(tokens)-1]
	}
	return l.Tx.TokenInsertMany(ctx, tokens, events)
}

// testChecks: a copy that does not read back as its source is an error,
// and leaves nothing in the destination.
func testChecks(t *testing.T, e *engines) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			src := e.new(t, "sqlite")
			fill(t, src, 5)
			dst := e.new(t, engine)
			_, err := storecopy.Copy(ctx, src, lossy{dst})
			if !errors.Is(err, storecopy.ErrMismatch) {
				t.Fatalf("a copy that lost a token: %v, want ErrMismatch", err)
			}
			t.Log(err)
			// Nothing was committed: a copy can be made again.
			if _, err := storecopy.Copy(ctx, src, dst); err != nil {
				t.Fatalf("a copy after a failed one: %v", err)
			}
		})
	}
}

// racing is a source that, once the copy has read the tokens (within a
// transaction or not), records a token and its event through another
// connection, as a server issuing during the copy does.
type racing struct{ store.Store }

func (r racing) BeginRead(ctx context.Context) (store.Tx, error) {
	tx, err := r.Store.BeginRead(ctx)
	return racingTx{tx, r}, err
}

func (r racing) TokenEach(ctx context.Context, fn func(*store.TokenRow) error) error {
	return r.issueAfter(ctx, r.Store.TokenEach(ctx, fn))
}

func (r racing) issueAfter(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	tok := store.TokenRow{JTI: "late", Format: "jwt", KID: "k-active", Subject: "s", IssuedAt: 1, ExpiresAt: 2}
	return r.Store.TokenInsertMany(ctx, []store.TokenRow{tok}, []store.AuditRow{{At: 1, Action: "token.issue", JTI: "late"}})
}

type racingTx struct {
	store.Tx
	src racing
}

func (r racingTx) TokenEach(ctx context.Context, fn func(*store.TokenRow) error) error {
	return r.src.issueAfter(ctx, r.Tx.TokenEach(ctx, fn))
}

// testSnapshot: the source is read in one snapshot: a token issued while
// the copy runs is in neither the copied tokens nor the copied events.
func testSnapshot(t *testing.T, e *engines) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			src := e.new(t, engine)
			fill(t, src, 5)
			want := dump(t, src)
			dst := e.new(t, "sqlite")
			c, err := storecopy.Copy(ctx, racing{src}, dst)
			check(t, err)
			if c != counts(want) {
				t.Errorf("counts %+v, want those before the token issued meanwhile, %+v", c, counts(want))
			}
			same(t, "the copy", want, dump(t, dst))
			if now := dump(t, src); len(now.Tokens) != len(want.Tokens)+1 || len(now.Audit) != len(want.Audit)+1 {
				t.Fatalf("the token issued during the copy is not in the source")
			}
		})
	}
}

// BenchmarkCopy copies a database of 20,000 tokens, their events and as
// many revocations, from SQLite to each engine: one copy per iteration.
func BenchmarkCopy(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			e := &engines{}
			if engine == "postgres" {
				e.pg = pgtest.StartCluster(b)
			}
			src := e.new(b, "sqlite")
			fill(b, src, 20000)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				dst := e.new(b, engine)
				b.StartTimer()
				if _, err := storecopy.Copy(ctx, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
