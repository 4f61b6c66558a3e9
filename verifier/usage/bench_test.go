package usage

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	wire "github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/verifier"
)

// BenchmarkRecordUse measures RecordUse, serially and from every core, with
// the defaults (batches of 1,000, a buffer of 100,000):
//
//   - hung: writ serve hangs on the first report, so that RecordUse runs
//     alone, into a full buffer that drops its oldest use each time;
//   - loopback: a server on loopback reads and parses each report
//     (internal/usage.Parse) and answers 202, and Close sends what is
//     left at the end. Uses are recorded as fast as RecordUse takes them,
//     faster than the reports can carry them, so that sent/s is the most
//     the reporter delivers end to end, and dropped/op the share of the
//     uses offered that the buffer could not hold.
func BenchmarkRecordUse(b *testing.B) {
	u := verifier.Use{JTI: "AAECAwQFBgcICQoLDA0ODw", At: t0, Client: use(0).Client, Outcome: verifier.OutcomeAccepted}
	for _, sinkName := range []string{"hung", "loopback"} {
		for _, mode := range []string{"serial", "parallel"} {
			b.Run(sinkName+"/"+mode, func(b *testing.B) {
				release := make(chan struct{})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					if sinkName == "hung" {
						<-release
						return
					}
					if _, err := wire.Parse(body); err != nil {
						b.Error(err)
					}
					w.WriteHeader(http.StatusAccepted)
				}))
				defer srv.Close()
				defer close(release)
				r, err := NewReporter(Config{URL: srv.URL + "/v1/usage", Token: StaticToken("bench")})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				start := time.Now()
				if mode == "serial" {
					for b.Loop() {
						r.RecordUse(u)
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							r.RecordUse(u)
						}
					})
				}
				b.StopTimer()
				if sinkName == "hung" {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					_ = r.Close(ctx)
					return
				}
				if err := r.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				st := r.Stats()
				b.ReportMetric(float64(st.Sent)/time.Since(start).Seconds(), "sent/s")
				b.ReportMetric(float64(st.Dropped)/float64(st.Recorded), "dropped/op")
			})
		}
	}
}
