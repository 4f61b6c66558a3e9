package p256

import (
	"crypto/elliptic"
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigOf returns x as a big.Int.
func bigOf(x *scalar) *big.Int {
	b := x.bytes()
	return new(big.Int).SetBytes(b[:])
}

// scalarOf returns v, below 2^256, as a scalar.
func scalarOf(v *big.Int) scalar {
	var b [32]byte
	v.FillBytes(b[:])
	var x scalar
	x.setBytes(&b)
	return x
}

// TestScalar checks invert and mul against math/big on edge values and
// random ones.
func TestScalar(t *testing.T) {
	order := elliptic.P256().Params().N
	one := big.NewInt(1)
	vals := []*big.Int{one, big.NewInt(2), big.NewInt(3), new(big.Int).Sub(order, one), new(big.Int).Sub(order, big.NewInt(2)),
		new(big.Int).Rsh(order, 1), new(big.Int).Lsh(one, 255), new(big.Int).Lsh(one, 64)}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		v := new(big.Int).SetBytes(b[:])
		vals = append(vals, v.Mod(v, order))
	}
	R := new(big.Int).Lsh(one, 256)
	RInv := new(big.Int).ModInverse(R, order)
	for i, a := range vals {
		if a.Sign() == 0 {
			continue
		}
		x := scalarOf(a)
		var z scalar
		z.invert(&x)
		if want := new(big.Int).ModInverse(a, order); bigOf(&z).Cmp(want) != 0 {
			t.Fatalf("1/%x = %x, want %x", a, bigOf(&z), want)
		}
		b := vals[(i+1)%len(vals)]
		y := scalarOf(b)
		z.mul(&x, &y)
		want := new(big.Int).Mul(a, b)
		want.Mul(want, RInv).Mod(want, order)
		if bigOf(&z).Cmp(want) != 0 {
			t.Fatalf("mul(%x, %x) = %x, want %x", a, b, bigOf(&z), want)
		}
	}
	var z, zero scalar
	z.invert(&zero)
	if !z.isZero() {
		t.Error("1/0 is not 0")
	}
}
