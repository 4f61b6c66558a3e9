package p256

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"filippo.io/nistec"
)

// order is n, the order of the group, as a big.Int.
var order = elliptic.P256().Params().N

// stdVerify is crypto/ecdsa.VerifyASN1 of r‖s re-encoded as ASN.1 with
// math/big and encoding/asn1, under the key whose uncompressed point is
// pub; false for a key that crypto/ecdsa does not parse.
func stdVerify(t testing.TB, pub, hash, sig []byte) bool {
	t.Helper()
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil || len(sig) != SignatureSize {
		return false
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	return ecdsa.VerifyASN1(k, hash, der)
}

// agree checks that both ways of computing R (the key's first
// verifications, and those with its table) give crypto/ecdsa.VerifyASN1's
// answer for pub, hash and sig, and returns it.
func agree(t testing.TB, pub, hash, sig []byte) bool {
	t.Helper()
	k, ok := preparedKeys.Load(string(pub))
	if !ok {
		k, _ = preparedKeys.LoadOrStore(string(pub), withTable(t, pub))
	}
	return agreeKey(t, k.(*PublicKey), pub, hash, sig)
}

// preparedKeys holds the keys that agree has seen, with their tables.
var preparedKeys sync.Map

// withTable returns pub prepared, with its table built.
func withTable(t testing.TB, pub []byte) *PublicKey {
	t.Helper()
	k, err := NewPublicKey(pub)
	if err != nil {
		t.Fatalf("NewPublicKey(%x): %v", pub, err)
	}
	k.tab.Store(newTable(k.q, window))
	return k
}

// agreeKey is agree with k, pub prepared by withTable.
func agreeKey(t testing.TB, k *PublicKey, pub, hash, sig []byte) bool {
	t.Helper()
	want := stdVerify(t, pub, hash, sig)
	if got := k.verify(hash, sig, nil); got != want {
		t.Fatalf("verify without a table (Q=%x, hash=%x, sig=%x) = %v, crypto/ecdsa says %v", pub, hash, sig, got, want)
	}
	if got := k.Verify(hash, sig); got != want {
		t.Fatalf("Verify with a table (Q=%x, hash=%x, sig=%x) = %v, crypto/ecdsa says %v", pub, hash, sig, got, want)
	}
	return want
}

// scalarBytes returns v mod n, big-endian in 32 bytes.
func scalarBytes(v *big.Int) []byte {
	return new(big.Int).Mod(v, order).FillBytes(make([]byte, 32))
}

// pubOf returns the uncompressed point [d]G.
func pubOf(t testing.TB, d *big.Int) []byte {
	t.Helper()
	p, err := nistec.NewP256Point().ScalarBaseMult(scalarBytes(d))
	if err != nil {
		t.Fatal(err)
	}
	return p.Bytes()
}

// sign returns r‖s, the signature of hash by d with the nonce k, or nil
// if r or s is zero.
func sign(t testing.TB, d, k *big.Int, hash []byte) []byte {
	t.Helper()
	R, err := nistec.NewP256Point().ScalarBaseMult(scalarBytes(k))
	if err != nil {
		t.Fatal(err)
	}
	x, err := R.BytesX()
	if err != nil {
		return nil
	}
	r := new(big.Int).Mod(new(big.Int).SetBytes(x), order)
	e := new(big.Int).Mod(hashInt(hash), order)
	s := new(big.Int).Mul(r, d)
	s.Add(s, e).Mul(s, new(big.Int).ModInverse(k, order)).Mod(s, order)
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil
	}
	return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
}

// hashInt is the integer of hash's leftmost 256 bits.
func hashInt(hash []byte) *big.Int {
	if len(hash) > 32 {
		hash = hash[:32]
	}
	return new(big.Int).SetBytes(hash)
}

// edgeCases are keys, hashes and signatures around valid ones.
type edgeCases struct {
	pub    []byte   // a key
	hashes [][]byte // hashes: the signed one first
	sigs   [][]byte // signatures of hashes[0] under pub: the valid one first
	// Keys at small scalars, each with a valid signature of hashes[0].
	smallPubs, smallSigs [][]byte
}

func newEdgeCases(t testing.TB) *edgeCases {
	t.Helper()
	seed := sha256.Sum256([]byte("writ p256 edge cases"))
	d := new(big.Int).SetBytes(seed[:])
	hash := sha256.Sum256([]byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"))
	nonce := sha256.Sum256([]byte("nonce"))
	e := &edgeCases{pub: pubOf(t, d)}
	valid := sign(t, d, new(big.Int).SetBytes(nonce[:]), hash[:])
	e.sigs = append(e.sigs, valid)

	// Hashes: the signed one, and ones that reduce to it or around it.
	hn := new(big.Int).Add(hashInt(hash[:]), order)
	e.hashes = [][]byte{hash[:], nil, make([]byte, 32), bytesOf(0xff, 32), order.FillBytes(make([]byte, 32)),
		append(hash[:], 1, 2, 3), hash[:31], hash[1:], bytesOf(0xff, 64)}
	if hn.BitLen() <= 256 {
		e.hashes = append(e.hashes, hn.FillBytes(make([]byte, 32))) // e + n: the same e
	}

	one := big.NewInt(1)
	r, s := new(big.Int).SetBytes(valid[:32]), new(big.Int).SetBytes(valid[32:])
	ints := []*big.Int{
		big.NewInt(0), one, new(big.Int).Sub(order, one), order, new(big.Int).Add(order, one),
		new(big.Int).Lsh(one, 255), new(big.Int).Sub(new(big.Int).Lsh(one, 256), one),
		new(big.Int).Add(r, order), new(big.Int).Add(s, order), new(big.Int).Sub(order, s), // n − s verifies too
		new(big.Int).Sub(order, r),
	}
	for _, v := range ints {
		if v.BitLen() > 256 {
			continue
		}
		b := v.FillBytes(make([]byte, 32))
		e.sigs = append(e.sigs, append(append([]byte(nil), b...), valid[32:]...), append(valid[:32:32], b...))
	}
	for i := range 2 * 256 {
		sig := append([]byte(nil), valid...)
		sig[i/8] ^= 1 << (i % 8)
		e.sigs = append(e.sigs, sig)
	}
	e.sigs = append(e.sigs, nil, valid[:63], append(append([]byte(nil), valid...), 0), make([]byte, 64), bytesOf(0xff, 64))

	// Q = G, −G, 2G, 3G, and [2^128]G.
	for _, sd := range []*big.Int{one, new(big.Int).Sub(order, one), big.NewInt(2), big.NewInt(3), new(big.Int).Lsh(one, 128)} {
		e.smallPubs = append(e.smallPubs, pubOf(t, sd))
		e.smallSigs = append(e.smallSigs, sign(t, sd, new(big.Int).SetBytes(nonce[:]), hash[:]))
	}
	return e
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestVerifyAgrees checks that Verify and crypto/ecdsa.VerifyASN1 agree on
// the edge cases: every signature with every hash, every small key with
// its signature and with the others.
func TestVerifyAgrees(t *testing.T) {
	e := newEdgeCases(t)
	accepted := 0
	for _, hash := range e.hashes {
		for _, sig := range e.sigs {
			if agree(t, e.pub, hash, sig) {
				accepted++
			}
		}
	}
	for i, pub := range e.smallPubs {
		if !agree(t, pub, e.hashes[0], e.smallSigs[i]) {
			t.Errorf("small key %d: a valid signature failed", i)
		}
		for _, sig := range append(e.sigs[:20:20], e.smallSigs...) {
			agree(t, pub, e.hashes[0], sig)
		}
	}
	// The valid signature, n − s, and the hashes that reduce to the signed
	// one (e + n, and a longer hash that starts with it).
	if accepted < 2 {
		t.Fatalf("%d signatures verified, want at least the valid one and (r, n − s)", accepted)
	}
	t.Logf("%d hashes, %d signatures, %d small keys: %d accepted", len(e.hashes), len(e.sigs), len(e.smallPubs), accepted)
}

// forged returns a key, hash and signature for which R = [u1]G + [u2]Q is
// the point R given, for any u1 and nonzero u2: Q = (R − [u1]G)/u2, r =
// x(R) mod n, s = r/u2, e = u1·s. R must not be the point at infinity.
func forged(t testing.TB, R *nistec.P256Point, u1, u2 *big.Int) (pub, hash, sig []byte) {
	t.Helper()
	x, err := R.BytesX()
	if err != nil {
		t.Fatal(err)
	}
	u1G, err := nistec.NewP256Point().ScalarBaseMult(scalarBytes(u1))
	if err != nil {
		t.Fatal(err)
	}
	Q := nistec.NewP256Point().Add(R, nistec.NewP256Point().Negate(u1G))
	if _, err := Q.ScalarMult(Q, scalarBytes(new(big.Int).ModInverse(u2, order))); err != nil {
		t.Fatal(err)
	}
	r := new(big.Int).Mod(new(big.Int).SetBytes(x), order)
	s := new(big.Int).Mul(r, new(big.Int).ModInverse(u2, order))
	s.Mod(s, order)
	e := new(big.Int).Mul(u1, s)
	return Q.Bytes(), scalarBytes(e), append(scalarBytes(r), scalarBytes(s)...)
}

// xAboveN returns keys, hashes and signatures whose R has an x of n or
// more, so that r = x(R) − n: one in 2^128 of honest signatures, made here
// by choosing R first (forged). Each verifies; with r = x(R), in the
// fourth of each case, it would not.
func xAboveN(t testing.TB) [][4][]byte {
	t.Helper()
	var out [][4][]byte
	x := new(big.Int).Set(order)
	for len(out) < 4 {
		x.Add(x, big.NewInt(1))
		R, err := nistec.NewP256Point().SetBytes(append([]byte{2}, x.FillBytes(make([]byte, 32))...))
		if err != nil {
			continue // x is not the x of any point
		}
		i := int64(len(out))
		pub, hash, sig := forged(t, R, big.NewInt(i*7), big.NewInt(i*5+1))
		out = append(out, [4][]byte{pub, hash, sig, append(x.FillBytes(make([]byte, 32)), sig[32:]...)})
	}
	return out
}

// TestVerifyXAboveN checks the signatures of xAboveN.
func TestVerifyXAboveN(t *testing.T) {
	for _, c := range xAboveN(t) {
		if !agree(t, c[0], c[1], c[2]) {
			t.Errorf("Q=%x hash=%x: the signature %x failed", c[0], c[1], c[2])
		}
		if agree(t, c[0], c[1], c[3]) {
			t.Errorf("Q=%x hash=%x: r = x(R) verified", c[0], c[1])
		}
	}
}

// atInfinity returns keys, hashes and signatures for which [u1]G + [u2]Q
// is the point at infinity: under Q = [d]G, e = −r·d mod n makes u1 + u2·d
// = (e + r·d)/s zero whatever s. The first key is G.
func atInfinity(t testing.TB) [][3][]byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(7, 8))
	var out [][3][]byte
	for i := range 6 {
		d, r, s := randScalar(rnd), randScalar(rnd), randScalar(rnd)
		if i == 0 {
			d = big.NewInt(1)
		}
		e := new(big.Int).Mul(r, d)
		e.Neg(e).Mod(e, order)
		out = append(out, [3][]byte{pubOf(t, d), scalarBytes(e), append(scalarBytes(r), scalarBytes(s)...)})
	}
	return out
}

// TestVerifyInfinity checks that both ways of computing R find the point
// at infinity for the cases of atInfinity, and that Verify, as
// crypto/ecdsa, rejects them.
func TestVerifyInfinity(t *testing.T) {
	for _, c := range atInfinity(t) {
		pub, hash, sig := c[0], c[1], c[2]
		k := withTable(t, pub)
		var e, r, s, w, u1, u2 scalar
		e.setBytes((*[32]byte)(hash))
		r.setBytes((*[32]byte)(sig[:32]))
		s.setBytes((*[32]byte)(sig[32:]))
		w.invert(&s)
		w.mul(&w, &rr)
		u1.mul(&e, &w)
		u2.mul(&r, &w)
		for _, tab := range []*table{nil, k.tab.Load()} {
			R, err := k.sum(&u1, &u2, tab)
			if err != nil || R.IsInfinity() != 1 {
				t.Fatalf("Q=%x hash=%x sig=%x, table %v: R = %x, %v; want the point at infinity", pub, hash, sig, tab != nil, R.Bytes(), err)
			}
		}
		if agreeKey(t, k, pub, hash, sig) {
			t.Fatalf("Q=%x hash=%x sig=%x: R at infinity verified", pub, hash, sig)
		}
	}
}

// randScalar returns a random integer in [1, n−1].
func randScalar(r *rand.Rand) *big.Int {
	for {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		v := new(big.Int).SetBytes(b[:])
		if v.Sign() > 0 && v.Cmp(order) < 0 {
			return v
		}
	}
}

// TestVerifyRandom checks random keys and hashes signed by crypto/ecdsa:
// each verifies both ways, and fails altered.
func TestVerifyRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(rnd.Uint32())
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalarBytes(new(big.Int).SetBytes(seed[:])))
		if err != nil {
			continue // d = 0 mod n
		}
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, rnd.IntN(100))
		for i := range msg {
			msg[i] = byte(rnd.Uint32())
		}
		hash := sha256.Sum256(msg)
		der, err := ecdsa.SignASN1(nil, priv, hash[:]) // deterministic (RFC 6979) without a random source
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		sig := append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
		k := withTable(t, pub)
		if !agreeKey(t, k, pub, hash[:], sig) {
			t.Fatal("a valid signature failed")
		}
		bad := append([]byte(nil), sig...)
		bad[rnd.IntN(64)] ^= byte(1 + rnd.IntN(255))
		if agreeKey(t, k, pub, hash[:], bad) {
			t.Fatalf("an altered signature %x verified", bad)
		}
		h := hash
		h[rnd.IntN(32)] ^= byte(1 + rnd.IntN(255))
		if agreeKey(t, k, pub, h[:], sig) {
			t.Fatalf("a signature verified an altered hash %x", h)
		}
	}
}

// TestWycheproof runs Wycheproof's ECDSA P-256 SHA-256 vectors with r‖s
// signatures (testdata/vectors/SOURCES.md) on both ways of computing R:
// each must give Wycheproof's result (writ rejects "acceptable" ones, of
// which the file has none) and crypto/ecdsa's.
func TestWycheproof(t *testing.T) {
	runWycheproof(t, "ecdsa_secp256r1_sha256_p1363_test.json", func(sig []byte) []byte { return sig })
}

// TestWycheproofDER runs the same primitive's vectors with DER signatures.
// A signature in canonical DER with r and s of at most 32 bytes is checked
// as r‖s like TestWycheproof's; any other encoding is crypto/ecdsa's to
// refuse (parsing ASN.1 is not this package's job), and it must.
func TestWycheproofDER(t *testing.T) {
	runWycheproof(t, "ecdsa_secp256r1_sha256_test.json", func(der []byte) []byte {
		var rs struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(der, &rs)
		if err == nil && len(rest) == 0 && rs.R.Sign() >= 0 && rs.S.Sign() >= 0 && rs.R.BitLen() <= 256 && rs.S.BitLen() <= 256 {
			if again, _ := asn1.Marshal(rs); bytes.Equal(again, der) {
				return append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
			}
		}
		return nil
	})
}

// runWycheproof runs the Wycheproof file name, whose signatures p1363
// turns into r‖s, or nil when Verify cannot take them: then
// crypto/ecdsa.VerifyASN1 must refuse the signature as Wycheproof says.
func runWycheproof(t *testing.T, name string, p1363 func(sig []byte) []byte) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			PublicKey struct {
				Uncompressed string `json:"uncompressed"`
			} `json:"publicKey"`
			Tests []struct {
				TcID    int    `json:"tcId"`
				Comment string `json:"comment"`
				Msg     string `json:"msg"`
				Sig     string `json:"sig"`
				Result  string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	run, accepted, other := 0, 0, 0
	for _, g := range file.TestGroups {
		pub := mustHex(t, g.PublicKey.Uncompressed)
		std, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range g.Tests {
			run++
			msg, sig := mustHex(t, tc.Msg), mustHex(t, tc.Sig)
			hash := sha256.Sum256(msg)
			want := tc.Result == "valid"
			rs := p1363(sig)
			if rs == nil {
				other++
				if ecdsa.VerifyASN1(std, hash[:], sig) || want {
					t.Errorf("tc%d %q: a signature that is not canonical DER is %q", tc.TcID, tc.Comment, tc.Result)
				}
				continue
			}
			got := agree(t, pub, hash[:], rs)
			if got != want {
				t.Errorf("tc%d %q: Verify = %v, Wycheproof says %q", tc.TcID, tc.Comment, got, tc.Result)
			}
			if got {
				accepted++
			}
		}
	}
	if run == 0 || run != file.NumberOfTests {
		t.Fatalf("ran %d vectors, the file declares %d", run, file.NumberOfTests)
	}
	t.Logf("%s: %d vectors, %d accepted, %d in another encoding", name, run, accepted, other)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTableMult checks the table arithmetic against nistec's ScalarMult,
// for every window width measured, on edge scalars and random ones.
func TestTableMult(t *testing.T) {
	one := big.NewInt(1)
	scalars := []*big.Int{big.NewInt(0), one, big.NewInt(2), big.NewInt(15), big.NewInt(16), big.NewInt(17), big.NewInt(31),
		new(big.Int).Sub(order, one), new(big.Int).Sub(order, big.NewInt(2)), new(big.Int).Rsh(order, 1),
		new(big.Int).Lsh(one, 255), new(big.Int).Sub(new(big.Int).Lsh(one, 255), one), new(big.Int).Lsh(one, 128)}
	// Digits all at the window's top, so that every carry ripples.
	for _, w := range []int{4, 5, 6} {
		v := new(big.Int)
		for i := 0; i < 256; i += w {
			v.SetBit(v, i+w-1, 1)
		}
		scalars = append(scalars, v.Mod(v, order))
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		scalars = append(scalars, randScalar(rnd))
	}
	for _, d := range []*big.Int{one, new(big.Int).Sub(order, one), randScalar(rnd)} {
		q, err := nistec.NewP256Point().ScalarBaseMult(scalarBytes(d))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{4, 5, 6} {
			tab := newTable(q, w)
			for _, v := range scalars {
				k := scalarOf(v)
				got := nistec.NewP256Point()
				tab.mult(got, &k)
				want, err := nistec.NewP256Point().ScalarMult(q, scalarBytes(v))
				if err != nil {
					t.Fatal(err)
				}
				if got.Equal(want) != 1 {
					t.Fatalf("w=%d d=%x: [%x]Q = %x, want %x", w, d, v, got.Bytes(), want.Bytes())
				}
			}
		}
	}
}

// FuzzVerify checks that Verify, with and without the key's table, and
// crypto/ecdsa.VerifyASN1 agree on any key, hash and signature. A key of
// 65 bytes is an encoded point, which NewPublicKey must refuse exactly
// when crypto/ecdsa does; a shorter one is a private scalar d, the key
// [d mod n]G, so that the fuzzer reaches small keys too.
func FuzzVerify(f *testing.F) {
	e := newEdgeCases(f)
	for _, hash := range e.hashes {
		f.Add(e.pub, hash, e.sigs[0])
	}
	for _, sig := range e.sigs {
		f.Add(e.pub, e.hashes[0], sig)
	}
	for i, pub := range e.smallPubs {
		f.Add(pub, e.hashes[0], e.smallSigs[i])
	}
	for _, d := range [][]byte{{1}, {2}, {3}, order.Bytes(), new(big.Int).Sub(order, big.NewInt(1)).Bytes()} {
		f.Add(d, e.hashes[0], e.sigs[0])
	}
	for _, c := range xAboveN(f) {
		f.Add(c[0], c[1], c[2])
		f.Add(c[0], c[1], c[3])
	}
	for _, c := range atInfinity(f) {
		f.Add(c[0], c[1], c[2])
	}
	f.Add(append([]byte{4}, make([]byte, 64)...), e.hashes[0], e.sigs[0]) // (0, 0): not on the curve
	f.Add(bytesOf(0xff, 65), e.hashes[0], e.sigs[0])
	f.Fuzz(func(t *testing.T, key, hash, sig []byte) {
		pub := key
		if len(key) <= 32 {
			d := new(big.Int).Mod(new(big.Int).SetBytes(key), order)
			if d.Sign() == 0 {
				return
			}
			pub = pubOf(t, d)
		}
		_, err := NewPublicKey(pub)
		if _, stdErr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub); (err == nil) != (stdErr == nil) {
			t.Fatalf("NewPublicKey(%x): %v, crypto/ecdsa says %v", pub, err, stdErr)
		}
		if err != nil {
			return
		}
		agreeKey(t, withTable(t, pub), pub, hash, sig)
	})
}

// FuzzVerifyNearValid starts from a valid signature of hash by the key
// made from seed, which random inputs never reach, and alters it as the
// fuzzer says: s replaced by n − s (which verifies too), r or s plus n,
// one bit flipped. Verify must agree with crypto/ecdsa.VerifyASN1 on the
// result, with and without the key's table.
func FuzzVerifyNearValid(f *testing.F) {
	for i := range 12 {
		f.Add([]byte{byte(i)}, []byte("eyJhbGciOiJFUzI1NiJ9.e30"), uint8(i%4), uint16(i*100))
	}
	f.Fuzz(func(t *testing.T, seed, msg []byte, change uint8, flip uint16) {
		h := sha256.Sum256(seed)
		d := new(big.Int).Mod(new(big.Int).SetBytes(h[:]), order)
		if d.Sign() == 0 {
			return
		}
		hash := sha256.Sum256(msg)
		nonce := sha256.Sum256(append(h[:], msg...))
		sig := sign(t, d, new(big.Int).SetBytes(nonce[:]), hash[:])
		if sig == nil {
			return
		}
		switch change % 4 {
		case 1:
			copy(sig[32:], scalarBytes(new(big.Int).Sub(order, new(big.Int).SetBytes(sig[32:]))))
		case 2, 3: // r + n or s + n, when it fits
			part := sig[32*(change%2) : 32*(change%2)+32]
			if v := new(big.Int).Add(new(big.Int).SetBytes(part), order); v.BitLen() <= 256 {
				v.FillBytes(part)
			}
		}
		if flip < 512 {
			sig[flip/8] ^= 1 << (flip % 8)
		}
		pub := pubOf(t, d)
		agreeKey(t, withTable(t, pub), pub, hash[:], sig)
	})
}

// TestTableAfter checks that a key's table is built by its TableAfter-th
// successful verification (internal/lazy holds that to once, whatever the
// concurrency), that refused signatures count nothing, and that the
// verifications before and after answer right.
func TestTableAfter(t *testing.T) {
	e := newEdgeCases(t)
	k, err := NewPublicKey(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	valid := e.sigs[0]
	bad := append([]byte(nil), valid...)
	bad[40] ^= 1
	one := make([]byte, SignatureSize) // r = s = 1: in range, and wrong
	one[31], one[63] = 1, 1
	for i := range 4 * TableAfter {
		if k.Verify(e.hashes[0], bad) || k.Verify(e.hashes[0], one) || k.Verify(e.hashes[0], make([]byte, SignatureSize)) {
			t.Fatal("a bad signature verified")
		}
		if k.tab.Load() != nil {
			t.Fatalf("a table after %d refused signatures", 3*(i+1))
		}
	}
	for i := 1; i <= TableAfter+2; i++ {
		if !k.Verify(e.hashes[0], valid) || k.Verify(e.hashes[0], bad) {
			t.Fatalf("verification %d answered wrong", i)
		}
		if built := k.tab.Load() != nil; built != (i >= TableAfter) {
			t.Fatalf("after %d verified signatures, a table: %v", i, built)
		}
	}
}

// TestNewPublicKey checks which keys are refused: every encoding but the
// uncompressed one, coordinates of p or more, points off the curve, and
// keys crypto/ecdsa would not verify under; others are taken.
func TestNewPublicKey(t *testing.T) {
	e := newEdgeCases(t)
	p := elliptic.P256().Params().P
	x, y := e.pub[1:33], e.pub[33:]
	xp := new(big.Int).Add(new(big.Int).SetBytes(x), p) // x + p: the same field element, out of range
	offCurve := append([]byte(nil), e.pub...)
	offCurve[64] ^= 1
	refused := map[string][]byte{
		"empty":      nil,
		"identity":   {0},
		"compressed": append([]byte{2 + y[31]&1}, x...),
		"hybrid":     append([]byte{6 + y[31]&1}, e.pub[1:]...),
		"short":      e.pub[:64],
		"long":       append(append([]byte(nil), e.pub...), 0),
		"zeros":      append([]byte{4}, make([]byte, 64)...),
		"off curve":  offCurve,
		"y = p":      append(append([]byte{4}, x...), p.Bytes()...),
		"all ones":   bytesOf(0xff, 65),
	}
	if xp.BitLen() <= 256 { // for this key's x, below 2^256 − p
		refused["x + p"] = append(append([]byte{4}, xp.FillBytes(make([]byte, 32))...), y...)
	}
	for name, b := range refused {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPublicKey(b); err == nil {
				t.Errorf("NewPublicKey(%x) took it", b)
			}
			if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b); err == nil {
				t.Errorf("crypto/ecdsa takes %x", b)
			}
		})
	}
	if _, err := NewPublicKey(e.pub); err != nil {
		t.Errorf("a valid key: %v", err)
	}

	std, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), e.pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewPublicKeyECDSA(std)
	if err != nil || !k.Verify(e.hashes[0], e.sigs[0]) {
		t.Errorf("NewPublicKeyECDSA of a valid key: %v", err)
	}
	bigOfBytes := func(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
	for name, pub := range map[string]*ecdsa.PublicKey{
		"nil":        nil,
		"P-384":      {Curve: elliptic.P384(), X: bigOfBytes(x), Y: bigOfBytes(y)},
		"no X":       {Curve: elliptic.P256(), Y: bigOfBytes(y)},
		"off curve":  {Curve: elliptic.P256(), X: bigOfBytes(x), Y: new(big.Int).Add(bigOfBytes(y), big.NewInt(1))},
		"negative Y": {Curve: elliptic.P256(), X: bigOfBytes(x), Y: new(big.Int).Neg(bigOfBytes(y))},
		"Y + p":      {Curve: elliptic.P256(), X: bigOfBytes(x), Y: new(big.Int).Add(bigOfBytes(y), p)},
		"zeros":      {Curve: elliptic.P256(), X: new(big.Int), Y: new(big.Int)},
	} {
		t.Run("ecdsa/"+name, func(t *testing.T) {
			if _, err := NewPublicKeyECDSA(pub); err == nil {
				t.Error("NewPublicKeyECDSA took it")
			}
		})
	}
}
