package cascade

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"runtime"
	"testing"
)

// rawLevel is a level as the package doc lays it out, for writing
// encodings by hand.
type rawLevel struct {
	salt uint64
	k    byte
	m    uint32
	bits []byte
}

// encode writes a filter of levels as the package doc says, with n as
// its level count.
func encode(n byte, levels ...rawLevel) []byte {
	b := append([]byte("wrcf"), 1, n)
	for _, l := range levels {
		b = binary.BigEndian.AppendUint64(b, l.salt)
		b = append(b, l.k)
		b = binary.BigEndian.AppendUint32(b, l.m)
		b = append(b, l.bits...)
	}
	return b
}

// level260 is a level of 260 bits, whose last byte has 4 bits of padding.
func level260() rawLevel {
	bits := bytes.Repeat([]byte{0xa5}, 33)
	bits[32] = 0x0f
	return rawLevel{salt: 7, k: 3, m: 260, bits: bits}
}

func level256() rawLevel {
	return rawLevel{salt: 8, k: 1, m: 256, bits: bytes.Repeat([]byte{0x5a}, 32)}
}

// malformed returns inputs that Parse must refuse, by name.
func malformed() map[string][]byte {
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	valid := encode(2, level260(), level256())
	padded := level260()
	padded.bits = set(padded.bits, 32, 0x1f)
	huge := level256()
	huge.m = 0xffffffff
	return map[string][]byte{
		"empty":                  nil,
		"magic only":             []byte("wrcf"),
		"wrong magic":            set(valid, 0, 'W'),
		"version 0":              set(valid, 4, 0),
		"version 2":              set(valid, 4, 2),
		"65 levels":              encode(65),
		"255 levels":             encode(255, level256()),
		"fewer levels than said": encode(3, level260(), level256()),
		"more levels than said":  encode(1, level260(), level256()),
		"trailing byte":          append(bytes.Clone(valid), 0),
		"truncated":              valid[:len(valid)-1],
		"truncated level header": valid[:6+12],
		"no level header":        valid[:6],
		"k 0":                    set(valid, 6+8, 0),
		"k 33":                   set(valid, 6+8, 33),
		"k 255":                  set(valid, 6+8, 255),
		"255 bits":               encode(1, rawLevel{salt: 1, k: 1, m: 255, bits: make([]byte, 32)}),
		"0 bits":                 encode(1, rawLevel{salt: 1, k: 1, m: 0}),
		"bits beyond the input":  encode(1, huge),
		"padding bit set":        encode(2, padded, level256()),
		"one byte too few":       encode(1, rawLevel{salt: 1, k: 1, m: 264, bits: make([]byte, 32)}),
		"one byte too many":      encode(1, rawLevel{salt: 1, k: 1, m: 256, bits: make([]byte, 33)}),
		"above MaxSize":          ofSize(MaxSize + 1),
	}
}

// ofSize returns a well-formed encoding of n bytes: one level of zeros.
func ofSize(n int) []byte {
	b := make([]byte, n)
	nb := n - headerSize - levelHeader
	copy(b, encode(1, rawLevel{salt: 1, k: 1, m: uint32(8 * nb)}))
	return b
}

func TestParseMalformed(t *testing.T) {
	for name, data := range malformed() {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(data)
			if !errors.Is(err, ErrMalformed) || f != nil {
				t.Fatalf("Parse = %v, %v; want nil, ErrMalformed", f, err)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	tests := map[string][]byte{
		"no levels":     encode(0),
		"one level":     encode(1, level256()),
		"padded levels": encode(3, level260(), level256(), level260()),
		"MaxSize":       ofSize(MaxSize),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, _ := f.AppendBinary(nil); !bytes.Equal(got, data) {
				t.Fatalf("encodes to %d bytes that differ from the %d read", len(got), len(data))
			}
		})
	}
}

// TestParseCopies: the filter Parse returns does not change when its input
// does.
func TestParseCopies(t *testing.T) {
	r := newRand(4)
	f, rev, oth := built(t, r, 1000, 1000)
	data, _ := f.AppendBinary(nil)
	g, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[headerSize:])
	answers(t, "parsed", g, rev, oth)
}

// TestParseAllocation: Parse allocates no more than its input's size and a
// little (the filter, its levels, an error), valid input or not.
func TestParseAllocation(t *testing.T) {
	r := newRand(5)
	f, _, _ := built(t, r, 100_000, 1_000_000)
	valid, _ := f.AppendBinary(nil)
	inputs := malformed()
	inputs["valid"] = valid
	inputs["64 levels said, one given"] = encode(64, level256())
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			const runs = 20
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				Parse(data)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			if limit := uint64(len(data)) + maxLevels*64 + 1024; perRun > limit {
				t.Errorf("Parse of %d bytes allocated %d bytes, above %d", len(data), perRun, limit)
			}
		})
	}
}

// TestSpec: a reader written from the package doc alone, with none of the
// package's code, answers as Contains does.
func TestSpec(t *testing.T) {
	r := newRand(6)
	f, rev, oth := built(t, r, 3000, 30000)
	if len(f.levels) < 4 {
		t.Fatalf("only %d levels: the test needs several", len(f.levels))
	}
	enc, _ := f.AppendBinary(nil)
	ids := append(append(rev, oth...), randomIDs(r, 3000)...)
	for i := range ids {
		if got, want := specContains(enc, ids[i]), f.Contains(&ids[i]); got != want {
			t.Fatalf("id %x: the package doc's reader says %v, Contains %v", ids[i], got, want)
		}
	}
}

// specContains reads the filter enc (known to be well formed) and answers
// for id as the package doc says.
func specContains(enc []byte, id ID) bool {
	mix := func(x uint64) uint64 {
		for _, c := range [...]uint64{0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53} {
			x = (x ^ x>>33) * c
		}
		return x ^ x>>33
	}
	a, b := binary.LittleEndian.Uint64(id[0:8]), binary.LittleEndian.Uint64(id[8:16])
	n := int(enc[5])
	rest := enc[6:]
	for i := range n {
		salt := binary.BigEndian.Uint64(rest[0:8])
		k := uint64(rest[8])
		m := binary.BigEndian.Uint32(rest[9:13])
		bits := rest[13 : 13+(m+7)/8]
		rest = rest[13+len(bits):]
		h1 := mix(mix(a^salt) ^ b)
		h2 := mix(h1 ^ a ^ 0x9e3779b97f4a7c15)
		for j := range k {
			g := new(big.Int).SetUint64(h1 + j*h2) // wraps mod 2⁶⁴
			bit := g.Mul(g, big.NewInt(int64(m))).Rsh(g, 64).Uint64()
			if bits[bit/8]&(1<<(bit%8)) == 0 {
				return i%2 == 1
			}
		}
	}
	return n%2 == 1
}
