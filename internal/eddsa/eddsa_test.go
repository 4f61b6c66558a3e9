package eddsa

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"filippo.io/edwards25519"
)

// agree checks that both ways of computing R' (the key's first
// verifications, and those with its table) give crypto/ed25519.Verify's
// answer for pub, msg and sig, and returns it.
func agree(t testing.TB, pub, msg, sig []byte) bool {
	t.Helper()
	k, ok := preparedKeys.Load(string(pub))
	if !ok {
		k, _ = preparedKeys.LoadOrStore(string(pub), withTable(t, pub))
	}
	return agreeKey(t, k.(*PublicKey), pub, msg, sig)
}

// preparedKeys holds the keys that agree has seen, with their tables.
var preparedKeys sync.Map

// withTable returns pub prepared, with its table built if it decodes.
func withTable(t testing.TB, pub []byte) *PublicKey {
	t.Helper()
	k, err := NewPublicKey(pub)
	if err != nil {
		t.Fatalf("NewPublicKey(%x): %v", pub, err)
	}
	if k.valid {
		k.tab.Store(newTable(&k.negA))
	}
	return k
}

// agreeKey is agree with k, pub prepared by withTable.
func agreeKey(t testing.TB, k *PublicKey, pub, msg, sig []byte) bool {
	t.Helper()
	want := ed25519.Verify(pub, msg, sig)
	if got := k.verify(msg, sig, nil); got != want {
		t.Fatalf("verify without a table (A=%x, M=%x, sig=%x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
	}
	if got := k.Verify(msg, sig); got != want {
		t.Fatalf("Verify with a table (A=%x, M=%x, sig=%x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
	}
	return want
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// torsion returns the encodings of the 8 points of order dividing 8, as
// multiples of a point of order 8.
func torsion(t testing.TB) [][]byte {
	t.Helper()
	p8, err := new(edwards25519.Point).SetBytes(mustHex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
	if err != nil {
		t.Fatal(err)
	}
	id := edwards25519.NewIdentityPoint()
	var out [][]byte
	p := edwards25519.NewIdentityPoint()
	for i := range 8 {
		out = append(out, p.Bytes())
		if i > 0 && p.Equal(id) == 1 {
			t.Fatalf("the point's order is %d, not 8", i)
		}
		p.Add(p, p8)
	}
	if p.Equal(id) != 1 {
		t.Fatal("the point's order is not 8")
	}
	return out
}

// nonCanonical returns encodings of y ≥ p (y = p+0 … p+18, each with
// either sign bit): the field elements 0 to 18 written out of range.
func nonCanonical() [][]byte {
	var out [][]byte
	for i := range 19 {
		for _, sign := range []byte{0, 0x80} {
			b := make([]byte, 32)
			for j := range b {
				b[j] = 0xff
			}
			b[0] = 0xed + byte(i) // p = 2^255 − 19 = 0x7fff…ffed
			b[31] = 0x7f | sign
			out = append(out, b)
		}
	}
	return out
}

// l is the group order L, little-endian.
var l = [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}

// addLE returns a + b mod 2^256, little-endian.
func addLE(a, b []byte) []byte {
	out := make([]byte, 32)
	var carry uint16
	for i := range out {
		s := uint16(a[i]) + uint16(b[i]) + carry
		out[i], carry = byte(s), s>>8
	}
	return out
}

// edgeCases returns keys, messages and signatures around one valid
// signature: small-order, mixed-order and non-canonical keys and R, the
// identity, s out of range or with high bits, and wrong lengths (special),
// and every single-bit flip of the key and of the signature (flips). The
// first key and signature are the valid ones.
type edgeCases struct {
	pubs, sigs         [][]byte // special cases, the valid ones first
	msgs               [][]byte
	flipPubs, flipSigs [][]byte
}

func newEdgeCases(t testing.TB) *edgeCases {
	t.Helper()
	seed := sha512.Sum512([]byte("writ eddsa edge cases"))
	priv := ed25519.NewKeyFromSeed(seed[:32])
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9")
	sig := ed25519.Sign(priv, msg)
	e := &edgeCases{msgs: [][]byte{msg, nil, []byte(strings.Repeat("a", 5000))}}

	tors := torsion(t)
	A, _ := new(edwards25519.Point).SetBytes(pub)
	e.pubs = append(e.pubs, pub)
	e.pubs = append(e.pubs, tors...)
	e.pubs = append(e.pubs, nonCanonical()...)
	for _, tb := range tors[1:] { // A plus a torsion point: mixed order
		T, _ := new(edwards25519.Point).SetBytes(tb)
		e.pubs = append(e.pubs, new(edwards25519.Point).Add(A, T).Bytes())
	}
	for i := range 256 {
		p := append([]byte(nil), pub...)
		p[i/8] ^= 1 << (i % 8)
		e.flipPubs = append(e.flipPubs, p)
	}

	e.sigs = append(e.sigs, sig)
	for _, r := range append(tors, nonCanonical()...) { // R small-order or out of range
		e.sigs = append(e.sigs, append(append([]byte(nil), r...), sig[32:]...))
	}
	e.sigs = append(e.sigs, make([]byte, 64)) // R and s all zeros
	for _, s := range [][]byte{
		addLE(sig[32:], l[:]),              // s + L: the same scalar, not canonical
		addLE(sig[32:], addLE(l[:], l[:])), // s + 2L
		l[:],                               // s = L
		addLE(l[:], bytesOf(0xff)),         // s = L − 1
		append(append([]byte(nil), sig[32:63]...), sig[63]|0x20), // bit 253 set
		append(append([]byte(nil), sig[32:63]...), sig[63]|0x80), // bit 255 set
		make([]byte, 32), // s = 0
	} {
		e.sigs = append(e.sigs, append(append([]byte(nil), sig[:32]...), s...))
	}
	e.sigs = append(e.sigs, nil, sig[:63], append(append([]byte(nil), sig...), 0), append([]byte{0}, sig...))
	for i := range 512 {
		s := append([]byte(nil), sig...)
		s[i/8] ^= 1 << (i % 8)
		e.flipSigs = append(e.flipSigs, s)
	}
	return e
}

// TestVerifyAgrees checks that Verify and crypto/ed25519.Verify agree on
// the edge cases: every special key with every special signature, on the
// valid message and, with the valid key or signature, on the others; and
// each bit flip with the valid rest.
func TestVerifyAgrees(t *testing.T) {
	e := newEdgeCases(t)
	accepted := 0
	count := func(ok bool) {
		if ok {
			accepted++
		}
	}
	for i, pub := range e.pubs {
		for j, sig := range e.sigs {
			for k, msg := range e.msgs {
				if k == 0 || i == 0 || j == 0 {
					count(agree(t, pub, msg, sig))
				}
			}
		}
	}
	for _, pub := range e.flipPubs {
		count(agree(t, pub, e.msgs[0], e.sigs[0]))
	}
	for _, sig := range e.flipSigs {
		count(agree(t, e.pubs[0], e.msgs[0], sig))
	}
	if accepted == 0 {
		t.Fatal("no case verified: the valid signature must")
	}
	t.Logf("%d keys, %d messages, %d signatures, %d and %d bit flips: %d accepted",
		len(e.pubs), len(e.msgs), len(e.sigs), len(e.flipPubs), len(e.flipSigs), accepted)
}

// TestVerifyRandom checks random keys, messages and signatures, valid and
// altered, against crypto/ed25519.
func TestVerifyRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 50
	}
	for range n {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], r.Uint64())
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, r.IntN(2000))
		for i := range msg {
			msg[i] = byte(r.Uint32())
		}
		sig := ed25519.Sign(priv, msg)
		if !agree(t, pub, msg, sig) {
			t.Fatal("a valid signature failed")
		}
		bad := append([]byte(nil), sig...)
		bad[r.IntN(64)] ^= byte(1 + r.IntN(255))
		agree(t, pub, msg, bad)
		if len(msg) > 0 {
			m := append([]byte(nil), msg...)
			m[r.IntN(len(m))] ^= 1
			agree(t, pub, m, sig)
		}
	}
}

// TestSumOfMultiples checks the table arithmetic against
// edwards25519's VarTimeDoubleScalarBaseMult, on edge scalars and random
// ones, for points of every order.
func TestSumOfMultiples(t *testing.T) {
	seed := sha512.Sum512([]byte("writ eddsa points"))
	priv := ed25519.NewKeyFromSeed(seed[:32])
	A, _ := new(edwards25519.Point).SetBytes(priv.Public().(ed25519.PublicKey))
	points := []*edwards25519.Point{A, edwards25519.NewGeneratorPoint()}
	for _, tb := range torsion(t) {
		T, _ := new(edwards25519.Point).SetBytes(tb)
		points = append(points, T, new(edwards25519.Point).Add(A, T))
	}
	lMinus1 := addLE(l[:], bytesOf(0xff))
	scalars := [][]byte{make([]byte, 32), {1}, {8}, lMinus1, {0xff}}
	r := rand.New(rand.NewPCG(3, 4))
	for range 6 {
		b := make([]byte, 64)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		s, _ := new(edwards25519.Scalar).SetUniformBytes(b)
		scalars = append(scalars, s.Bytes())
	}
	for pi, p := range points {
		tp := newTable(p)
		for _, ab := range scalars {
			for _, bb := range scalars {
				a, err := new(edwards25519.Scalar).SetCanonicalBytes(pad(ab))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := new(edwards25519.Scalar).SetCanonicalBytes(pad(bb))
				var got edwards25519.Point
				if !sumOfMultiples(&got, baseTable(), b, tp, a) {
					t.Fatal("sumOfMultiples: not a point of the curve")
				}
				want := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(a, p, b)
				if got.Equal(want) != 1 {
					t.Fatalf("point %d: [%x]P + [%x]B = %x, want %x", pi, ab, bb, got.Bytes(), want.Bytes())
				}
			}
		}
	}
}

func bytesOf(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

func pad(b []byte) []byte { return append(append([]byte(nil), b...), make([]byte, 32-len(b))...) }

func readGzip(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGolden runs the standard library's golden signatures
// (testdata/SOURCES.md), whose first three are RFC 8032 §7.1 TEST 1 to 3:
// each verifies, and fails with its message or signature altered.
func TestGolden(t *testing.T) {
	// RFC 8032 §7.1: the public keys of TEST 1, 2 and 3, and the start of
	// their signatures.
	rfc := []struct{ pub, sig string }{
		{"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"},
		{"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"},
		{"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"},
	}
	sc := bufio.NewScanner(strings.NewReader(string(readGzip(t, "sign.input.gz"))))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) != 5 {
			t.Fatalf("line %d: %d parts", n+1, len(parts))
		}
		pub, msg, sig := mustHex(t, parts[1]), mustHex(t, parts[2]), mustHex(t, parts[3])[:64]
		if n < len(rfc) && (parts[1] != rfc[n].pub || !strings.HasPrefix(parts[3], rfc[n].sig)) {
			t.Fatalf("line %d is not RFC 8032 TEST %d", n+1, n+1)
		}
		if !agree(t, pub, msg, sig) {
			t.Fatalf("line %d: a golden signature failed", n+1)
		}
		if len(msg) > 0 {
			m := append([]byte(nil), msg...)
			m[0] ^= 1
			agree(t, pub, m, sig)
		}
		s := append([]byte(nil), sig...)
		s[n%64] ^= 0x10
		agree(t, pub, msg, s)
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 128 {
		t.Fatalf("%d golden vectors, want 128", n)
	}
}

// TestEdgeVectors runs the 768 cases of "Taming the many EdDSAs" that the
// standard library's ed25519vectors_test.go checks (testdata/SOURCES.md):
// Verify must agree with crypto/ed25519.Verify on each, and both must give
// the answer that test expects (reject a low-order residue and a
// non-canonical R, accept the rest).
func TestEdgeVectors(t *testing.T) {
	var vectors []struct {
		A, R, S, M string
		Flags      []string
	}
	if err := json.Unmarshal(readGzip(t, "ed25519vectors.json.gz"), &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 768 {
		t.Fatalf("%d vectors, want 768", len(vectors))
	}
	accepted := 0
	for i, v := range vectors {
		want := true
		for _, f := range v.Flags {
			if f == "LowOrderResidue" || f == "NonCanonicalR" {
				want = false
			}
		}
		sig := append(mustHex(t, v.R), mustHex(t, v.S)...)
		if got := agree(t, mustHex(t, v.A), []byte(v.M), sig); got != want {
			t.Errorf("#%d %v: Verify = %v, want %v", i, v.Flags, got, want)
		}
		if want {
			accepted++
		}
	}
	t.Logf("%d vectors, %d accepted", len(vectors), accepted)
}

// FuzzVerify checks that Verify and crypto/ed25519.Verify agree on any
// key, message and signature.
func FuzzVerify(f *testing.F) {
	e := newEdgeCases(f)
	for _, pub := range append(e.pubs, e.flipPubs...) {
		f.Add(pub, e.msgs[0], e.sigs[0])
	}
	for _, sig := range append(e.sigs, e.flipSigs...) {
		f.Add(e.pubs[0], e.msgs[0], sig)
	}
	for i, pub := range e.pubs[1:] { // small-order keys with R and s of their own
		f.Add(pub, e.msgs[1], e.sigs[1+i%len(e.sigs[1:])])
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			if _, err := NewPublicKey(pub); err == nil {
				t.Fatalf("NewPublicKey took a %d-byte key", len(pub))
			}
			return
		}
		agreeKey(t, withTable(t, pub), pub, msg, sig)
	})
}

// FuzzVerifyNearValid starts from a valid signature of msg by the key
// made from seed, which random inputs almost never reach, and alters it
// as the fuzzer says: a torsion point added to the key (a mixed-order key)
// or to R, one bit of the signature flipped, s replaced by s + L. Verify
// must agree with crypto/ed25519.Verify on the result.
func FuzzVerifyNearValid(f *testing.F) {
	for i := range 12 {
		f.Add([]byte{byte(i)}, []byte("eyJhbGciOiJFZERTQSJ9.e30"), uint8(i%9), uint8((i+3)%9), uint16(i*100), i%2 == 0)
	}
	tors := torsion(f)
	f.Fuzz(func(t *testing.T, seed, msg []byte, keyTorsion, rTorsion uint8, flip uint16, addL bool) {
		h := sha512.Sum512(seed)
		priv := ed25519.NewKeyFromSeed(h[:32])
		pub := priv.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(priv, msg)
		if i := int(keyTorsion % 9); i > 0 { // 0: the key as it is
			A, _ := new(edwards25519.Point).SetBytes(pub)
			T, _ := new(edwards25519.Point).SetBytes(tors[i-1])
			pub = A.Add(A, T).Bytes()
		}
		if i := int(rTorsion % 9); i > 0 {
			R, _ := new(edwards25519.Point).SetBytes(sig[:32])
			T, _ := new(edwards25519.Point).SetBytes(tors[i-1])
			copy(sig, R.Add(R, T).Bytes())
		}
		if addL {
			copy(sig[32:], addLE(sig[32:], l[:]))
		}
		if flip < 512 {
			sig[flip/8] ^= 1 << (flip % 8)
		}
		agreeKey(t, withTable(t, pub), pub, msg, sig)
	})
}

// TestTableAfter checks that a key's table is built by its TableAfter-th
// successful verification (internal/lazy holds that to once, whatever the
// concurrency), that refused signatures count nothing, and that the
// verifications before and after answer right.
func TestTableAfter(t *testing.T) {
	seed := sha512.Sum512([]byte("writ eddsa table"))
	priv := ed25519.NewKeyFromSeed(seed[:32])
	msg := []byte("message")
	sig := ed25519.Sign(priv, msg)
	bad := append([]byte(nil), sig...)
	bad[0] ^= 1
	k, err := NewPublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 * TableAfter {
		if k.Verify(msg, bad) || k.Verify(msg, make([]byte, ed25519.SignatureSize)) {
			t.Fatalf("a bad signature verified")
		}
		if k.tab.Load() != nil {
			t.Fatalf("a table after %d refused signatures", 2*(i+1))
		}
	}
	for i := 1; i <= TableAfter+2; i++ {
		if !k.Verify(msg, sig) || k.Verify(msg, bad) {
			t.Fatalf("verification %d answered wrong", i)
		}
		if built := k.tab.Load() != nil; built != (i >= TableAfter) {
			t.Fatalf("after %d verified signatures, a table: %v", i, built)
		}
	}
}

// TestNewPublicKey checks which keys decode; a key that does not verifies
// nothing.
func TestNewPublicKey(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := NewPublicKey(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was taken", n)
		}
	}
	// y = 2 is not the y of any point.
	bad := append([]byte{2}, make([]byte, 31)...)
	k, err := NewPublicKey(bad)
	if err != nil {
		t.Fatal(err)
	}
	if k.valid {
		t.Error("y = 2 decoded")
	}
	if k.Verify(nil, make([]byte, 64)) {
		t.Error("a key that does not decode verified")
	}
	seed := sha512.Sum512(nil)
	pub := ed25519.NewKeyFromSeed(seed[:32]).Public().(ed25519.PublicKey)
	if k, _ := NewPublicKey(pub); !k.valid {
		t.Error("a generated key did not decode")
	}
}
