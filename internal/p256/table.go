package p256

import "filippo.io/nistec"

// window is the width of a table's digits: 5 bits, signed, so 52 rows of
// 16 points (78 KiB) and at most 52 additions per multiplication; a
// verification costs about 0.54 of VerifyASN1's, and the table about five
// verifications. 4 bits would take 65 rows of 8 points (49 KiB) and 65
// additions (0.6 of VerifyASN1, a table of 3.5 verifications), 6 bits 43
// rows of 32 points (129 KiB) and 43 additions (0.5, a table of 8.5):
// BenchmarkWindow measures them.
const window = 5

// table holds, for a point Q and a window w, the multiples j·2^(w·i)·Q for
// j = 1 … 2^(w−1) in row i: what the signed digit i of a scalar in radix
// 2^w needs. Its rows cover 257 bits, the scalar's 256 and the last
// digit's carry.
type table struct {
	w   int
	pts []*nistec.P256Point // row i, multiple j: pts[i·2^(w−1) + j − 1]
}

// rows is the number of digits of a scalar below 2^256 in signed radix 2^w.
func rows(w int) int { return (257 + w - 1) / w }

// newTable builds the table of q for the window w. It costs a doubling and
// 2^(w−1) − 1 additions per row: with w = 5, 832 operations, about five
// verifications.
func newTable(q *nistec.P256Point, w int) *table {
	half := 1 << (w - 1)
	t := &table{w: w, pts: make([]*nistec.P256Point, rows(w)*half)}
	base := nistec.NewP256Point().Set(q) // 2^(w·i)·Q
	for i := range rows(w) {
		row := t.pts[i*half : (i+1)*half]
		row[0] = nistec.NewP256Point().Set(base)
		for j := 1; j < half; j++ {
			row[j] = nistec.NewP256Point().Add(row[j-1], base)
		}
		base.Double(row[half-1]) // 2^w · 2^(w·i)·Q = 2 · 2^(w−1)·2^(w·i)·Q
	}
	return t
}

// mult sets p = [k]Q, where t is the table of Q, with one addition per
// nonzero digit of k and no doubling. k is below n.
func (t *table) mult(p *nistec.P256Point, k *scalar) {
	half := 1 << (t.w - 1)
	p.Set(nistec.NewP256Point()) // the point at infinity
	neg := nistec.NewP256Point()
	var carry int
	for i := range rows(t.w) {
		// The digit is the window's bits plus the carry, 0 to 2^w, taken
		// as itself up to 2^(w−1) and as a negative digit with a carry
		// into the next window above.
		d := int(bitsAt(k, i*t.w, t.w)) + carry
		carry = 0
		if d > half {
			d -= 1 << t.w
			carry = 1
		}
		switch {
		case d > 0:
			p.Add(p, t.pts[i*half+d-1])
		case d < 0:
			p.Add(p, neg.Negate(t.pts[i*half-d-1]))
		}
	}
}

// bitsAt returns the w bits of k from bit pos up, 0 past bit 255.
func bitsAt(k *scalar, pos, w int) uint64 {
	limb, off := pos/64, pos%64
	if limb >= len(k) {
		return 0
	}
	v := k[limb] >> off
	if off+w > 64 && limb+1 < len(k) {
		v |= k[limb+1] << (64 - off)
	}
	return v & (1<<w - 1)
}
