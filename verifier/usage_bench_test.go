package verifier_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/usage"
)

// BenchmarkVerifyUsage measures VerifyFrom of the EdDSA token of
// BenchmarkVerify without a UsageRecorder (off) and with a usage.Reporter
// (reporter) that sends its reports to a server on loopback, which reads
// them and answers 202; serially and with RunParallel. The reporter's
// sending (encoding, HTTP) runs in this process, on the same cores, and
// is in the figures. The interleaved cases run both in one loop.
func BenchmarkVerifyUsage(b *testing.B) {
	f := fixedKeys()
	token := f.ed.jwt(nil, nil)
	client := netip.MustParseAddr("10.1.2.3")
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	rep, err := usage.NewReporter(usage.Config{URL: sink.URL + "/v1/usage", Token: usage.StaticToken("bench")})
	if err != nil {
		b.Fatal(err)
	}
	defer rep.Close(context.Background())
	ctx := context.Background()
	for _, mode := range []string{"serial", "parallel"} {
		for _, rec := range []struct {
			name string
			r    verifier.UsageRecorder
		}{{"off", nil}, {"reporter", rep}} {
			b.Run(mode+"/"+rec.name, func(b *testing.B) {
				v := newVerifier(b, f.keys, func(c *verifier.Config) { c.Usage = rec.r })
				b.ReportAllocs()
				if mode == "serial" {
					for b.Loop() {
						if _, err := v.VerifyFrom(ctx, token, client); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.VerifyFrom(ctx, token, client); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
	// On a shared machine, whose load changes between runs, compare the two
	// within one run: alternate blocks of verifies without and with the
	// reporter, each first in turn, timing each, and report both and their
	// ratio.
	off := newVerifier(b, f.keys, nil)
	on := newVerifier(b, f.keys, func(c *verifier.Config) { c.Usage = rep })
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("interleaved/"+mode, func(b *testing.B) {
			const block = 16
			var offNS, onNS atomic.Int64
			var turn atomic.Uint32
			run := func(fail func(...any)) {
				pair := [...]*verifier.Verifier{off, on}
				if turn.Add(1)%2 == 0 { // neither goes first always
					pair[0], pair[1] = on, off
				}
				for _, v := range pair {
					start := time.Now()
					for range block {
						if _, err := v.VerifyFrom(ctx, token, client); err != nil {
							fail(err)
						}
					}
					d := int64(time.Since(start))
					if v == off {
						offNS.Add(d)
					} else {
						onNS.Add(d)
					}
				}
			}
			b.ReportAllocs()
			if mode == "serial" {
				for b.Loop() {
					run(b.Fatal)
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						run(b.Error)
					}
				})
			}
			n := float64(b.N * block)
			b.ReportMetric(float64(offNS.Load())/n, "off-ns/verify")
			b.ReportMetric(float64(onNS.Load())/n, "reporter-ns/verify")
			b.ReportMetric(float64(onNS.Load())/float64(offNS.Load()), "reporter/off")
		})
	}
	if st := rep.Stats(); st.Dropped > 0 || st.Failures > 0 {
		b.Logf("reporter: %+v", st)
	}
}
