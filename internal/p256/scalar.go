package p256

import (
	"encoding/binary"
	"math/bits"
)

// scalar is an integer modulo the group order n, in four little-endian
// 64-bit limbs. A verification needs s⁻¹ (invert) and two products (mul,
// Montgomery's, with R = 2^256), with no allocation. Everything here is public, so it runs
// in variable time.
type scalar [4]uint64

// n is the order of the P-256 group.
var n = scalar{0xf3b9cac2fc632551, 0xbce6faada7179e84, 0xffffffffffffffff, 0xffffffff00000000}

// rr is R² mod n, which mul by turns into R: the Montgomery form of 1.
var rr = scalar{0x83244c95be79eea2, 0x4699799c49bd6fa6, 0x2845b2392b6bec59, 0x66e12d94f3d95620}

// nInv is −n⁻¹ mod 2^64.
const nInv = 0xccd1c8aaee00bc4f

// setBytes sets x to the big-endian 32 bytes b, which may be n or more.
func (x *scalar) setBytes(b *[32]byte) {
	for i := range x {
		x[i] = binary.BigEndian.Uint64(b[24-8*i:])
	}
}

// bytes returns x, big-endian.
func (x *scalar) bytes() [32]byte {
	var b [32]byte
	for i := range x {
		binary.BigEndian.PutUint64(b[24-8*i:], x[i])
	}
	return b
}

// lessThanN reports whether x < n.
func (x *scalar) lessThanN() bool {
	var b uint64
	for i := range x {
		_, b = bits.Sub64(x[i], n[i], b)
	}
	return b == 1
}

// isZero reports whether x = 0.
func (x *scalar) isZero() bool { return x[0]|x[1]|x[2]|x[3] == 0 }

// reduce sets x to x mod n, for any x < 2^256 (< 2n).
func (x *scalar) reduce() {
	var d scalar
	var b uint64
	for i := range x {
		d[i], b = bits.Sub64(x[i], n[i], b)
	}
	if b == 0 {
		*x = d
	}
}

// mul sets z = x·y·R⁻¹ mod n, for x and y below n (CIOS: Koç, Acar and
// Kaliski, "Analyzing and comparing Montgomery multiplication
// algorithms", 1996).
func (z *scalar) mul(x, y *scalar) {
	var t [6]uint64
	for i := range 4 {
		// t += x·y[i]
		var c, cc uint64
		for j := range 4 {
			hi, lo := bits.Mul64(x[j], y[i])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			t[j], c = lo, hi+cc
		}
		t[4], cc = bits.Add64(t[4], c, 0)
		t[5] = cc
		// t = (t + m·n) / 2^64, with m chosen so that the sum's low limb
		// is zero.
		m := t[0] * nInv
		hi, lo := bits.Mul64(m, n[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < 4; j++ {
			hi, lo := bits.Mul64(m, n[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			t[j-1], c = lo, hi+cc
		}
		t[3], cc = bits.Add64(t[4], c, 0)
		t[4] = t[5] + cc
	}
	// t < 2n: subtract n once if t ≥ n.
	var d scalar
	var b uint64
	for i := range d {
		d[i], b = bits.Sub64(t[i], n[i], b)
	}
	if _, b = bits.Sub64(t[4], 0, b); b == 0 {
		*z = d
	} else {
		*z = scalar(t[:4])
	}
}

// invert sets z = x⁻¹ mod n by the binary extended Euclidean algorithm
// (Hankerson, Menezes and Vanstone, "Guide to Elliptic Curve
// Cryptography", 2004, Algorithm 2.22), in variable time: about 6% of a
// VerifyASN1, several times faster than raising x to n − 2 with mul, and
// without the 11 allocations of math/big's ModInverse (BenchmarkInvert).
// x is in [1, n−1]; z is 0 if x is 0.
func (z *scalar) invert(x *scalar) {
	if x.isZero() {
		*z = scalar{} // the loops below would not end
		return
	}
	// x·x1 ≡ u and x·x2 ≡ v (mod n) throughout; gcd(u, v) = gcd(x, n) = 1.
	u, v := *x, n
	x1, x2 := scalar{1}, scalar{}
	for !u.isOne() && !v.isOne() {
		for u[0]&1 == 0 {
			u.rsh1(0)
			x1.half()
		}
		for v[0]&1 == 0 {
			v.rsh1(0)
			x2.half()
		}
		if u.less(&v) {
			v.sub(&u)
			x2.subMod(&x1)
		} else {
			u.sub(&v)
			x1.subMod(&x2)
		}
	}
	if u.isOne() {
		*z = x1
	} else {
		*z = x2
	}
}

// isOne reports whether x = 1.
func (x *scalar) isOne() bool { return x[0] == 1 && x[1]|x[2]|x[3] == 0 }

// less reports whether x < y.
func (x *scalar) less(y *scalar) bool {
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// sub sets x = x − y, for y ≤ x.
func (x *scalar) sub(y *scalar) {
	var b uint64
	for i := range x {
		x[i], b = bits.Sub64(x[i], y[i], b)
	}
}

// subMod sets x = x − y mod n, for x and y below n.
func (x *scalar) subMod(y *scalar) {
	var b uint64
	for i := range x {
		x[i], b = bits.Sub64(x[i], y[i], b)
	}
	if b != 0 {
		var c uint64
		for i := range x {
			x[i], c = bits.Add64(x[i], n[i], c)
		}
	}
}

// half sets x = x/2 mod n, for x below n: x/2, or (x + n)/2 when x is odd.
func (x *scalar) half() {
	var c uint64
	if x[0]&1 == 1 {
		for i := range x {
			x[i], c = bits.Add64(x[i], n[i], c)
		}
	}
	x.rsh1(c)
}

// rsh1 shifts x right by one bit, with top as the new bit 255.
func (x *scalar) rsh1(top uint64) {
	x[0] = x[0]>>1 | x[1]<<63
	x[1] = x[1]>>1 | x[2]<<63
	x[2] = x[2]>>1 | x[3]<<63
	x[3] = x[3]>>1 | top<<63
}
