package eddsa

import (
	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// The formulas below are those of filippo.io/edwards25519 (BSD licence,
// Copyright 2017 The Go Authors), whose point types are unexported:
// extended coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z, xy = T/Z
// (Hisil, Wong, Carter, Dawson, "Twisted Edwards curves revisited", 2008),
// and points added in the "affine cached" form (y+x, y−x, 2dxy). The
// addition is complete on edwards25519: it holds for every pair of points,
// small-order ones and the identity included.

// d2 is 2d, where d = −121665/121666 is the curve's constant.
var d2 = func() *field.Element {
	d, err := new(field.Element).SetBytes([]byte{
		0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75,
		0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
		0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c,
		0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52})
	if err != nil {
		panic(err)
	}
	return d.Add(d, d)
}()

// cached is a point in affine cached form: y+x, y−x and 2dxy.
type cached struct {
	ypx, ymx, t2d field.Element
}

// table holds, in row j, the multiples 1·P to 8·P of 256^j·P, for a point
// P: what a signed radix-16 scalar's digit 2j and 2j+1 need.
type table [32][8]cached

// point is a point in extended coordinates.
type point struct {
	X, Y, Z, T field.Element
}

// completed is the intermediate form of a sum or double: (X:Y:Z:T) with
// x = X/Z and y = Y/T.
type completed struct {
	X, Y, Z, T field.Element
}

// newTable builds the table of p. It costs about as much as three
// verifications: 384 additions and one batched inversion.
func newTable(p *edwards25519.Point) *table {
	var pts [32][8]edwards25519.Point
	var row edwards25519.Point // 256^j·P
	row.Set(p)
	for j := range pts {
		pts[j][0].Set(&row)
		for m := 1; m < 8; m++ {
			pts[j][m].Add(&pts[j][m-1], &row)
		}
		// 256^(j+1)·P = 32 · (8 · 256^j·P)
		row.Set(&pts[j][7])
		for range 5 {
			row.Add(&row, &row)
		}
	}
	// Affine coordinates need 1/Z of every point: one inversion for all
	// (Montgomery's trick). Z is never zero for a point of the curve.
	var Xs, Ys, Zs [256]field.Element
	var prefix [256]field.Element
	var acc field.Element
	acc.One()
	for i := range 256 {
		X, Y, Z, _ := pts[i/8][i%8].ExtendedCoordinates()
		Xs[i].Set(X)
		Ys[i].Set(Y)
		Zs[i].Set(Z)
		prefix[i].Set(&acc) // the product of the Z before i
		acc.Multiply(&acc, Z)
	}
	var inv field.Element
	inv.Invert(&acc) // 1 / (Z_0 ⋯ Z_255)
	t := new(table)
	for i := 255; i >= 0; i-- {
		var zInv, x, y field.Element
		zInv.Multiply(&inv, &prefix[i]) // 1/Z_i
		inv.Multiply(&inv, &Zs[i])      // 1 / (Z_0 ⋯ Z_(i−1))
		x.Multiply(&Xs[i], &zInv)
		y.Multiply(&Ys[i], &zInv)
		c := &t[i/8][i%8]
		c.ypx.Add(&y, &x)
		c.ymx.Subtract(&y, &x)
		c.t2d.Multiply(&x, &y)
		c.t2d.Multiply(&c.t2d, d2)
	}
	return t
}

// addCached sets r = p + q, or p − q when neg is set.
func (r *completed) addCached(p *point, q *cached, neg bool) {
	var ypx, ymx, pp, mm, tt2d, z2 field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	if neg { // −q swaps y+x and y−x and negates 2dxy
		pp.Multiply(&ypx, &q.ymx)
		mm.Multiply(&ymx, &q.ypx)
	} else {
		pp.Multiply(&ypx, &q.ypx)
		mm.Multiply(&ymx, &q.ymx)
	}
	tt2d.Multiply(&p.T, &q.t2d)
	z2.Add(&p.Z, &p.Z)
	r.X.Subtract(&pp, &mm)
	r.Y.Add(&pp, &mm)
	if neg {
		r.Z.Subtract(&z2, &tt2d)
		r.T.Add(&z2, &tt2d)
	} else {
		r.Z.Add(&z2, &tt2d)
		r.T.Subtract(&z2, &tt2d)
	}
}

// double sets r = 2p.
func (r *completed) double(p *point) {
	var xx, yy, zz2, s field.Element
	xx.Square(&p.X)
	yy.Square(&p.Y)
	zz2.Square(&p.Z)
	zz2.Add(&zz2, &zz2)
	s.Add(&p.X, &p.Y)
	s.Square(&s)
	r.Y.Add(&yy, &xx)
	r.Z.Subtract(&yy, &xx)
	r.X.Subtract(&s, &r.Y)
	r.T.Subtract(&zz2, &r.Z)
}

// set sets p to the completed point c.
func (p *point) set(c *completed) {
	p.X.Multiply(&c.X, &c.T)
	p.Y.Multiply(&c.Y, &c.Z)
	p.Z.Multiply(&c.Z, &c.T)
	p.T.Multiply(&c.X, &c.Y)
}

// add adds to p the multiple d·256^j·P of table t's point P, for a digit d
// of −8 to 8, in variable time.
func (p *point) add(t *table, j int, d int8) {
	if d == 0 {
		return
	}
	var c completed
	if d > 0 {
		c.addCached(p, &t[j][d-1], false)
	} else {
		c.addCached(p, &t[j][-d-1], true)
	}
	p.set(&c)
}

// sumOfMultiples sets r = [a]P + [b]Q, where ta is the table of P and tb
// that of Q. It reports false only if the result is not a point of the
// curve, which the tables' points rule out.
func sumOfMultiples(r *edwards25519.Point, ta *table, a *edwards25519.Scalar, tb *table, b *edwards25519.Scalar) bool {
	da, db := signedRadix16(a), signedRadix16(b)
	var p point
	p.Y.One()
	p.Z.One() // the identity (0:1:1:0)
	// The odd digits, then ×16, then the even ones: the digit 2j+1 is
	// worth 16·256^j, the digit 2j 256^j.
	for j := range 32 {
		p.add(ta, j, da[2*j+1])
		p.add(tb, j, db[2*j+1])
	}
	var c completed
	for range 4 {
		c.double(&p)
		p.set(&c)
	}
	for j := range 32 {
		p.add(ta, j, da[2*j])
		p.add(tb, j, db[2*j])
	}
	_, err := r.SetExtendedCoordinates(&p.X, &p.Y, &p.Z, &p.T)
	return err == nil
}

// signedRadix16 returns the digits e_0 … e_63 of s, each from −8 to 8,
// with s = Σ e_i·16^i. s is reduced (below 2^253), so the last digit
// takes the final carry.
func signedRadix16(s *edwards25519.Scalar) [64]int8 {
	b := s.Bytes()
	var e [64]int8
	for i := range 32 {
		e[2*i] = int8(b[i] & 15)
		e[2*i+1] = int8(b[i] >> 4)
	}
	for i := range 63 {
		carry := (e[i] + 8) >> 4
		e[i] -= carry << 4
		e[i+1] += carry
	}
	return e
}
