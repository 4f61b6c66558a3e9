package cascade

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomIDs returns n ids drawn from r, as writ's random jtis are.
func randomIDs(r *rand.ChaCha8, n int) []ID {
	ids := make([]ID, n)
	for i := range ids {
		r.Read(ids[i][:])
	}
	return ids
}

// built returns a filter of nr revoked and no other ids from r, and them.
func built(tb testing.TB, r *rand.ChaCha8, nr, no int) (f *Filter, revoked, others []ID) {
	tb.Helper()
	revoked, others = randomIDs(r, nr), randomIDs(r, no)
	f, err := Build(revoked, others)
	if err != nil {
		tb.Fatalf("Build of %d and %d random ids: %v", nr, no, err)
	}
	return f, revoked, others
}

func newRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// check fails t unless f contains every id of revoked and none of others,
// and its encoding, appended after a prefix, parses to a filter answering
// alike on them and on outside, and encodes again byte for byte.
func check(t *testing.T, f *Filter, revoked, others, outside []ID) {
	t.Helper()
	answers(t, "built", f, revoked, others)
	prefix := []byte("prefix")
	enc, err := f.AppendBinary(bytes.Clone(prefix))
	if err != nil {
		t.Fatalf("AppendBinary: %v", err)
	}
	if !bytes.HasPrefix(enc, prefix) {
		t.Fatalf("AppendBinary lost dst's bytes: %q", enc[:len(prefix)])
	}
	enc = enc[len(prefix):]
	if len(enc) != f.Size() {
		t.Fatalf("encoding of %d bytes, Size %d", len(enc), f.Size())
	}
	g, err := Parse(enc)
	if err != nil {
		t.Fatalf("Parse of AppendBinary's output: %v", err)
	}
	answers(t, "parsed", g, revoked, others)
	for i := range outside {
		if f.Contains(&outside[i]) != g.Contains(&outside[i]) {
			t.Fatalf("built and parsed filters differ on %x", outside[i])
		}
	}
	if again, _ := g.AppendBinary(nil); !bytes.Equal(again, enc) {
		t.Fatalf("parsed filter encodes to %d different bytes", len(again))
	}
}

func answers(t *testing.T, what string, f *Filter, revoked, others []ID) {
	t.Helper()
	bad := 0
	for i := range revoked {
		if !f.Contains(&revoked[i]) {
			if bad++; bad == 1 {
				t.Errorf("%s filter: revoked id %x reads not revoked", what, revoked[i])
			}
		}
	}
	for i := range others {
		if f.Contains(&others[i]) {
			if bad++; bad == 1 {
				t.Errorf("%s filter: other id %x reads revoked", what, others[i])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s filter of %d levels: %d of %d ids read wrong", what, len(f.levels), bad, len(revoked)+len(others))
	}
}

// flips returns id with each of its 128 bits flipped in turn.
func flips(id ID) []ID {
	ids := make([]ID, 128)
	for i := range ids {
		ids[i] = id
		ids[i][i/8] ^= 1 << (i % 8)
	}
	return ids
}

func TestBuild(t *testing.T) {
	r := newRand(1)
	ids := randomIDs(r, 20000)
	// Build reorders the slices it is given: each case has its own.
	part := func(i, j int) []ID { return slices.Clone(ids[i:j]) }
	base := ids[0]
	var zero, ones ID
	for i := range ones {
		ones[i] = 0xff
	}
	twice := func(ids []ID) []ID { return append(slices.Clone(ids), ids...) }
	oneApart := flips(ids[0])
	pairs := func() (rev, oth []ID) {
		for _, id := range part(0, 1000) {
			rev = append(rev, id)
			id[15] ^= 1
			oth = append(oth, id)
		}
		return rev, oth
	}
	pr, po := pairs()
	tests := []struct {
		name            string
		revoked, others []ID
		levels          int // the filter's levels, or -1 for any
	}{
		{"both empty", nil, nil, 0},
		{"no revoked", nil, part(0, 1000), 0},
		{"no others", part(0, 1000), nil, 1},
		{"one revoked", part(0, 1), part(1, 1001), -1},
		{"one other", part(0, 1000), part(1000, 1001), -1},
		{"one each", part(0, 1), part(1, 2), -1},
		{"revoked twice", twice(part(0, 500)), part(500, 1500), -1},
		{"others twice", part(0, 500), twice(part(500, 1500)), -1},
		{"one bit from a revoked id", []ID{base}, oneApart, -1},
		{"one bit from an other id", oneApart, []ID{base}, -1},
		{"pairs one bit apart", pr, po, -1},
		{"zero and all ones", []ID{zero}, []ID{ones}, -1},
		{"all ones and zero", []ID{ones}, []ID{zero}, -1},
		{"more revoked than others", part(0, 10000), part(10000, 10100), -1},
		{"far more others", part(0, 3), part(3, 20000), -1},
		{"as many", part(0, 10000), part(10000, len(ids)), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, oth := slices.Clone(tt.revoked), slices.Clone(tt.others)
			f, err := Build(tt.revoked, tt.others)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !sameIDs(tt.revoked, rev) || !sameIDs(tt.others, oth) {
				t.Fatal("Build changed the ids it was given (not only their order)")
			}
			if tt.levels >= 0 && len(f.levels) != tt.levels {
				t.Errorf("%d levels, want %d", len(f.levels), tt.levels)
			}
			check(t, f, tt.revoked, tt.others, randomIDs(r, 1000))
		})
	}
}

// sameIDs reports whether a and b hold the same ids, in any order.
func sameIDs(a, b []ID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y ID) int { return bytes.Compare(x[:], y[:]) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func TestBuildOverlap(t *testing.T) {
	r := newRand(2)
	ids := randomIDs(r, 10001)
	x := ids[10000]
	with := func(list []ID, extra ...ID) []ID { return append(append([]ID(nil), list...), extra...) }
	tests := []struct {
		name            string
		revoked, others []ID
	}{
		{"one id both", []ID{x}, []ID{x}},
		{"one of many", with(ids[:5000], x), with(ids[5000:10000], x)},
		{"revoked twice", with(ids[:5000], x, x), with(ids[5000:10000], x)},
		{"others twice", with(ids[:5000], x), with(ids[5000:10000], x, x)},
		{"only revoked is other", []ID{x}, with(ids[:10000], x)},
		{"only other is revoked", with(ids[:10000], x), []ID{x}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Build(tt.revoked, tt.others)
			if !errors.Is(err, ErrOverlap) || f != nil {
				t.Fatalf("Build = %v, %v; want nil, ErrOverlap", f, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%x", x)) {
				t.Errorf("error %q does not name the id %x", err, x)
			}
		})
	}
	t.Run("all overlap", func(t *testing.T) {
		if _, err := Build(ids[:1000], ids[:1000]); !errors.Is(err, ErrOverlap) {
			t.Fatalf("Build = %v, want ErrOverlap", err)
		}
	})
}

// TestBuildRetry: a level that leaves every id of the other side is built
// again with the next salt and twice the bits, and the filter answers
// exactly. Here the one other id is a false positive of level 0 half the
// time; level 1 holds it alone, in 256 bits, so that about 400 revoked ids
// are its false positives; level 2 holds those at p = 1/2, and the other
// id falls in it again half the time.
func TestBuildRetry(t *testing.T) {
	r := newRand(8)
	rev := randomIDs(r, 100_000)
	retried := 0
	for range 32 {
		oth := randomIDs(r, 1)
		f, err := Build(rev, oth)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		check(t, f, rev, oth, nil)
		for i, l := range f.levels {
			if l.salt != fmix64(uint64(i)<<32+1) {
				retried++
			}
		}
	}
	if retried == 0 {
		t.Fatal("no level was built again: the test no longer tests that")
	}
}

func TestSeparationError(t *testing.T) {
	ids := randomIDs(newRand(9), 3)
	err := separationError(ids[:1], ids[1:], "why")
	if !errors.Is(err, ErrSeparation) || !strings.Contains(err.Error(), "why") {
		t.Errorf("separationError of distinct ids = %v, want ErrSeparation saying why", err)
	}
	if err := separationError(ids[:2], ids[1:], "why"); !errors.Is(err, ErrOverlap) {
		t.Errorf("separationError of overlapping ids = %v, want ErrOverlap", err)
	}
}

// TestBuildDeterministic: the same sets, in any order, give the same bytes.
func TestBuildDeterministic(t *testing.T) {
	r := newRand(3)
	f, rev, oth := built(t, r, 5000, 20000)
	want, _ := f.AppendBinary(nil)
	for i := range 3 {
		rr := rand.New(r)
		rr.Shuffle(len(rev), func(i, j int) { rev[i], rev[j] = rev[j], rev[i] })
		rr.Shuffle(len(oth), func(i, j int) { oth[i], oth[j] = oth[j], oth[i] })
		g, err := Build(rev, oth)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := g.AppendBinary(nil); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d: %d bytes differ from the first build's %d", i, len(got), len(want))
		}
	}
}

// TestProperty: filters of random ids answer exactly for every id they
// were built from, in millions unless -short. Under the race detector,
// which slows the loops tenfold, one case of millions runs (seconds).
func TestProperty(t *testing.T) {
	tests := []struct {
		revoked, others int
		millions        bool // not with -short
		slow            bool // not under the race detector either
	}{
		{10_000, 20_000, false, false},
		{20_000, 10_000, false, false},
		{1_000, 100_000, false, false},
		{50_000, 500_000, false, false},
		{1_000_000, 1_000_000, true, false},
		{1_000_000, 2_000_000, true, true},
		{300_000, 3_000_000, true, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("R=%d,S=%d", tt.revoked, tt.others), func(t *testing.T) {
			if tt.millions && testing.Short() {
				t.Skip("millions of ids: not with -short")
			}
			if tt.slow && raceEnabled {
				t.Skip("too slow under the race detector")
			}
			r := newRand(100 + uint64(i))
			f, rev, oth := built(t, r, tt.revoked, tt.others)
			outside := randomIDs(r, 100_000)
			check(t, f, rev, oth, outside)
			n := 0
			for i := range outside {
				if f.Contains(&outside[i]) {
					n++
				}
			}
			t.Logf("%d levels, %d bytes (%.2f bits per revoked id); %.3f%% of outside ids read revoked",
				len(f.levels), f.Size(), float64(8*f.Size())/float64(tt.revoked), 100*float64(n)/float64(len(outside)))
		})
	}
}

// TestSize: 1M revoked ids take at most 2 MB with as many other ids, and
// with ten times as many (unless -short; 100k ids within 200 kB always).
func TestSize(t *testing.T) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, ratio := range []int{1, 10} {
			t.Run(fmt.Sprintf("R=%d,S=%d", n, ratio*n), func(t *testing.T) {
				if n > 100_000 && (testing.Short() || raceEnabled) {
					t.Skip("millions of ids: not with -short or the race detector")
				}
				r := newRand(uint64(n + ratio))
				f, _, _ := built(t, r, n, ratio*n)
				limit := 2 * n // 2 MB for 1M
				if f.Size() > limit {
					t.Errorf("%d bytes (%.2f bits per revoked id), above %d", f.Size(), float64(8*f.Size())/float64(n), limit)
				}
			})
		}
	}
}
