package feed_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
)

// randomSnapshot returns a snapshot of n entries of each kind, whose filter
// holds n other ids.
func randomSnapshot(t testing.TB, n int) *feed.Snapshot {
	t.Helper()
	b := randomBatch(n)
	revoked := make([]cascade.ID, n)
	for i := range revoked {
		revoked[i] = cascade.ID(b.Tokens[len(b.Tokens)-1-i].ID)
		revoked[i][0] ^= 0xff
	}
	f, err := cascade.Build(revoked, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &feed.Snapshot{Epoch: "0123456789abcdef0123456789abcdef", Seq: int64(n) * 7, Built: 1700000000,
		Universe: 1700000000 - 60, Filter: f, Tokens: b.Tokens, Subjects: b.Subjects, Keys: b.Keys}
}

// encodeSnapshot returns s's encoding, failing the test on an error.
func encodeSnapshot(t testing.TB, s *feed.Snapshot) []byte {
	t.Helper()
	data, err := feed.AppendSnapshot(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sameSnapshot reports whether a and b hold the same state, their filters
// compared by their encodings.
func sameSnapshot(t testing.TB, a, b *feed.Snapshot) bool {
	t.Helper()
	fa, err := a.Filter.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.Filter.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	entries := func(s *feed.Snapshot) feed.Batch {
		return norm(&feed.Batch{Tokens: s.Tokens, Subjects: s.Subjects, Keys: s.Keys})
	}
	return bytes.Equal(fa, fb) && a.Epoch == b.Epoch && a.Seq == b.Seq && a.Built == b.Built && a.Universe == b.Universe &&
		reflect.DeepEqual(entries(a), entries(b))
}

// TestSnapshotRoundTrip: what AppendSnapshot writes, DecodeSnapshot reads
// back as it was, and the filter answers alike.
func TestSnapshotRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		s := randomSnapshot(t, n)
		s.Seq, s.Built, s.Universe = math.MinInt64+int64(n), math.MaxInt64, -1
		data := encodeSnapshot(t, s)
		got, err := feed.DecodeSnapshot(data)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if !sameSnapshot(t, got, s) {
			t.Errorf("%d entries: the snapshot differs after the round trip", n)
		}
		for _, tok := range s.Tokens {
			id := cascade.ID(tok.ID)
			id[0] ^= 0xff
			if !got.Filter.Contains(&id) {
				t.Fatalf("%d entries: the decoded filter lost %x", n, id)
			}
		}
		// AppendSnapshot appends.
		if again, err := feed.AppendSnapshot([]byte("x"), got); err != nil || !bytes.Equal(again[1:], data) || again[0] != 'x' {
			t.Errorf("%d entries: appended to a prefix: %v", n, err)
		}
	}
}

// TestAppendSnapshotRefuses: AppendSnapshot writes only what
// DecodeSnapshot reads.
func TestAppendSnapshotRefuses(t *testing.T) {
	for name, edit := range map[string]func(*feed.Snapshot){
		"no filter":            func(s *feed.Snapshot) { s.Filter = nil },
		"epoch not UTF-8":      func(s *feed.Snapshot) { s.Epoch = "\xff" },
		"subject too long":     func(s *feed.Snapshot) { s.Subjects[0].Subject = strings.Repeat("s", 1<<16) },
		"kid not UTF-8":        func(s *feed.Snapshot) { s.Keys[0].KID = "a\xc0" },
		"above the size limit": func(s *feed.Snapshot) { s.Tokens = make([]feed.RevokedToken, feed.MaxSnapshotSize/32) },
	} {
		t.Run(name, func(t *testing.T) {
			s := randomSnapshot(t, 2)
			edit(s)
			if data, err := feed.AppendSnapshot(nil, s); err == nil {
				t.Errorf("encoded %d bytes, want an error", len(data))
			}
		})
	}
}

// TestDecodeSnapshotStrict: DecodeSnapshot reads exactly what
// AppendSnapshot writes, and refuses a change of any part.
func TestDecodeSnapshotStrict(t *testing.T) {
	good := encodeSnapshot(t, randomSnapshot(t, 3))
	// The offsets of good's parts: magic and version, then five sections.
	sections := []int{9}
	for i := 0; i < 4; i++ {
		at := sections[i]
		sections = append(sections, at+4+int(binary.BigEndian.Uint32(good[at:])))
	}
	edit := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(good)) }
	bad := map[string][]byte{
		"empty":            nil,
		"magic only":       []byte("WRITSNAP\x01"),
		"wrong magic":      edit(func(b []byte) []byte { b[0] = 'w'; return b }),
		"version 2":        edit(func(b []byte) []byte { b[8] = 2; return b }),
		"version 0":        edit(func(b []byte) []byte { b[8] = 0; return b }),
		"trailing byte":    append(bytes.Clone(good), 0),
		"truncated":        good[:len(good)-1],
		"head too long":    edit(func(b []byte) []byte { b[sections[0]+3]++; return b }),
		"head too short":   edit(func(b []byte) []byte { b[sections[0]+3]--; return b }),
		"section past end": edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[sections[4]:], math.MaxUint32); return b }),
		"epoch past head":  edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[sections[0]+4:], 0xffff); return b }),
		"epoch not UTF-8":  edit(func(b []byte) []byte { b[sections[0]+6] = 0xff; return b }),
		"filter empty": edit(func(b []byte) []byte {
			return append(append(b[:sections[1]:sections[1]], 0, 0, 0, 0), good[sections[2]:]...)
		}),
		"tokens not records": edit(func(b []byte) []byte { b[sections[2]+3]--; return b }),
		"subject past entry": edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[sections[3]+4:], 0x7fff); return b }),
		"kid truncated":      edit(func(b []byte) []byte { b[sections[4]+3] -= 1; return b[:len(b)-1] }),
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			if s, err := feed.DecodeSnapshot(data); !errors.Is(err, feed.ErrMalformed) || s != nil {
				t.Errorf("%v, want ErrMalformed", err)
			}
		})
	}
	if _, err := feed.DecodeSnapshot(make([]byte, feed.MaxSnapshotSize+1)); !errors.Is(err, feed.ErrTooLarge) {
		t.Errorf("a snapshot above MaxSnapshotSize: %v, want ErrTooLarge", err)
	}
	if _, err := feed.DecodeSnapshot(good); err != nil {
		t.Errorf("the unchanged snapshot: %v", err)
	}
}

// TestDecodeSnapshotBoundedAllocation: a small input cannot make
// DecodeSnapshot allocate much, whatever its lengths claim, and entry lists
// are allocated once at their size.
func TestDecodeSnapshotBoundedAllocation(t *testing.T) {
	f, err := cascade.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &feed.Snapshot{Epoch: "e", Filter: f, Subjects: make([]feed.SubjectCutoff, 20000), Keys: make([]feed.RevokedKey, 20000)}
	for i := range s.Subjects {
		s.Subjects[i].Subject = "s"
		s.Keys[i].KID = "k"
	}
	data := encodeSnapshot(t, s)
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := feed.DecodeSnapshot(data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 12 {
		t.Errorf("DecodeSnapshot of 40,000 entries: %v allocations, want at most 12", allocs)
	}
	// Lengths that claim more than the input holds.
	lying := []byte("WRITSNAP\x01\xff\xff\xff\xff")
	if _, err := feed.DecodeSnapshot(lying); !errors.Is(err, feed.ErrMalformed) {
		t.Errorf("a section longer than the input: %v", err)
	}
}
