// Package interleave benchmarks alternative ways of verifying a signature
// or token in turn, in one loop, so that their ratios compare like with
// like on a machine whose load changes from second to second: go test
// -count repeats each benchmark back to back, so that load from other
// processes falls on one alternative rather than on all of them.
package interleave

import (
	"testing"
	"time"
)

// Impl is one alternative: its name, and a verification that reports
// whether it accepted, which it must.
type Impl struct {
	Name   string
	Verify func() bool
}

// Verifications runs impls in turn in b's loop, each going first in turn,
// and reports each one's time per verification (NAME-ns/verify) and the
// ratio of each other one's time to the first's (NAME/FIRST). b fails if a
// verification does not accept.
func Verifications(b *testing.B, impls ...Impl) {
	b.ReportAllocs()
	ns := make([]time.Duration, len(impls))
	for i := 0; b.Loop(); i++ {
		for j := range impls {
			j = (i + j) % len(impls)
			start := time.Now()
			ok := impls[j].Verify()
			ns[j] += time.Since(start)
			if !ok {
				b.Fatalf("%s: did not verify", impls[j].Name)
			}
		}
	}
	for j, impl := range impls {
		b.ReportMetric(float64(ns[j])/float64(b.N), impl.Name+"-ns/verify")
		if j > 0 {
			b.ReportMetric(float64(ns[j])/float64(ns[0]), impl.Name+"/"+impls[0].Name)
		}
	}
}

// Compare benchmarks each of impls alone, as impl=NAME, then all of them
// in turn as interleaved (Verifications). b fails if a verification does
// not accept.
func Compare(b *testing.B, impls ...Impl) {
	for _, impl := range impls {
		b.Run("impl="+impl.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !impl.Verify() {
					b.Fatalf("%s: did not verify", impl.Name)
				}
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) { Verifications(b, impls...) })
}
