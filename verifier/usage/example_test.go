package usage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/usage"
)

// A Reporter is a verifier.UsageRecorder: set it as a verifier's
// Config.Usage (see package bearer's example for a whole service). Here it
// is given one use by hand, and Close sends it as the report writ serve
// reads.
func ExampleNewReporter() {
	// A stand-in for writ serve's POST /v1/usage.
	writ := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path, string(body))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer writ.Close()

	reporter, err := usage.NewReporter(usage.Config{
		URL:   writ.URL + "/v1/usage",
		Token: usage.StaticToken("example-usage-token"), // a writ token with the scope writ:usage
	})
	if err != nil {
		panic(err)
	}
	// What a verifier with Config.Usage: reporter does on each Verify.
	reporter.RecordUse(verifier.Use{
		JTI:     "_qInB0mO09uTpvcMfUzY9g",
		At:      time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Client:  netip.MustParseAddr("203.0.113.9"),
		Outcome: verifier.OutcomeRevoked,
	})
	if err := reporter.Close(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// POST /v1/usage {"uses":[{"jti":"_qInB0mO09uTpvcMfUzY9g","at":"2026-11-30T12:00:00Z","client_ip":"203.0.113.9","outcome":"revoked"}]}
}
