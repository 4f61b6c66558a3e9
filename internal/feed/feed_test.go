package feed_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/feed"
)

// weird is a string that every escape of the encoder meets.
const weird = "<script>&\"\\\n\t\x01\x1f\u2028\u2029é😀\xff/"

// goldens are payloads that writ serve wrote before this package, with
// encoding/json for the head and its own entry encoder
// (testdata/*.json, made at commit 2379602); the encoder must write them
// byte for byte.
func goldens() map[string]struct {
	h feed.Head
	b feed.Batch
} {
	var id1, id2 feed.TokenID
	for i := range id1 {
		id1[i] = byte(i)
		id2[i] = 0xff
	}
	return map[string]struct {
		h feed.Head
		b feed.Batch
	}{
		"full.json": {
			feed.Head{Issuer: "https://auth.example.com/" + weird, IssuedAt: 1700000000,
				Epoch: "0123456789abcdef0123456789abcdef", Since: 256, Seq: 1000, NextUpdate: 1700000001},
			feed.Batch{
				Tokens: []feed.RevokedToken{
					{ID: id1, EffectiveAt: 0, ExpiresAt: math.MaxUint32},
					{ID: id2, EffectiveAt: 1700000000, ExpiresAt: 1700003600},
					{ID: feed.TokenIDOf("not-a-writ-jti"), EffectiveAt: -1, ExpiresAt: math.MinInt64},
				},
				Subjects: []feed.SubjectCutoff{
					{Subject: "alice", IssuedBefore: 1700000000, ExpiresAt: 1700086400},
					{Subject: weird, IssuedBefore: -5, ExpiresAt: math.MinInt64},
				},
				Keys: []feed.RevokedKey{
					{KID: "kid-1", ExpiresAt: 1700086400},
					{KID: "k<>&" + weird, ExpiresAt: math.MaxInt64},
				},
			},
		},
		"empty.json": {},
		"extremes.json": {
			feed.Head{Issuer: "i", IssuedAt: math.MaxInt64, Epoch: "e", Since: math.MinInt64, Seq: math.MaxInt64, NextUpdate: -1},
			feed.Batch{Keys: []feed.RevokedKey{{KID: "", ExpiresAt: 0}}},
		},
	}
}

func TestGolden(t *testing.T) {
	for name, g := range goldens() {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if got := feed.Append(nil, &g.h, &g.b); !bytes.Equal(got, want) {
				t.Errorf("encoded\n%s\nwant\n%s", got, want)
			}
			// AppendHead and AppendEntries write the same, in two steps.
			if got := feed.AppendEntries(feed.AppendHead(nil, &g.h), &g.b); !bytes.Equal(got, want) {
				t.Errorf("in two steps, encoded\n%s\nwant\n%s", got, want)
			}
			if _, _, err := feed.Decode(want); err != nil {
				t.Errorf("decode: %v", err)
			}
		})
	}
}

// randomBatch returns a batch of n entries of each kind with random ids
// and times, and strings of every kind of character.
func randomBatch(n int) *feed.Batch {
	b := &feed.Batch{}
	subjects := []string{"alice", "", "é😀", "<>&", "\u2028\x00\"\\", strings.Repeat("x", 256)}
	for i := range n {
		var id feed.TokenID
		rand.Read(id[:])
		b.Tokens = append(b.Tokens, feed.RevokedToken{ID: id, EffectiveAt: int64(i) - 1, ExpiresAt: math.MaxUint32 - int64(i)})
		b.Subjects = append(b.Subjects, feed.SubjectCutoff{Subject: subjects[i%len(subjects)], IssuedBefore: math.MinInt64 + int64(i), ExpiresAt: int64(i) << 40})
		b.Keys = append(b.Keys, feed.RevokedKey{KID: subjects[(i+1)%len(subjects)], ExpiresAt: math.MaxInt64 - int64(i)})
	}
	return b
}

// TestRoundTrip: what Append writes, Decode reads back as it was; the
// batch carries the head's sequence number and epoch, and its signing time.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		h := &feed.Head{Issuer: "https://issuer.test/" + weird[:len(weird)-2], IssuedAt: 1700000000 + int64(n), Epoch: "ab",
			Since: int64(n), Seq: int64(2 * n), NextUpdate: math.MaxInt64}
		b := randomBatch(n)
		h2, b2, err := feed.Decode(feed.Append(nil, h, b))
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if *h2 != *h {
			t.Errorf("%d entries: head %+v, want %+v", n, h2, h)
		}
		want := *b
		want.Seq, want.Epoch, want.AsOf = h.Seq, h.Epoch, time.Unix(h.IssuedAt, 0)
		if n == 0 {
			// Decode gives empty lists where a batch may have none.
			want.Tokens, want.Subjects, want.Keys = b2.Tokens, b2.Subjects, b2.Keys
			if len(b2.Tokens)+len(b2.Subjects)+len(b2.Keys) != 0 {
				t.Errorf("entries decoded from none: %+v", b2)
			}
		}
		if !reflect.DeepEqual(*b2, want) {
			t.Errorf("%d entries: batch differs after the round trip", n)
		}
	}
}

// TestDecodeStrict: Decode reads exactly the format that Append writes.
func TestDecodeStrict(t *testing.T) {
	const head = `"iss":"i","iat":1,"epoch":"e","since":0,"seq":1,"next_update":2`
	const entries = `"tokens":[],"subjects":[],"keys":[]`
	const id = `"AAECAwQFBgcICQoLDA0ODw"`
	ok := []string{
		`{` + head + `,` + entries + `}`,
		` { ` + head + ` , ` + entries + ` , "later":{"a":[1,2]} } `,
		`{` + entries + `,` + head + `}`,
		`{` + head + `,"tokens":[[` + id + `,-1,4294967295]],"subjects":[["\u0061",0,-9223372036854775808]],"keys":[["k",9223372036854775807]]}`,
		`{` + head + `,"tokens":[["\u0041AECAwQFBgcICQoLDA0ODw",0,0]],"subjects":[],"keys":[]}`,
	}
	for _, p := range ok {
		if _, _, err := feed.Decode([]byte(p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	bad := map[string]string{
		"not JSON":                 `{` + head,
		"not an object":            `[]`,
		"trailing data":            `{` + head + `,` + entries + `}{}`,
		"a member twice":           `{` + head + `,"seq":2,` + entries + `}`,
		"a member case-folded":     `{"ISS":"i","iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,` + entries + `}`,
		"no iss":                   `{"iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,` + entries + `}`,
		"no next_update":           `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":1,` + entries + `}`,
		"no keys":                  `{` + head + `,"tokens":[],"subjects":[]}`,
		"iss a number":             `{"iss":1,"iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,` + entries + `}`,
		"seq a string":             `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":"1","next_update":2,` + entries + `}`,
		"seq a fraction":           `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":1.0,"next_update":2,` + entries + `}`,
		"seq an exponent":          `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":1e3,"next_update":2,` + entries + `}`,
		"seq beyond 64 bits":       `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":9223372036854775808,"next_update":2,` + entries + `}`,
		"seq below 64 bits":        `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":-9223372036854775809,"next_update":2,` + entries + `}`,
		"seq null":                 `{"iss":"i","iat":1,"epoch":"e","since":0,"seq":null,"next_update":2,` + entries + `}`,
		"tokens an object":         `{` + head + `,"tokens":{},"subjects":[],"keys":[]}`,
		"token entry not an array": `{` + head + `,"tokens":[` + id + `],"subjects":[],"keys":[]}`,
		"token entry too short":    `{` + head + `,"tokens":[[` + id + `,0]],"subjects":[],"keys":[]}`,
		"token entry too long":     `{` + head + `,"tokens":[[` + id + `,0,0,0]],"subjects":[],"keys":[]}`,
		"token id short":           `{` + head + `,"tokens":[["AAECAwQFBgcICQoLDA0OD",0,0]],"subjects":[],"keys":[]}`,
		"token id padded":          `{` + head + `,"tokens":[["AAECAwQFBgcICQoLDA0ODw==",0,0]],"subjects":[],"keys":[]}`,
		"token id not base64url":   `{` + head + `,"tokens":[["AAECAwQFBgcICQoLDA0OD+",0,0]],"subjects":[],"keys":[]}`,
		"token id trailing bits":   `{` + head + `,"tokens":[["AAECAwQFBgcICQoLDA0ODx",0,0]],"subjects":[],"keys":[]}`,
		"token id a number":        `{` + head + `,"tokens":[[1,0,0]],"subjects":[],"keys":[]}`,
		"token time a string":      `{` + head + `,"tokens":[[` + id + `,"0",0]],"subjects":[],"keys":[]}`,
		"subject a number":         `{` + head + `,"tokens":[],"subjects":[[1,0,0]],"keys":[]}`,
		"subject entry too short":  `{` + head + `,"tokens":[],"subjects":[["a",0]],"keys":[]}`,
		"key entry too long":       `{` + head + `,"tokens":[],"subjects":[],"keys":[["k",0,0]]}`,
		"key time a fraction":      `{` + head + `,"tokens":[],"subjects":[],"keys":[["k",0.5]]}`,
		"invalid UTF-8":            `{"iss":"` + "\xff" + `","iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,` + entries + `}`,
		"lone surrogate":           `{"iss":"\ud800","iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,` + entries + `}`,
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := feed.Decode([]byte(p)); !errors.Is(err, feed.ErrMalformed) {
				t.Errorf("%s: %v, want ErrMalformed", p, err)
			}
		})
	}
	if _, _, err := feed.Decode(make([]byte, feed.MaxSize+1)); !errors.Is(err, feed.ErrTooLarge) {
		t.Errorf("a payload above MaxSize: %v, want ErrTooLarge", err)
	}
}

func TestTokenIDOf(t *testing.T) {
	id := feed.TokenIDOf("AAECAwQFBgcICQoLDA0ODw")
	for i, c := range id {
		if c != byte(i) {
			t.Fatalf("TokenIDOf of a writ jti = %x, want its 16 bytes", id)
		}
	}
	// Any other jti: the first 16 bytes of its SHA-256.
	if a, b := feed.TokenIDOf("AAECAwQFBgcICQoLDA0OD+"), feed.TokenIDOf("x"); a == b || a == (feed.TokenID{}) {
		t.Errorf("TokenIDOf of other jtis: %x, %x", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { feed.TokenIDOf("some-other-jti") }); n != 0 {
		t.Errorf("TokenIDOf allocates %v times", n)
	}
}

func TestTime32(t *testing.T) {
	for _, tc := range []struct {
		t          int64
		exp, effct uint32
	}{
		{math.MinInt64, 1, 0},
		{-1, 1, 0},
		{0, 1, 0},
		{1, 1, 1},
		{1700000000, 1700000000, 1700000000},
		{math.MaxUint32, math.MaxUint32, math.MaxUint32},
		{math.MaxUint32 + 1, math.MaxUint32, math.MaxUint32},
		{math.MaxInt64, math.MaxUint32, math.MaxUint32},
	} {
		if got := feed.Time32(tc.t); got != tc.exp {
			t.Errorf("Time32(%d) = %d, want %d", tc.t, got, tc.exp)
		}
		if got := feed.Effective32(tc.t); got != tc.effct {
			t.Errorf("Effective32(%d) = %d, want %d", tc.t, got, tc.effct)
		}
	}
}

// TestDecodeAllocatesListsOnce: the subject and key lists are allocated
// once at their size, not grown entry by entry, which for a document of
// tiny entries allocated many times its size.
func TestDecodeAllocatesListsOnce(t *testing.T) {
	b := &feed.Batch{Subjects: make([]feed.SubjectCutoff, 20000), Keys: make([]feed.RevokedKey, 20000)}
	payload := feed.Append(nil, &feed.Head{Issuer: "https://issuer.test", IssuedAt: 1, Epoch: "e", Seq: 1}, b)
	allocs := testing.AllocsPerRun(3, func() {
		if _, _, err := feed.Decode(payload); err != nil {
			t.Fatal(err)
		}
	})
	// The head, the batch and one list each; growing them took 30 more.
	if allocs > 10 {
		t.Errorf("Decode of 40,000 empty entries: %v allocations, want at most 10", allocs)
	}
}
