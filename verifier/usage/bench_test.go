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

// BenchmarkSend measures what the Reporter's goroutine spends per use: a
// full batch of 1,000 uses encoded and sent to a server on loopback that
// reads the report and answers 202 (its parsing is left out: in
// production writ serve does it, elsewhere). Each op is one batch.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	r, err := NewReporter(Config{URL: srv.URL + "/v1/usage", Token: StaticToken("bench"), FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	u := verifier.Use{JTI: "AAECAwQFBgcICQoLDA0ODw", At: t0, Client: use(0).Client, Outcome: verifier.OutcomeAccepted}
	s := sender{r: r}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.mu.Lock()
		for range DefaultBatchSize {
			e := entry{at: u.At.Unix(), client: u.Client, outcome: u.Outcome, jtiLen: uint8(len(u.JTI))}
			copy(e.short[:], u.JTI)
			r.push(&e)
		}
		r.mu.Unlock()
		s.batch = r.take(s.batch, true)
		if !s.send(ctx) {
			b.Fatal("not sent")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatchSize), "ns/use")
}
