package cascade_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
)

// The benchmarks compare the cascade with the two encodings of the same
// revoked ids before it: the exact sorted list this package first held
// (16 bytes an id, binary search) and the JSON revocation feed's token
// entries (internal/feed). They run at |R| = 10k, 100k and 1M revoked ids
// with |S| = |R| and 10·|R| other ids; 1M with 10M only without -short.
//
//	go test ./internal/cascade -run '^$' -bench . -benchtime 200ms -count 3

type size struct{ revoked, others int }

var sizes = []size{
	{10_000, 10_000}, {10_000, 100_000},
	{100_000, 100_000}, {100_000, 1_000_000},
	{1_000_000, 1_000_000}, {1_000_000, 10_000_000},
}

func (s size) String() string { return fmt.Sprintf("R=%d,S=%d", s.revoked, s.others) }

// sets returns s.revoked and s.others random ids (fixed by s), or skips
// the largest size under -short.
func (s size) sets(b *testing.B) (revoked, others []cascade.ID) {
	if s.others >= 10_000_000 && testing.Short() {
		b.Skip("10M ids: not with -short")
	}
	ids := make([]cascade.ID, s.revoked+s.others)
	r := rand.NewPCG(uint64(s.revoked), uint64(s.others))
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i][:8], r.Uint64())
		binary.LittleEndian.PutUint64(ids[i][8:], r.Uint64())
	}
	return ids[:s.revoked], ids[s.revoked:]
}

// filter returns s.sets and the filter of them.
func (s size) filter(b *testing.B) (revoked, others []cascade.ID, f *cascade.Filter) {
	revoked, others = s.sets(b)
	f, err := cascade.Build(revoked, others)
	if err != nil {
		b.Fatal(err)
	}
	return revoked, others, f
}

func reportSize(b *testing.B, bytes, revoked int) {
	b.ReportMetric(float64(bytes), "bytes")
	b.ReportMetric(float64(8*bytes)/float64(revoked), "bits/revoked")
}

func BenchmarkBuild(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.String(), func(b *testing.B) {
			rev, oth := s.sets(b)
			b.ReportAllocs()
			var f *cascade.Filter
			for b.Loop() {
				var err error
				if f, err = cascade.Build(rev, oth); err != nil {
					b.Fatal(err)
				}
			}
			reportSize(b, f.Size(), s.revoked)
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.String(), func(b *testing.B) {
			rev, _, f := s.filter(b)
			enc, _ := f.AppendBinary(nil)
			b.Run("cascade", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := cascade.Parse(enc); err != nil {
						b.Fatal(err)
					}
				}
				reportSize(b, len(enc), s.revoked)
			})
			if s.others != s.revoked {
				return // the alternatives hold R alone: once a size of R
			}
			exact := appendExact(nil, rev)
			b.Run("exact", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := parseExact(exact); err != nil {
						b.Fatal(err)
					}
				}
				reportSize(b, len(exact), s.revoked)
			})
			batch := &feed.Batch{Tokens: make([]feed.RevokedToken, len(rev))}
			for i, id := range rev {
				batch.Tokens[i] = feed.RevokedToken{ID: feed.TokenID(id), EffectiveAt: 1_780_000_000 + int64(i), ExpiresAt: 1_790_000_000 + int64(i)}
			}
			payload := feed.Append(nil, &feed.Head{Issuer: "https://writ.example", IssuedAt: 1_780_000_000, Epoch: "e", Seq: int64(len(rev))}, batch)
			b.Run("feed", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := feed.Decode(payload); err != nil {
						b.Fatal(err)
					}
				}
				reportSize(b, len(payload), s.revoked)
			})
		})
	}
}

// BenchmarkContains looks up ids of R and of S in turn (every id of both,
// in a random order), in the cascade, the exact sorted list and a Go map.
func BenchmarkContains(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.String(), func(b *testing.B) {
			rev, oth, f := s.filter(b)
			ids := append(slices.Clone(rev), oth...)
			rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			lookups := func(b *testing.B, contains func(*cascade.ID) bool) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					contains(&ids[i])
					if i++; i == len(ids) {
						i = 0
					}
				}
			}
			b.Run("cascade", func(b *testing.B) { lookups(b, f.Contains) })
			exact := slices.Clone(rev)
			slices.SortFunc(exact, compare)
			b.Run("exact", func(b *testing.B) {
				lookups(b, func(id *cascade.ID) bool {
					_, ok := slices.BinarySearchFunc(exact, *id, compare)
					return ok
				})
			})
			set := make(map[cascade.ID]struct{}, len(rev))
			for _, id := range rev {
				set[id] = struct{}{}
			}
			b.Run("map", func(b *testing.B) {
				lookups(b, func(id *cascade.ID) bool { _, ok := set[*id]; return ok })
			})
		})
	}
}

func compare(a, b cascade.ID) int { return bytes.Compare(a[:], b[:]) }

// appendExact and parseExact are the exact list's encoding: a count, then
// the ids in order.
func appendExact(dst []byte, ids []cascade.ID) []byte {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compare)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = append(dst, id[:]...)
	}
	return dst
}

func parseExact(data []byte) ([]cascade.ID, error) {
	if len(data) < 4 || uint64(len(data)-4) != 16*uint64(binary.BigEndian.Uint32(data)) {
		return nil, errors.New("exact list: length")
	}
	ids := make([]cascade.ID, (len(data)-4)/16)
	for i := range ids {
		copy(ids[i][:], data[4+16*i:])
		if i > 0 && compare(ids[i-1], ids[i]) >= 0 {
			return nil, errors.New("exact list: order")
		}
	}
	return ids, nil
}
