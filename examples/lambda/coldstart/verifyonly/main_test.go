package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/verifier"
)

// TestVerifyRefuses: what is not a token of the embedded keys is refused
// with the verifier's reason, and stdin is read only as far as a token can
// reach. (examples/lambda/coldstart's test builds the program with an
// issuer's keys and checks that it accepts that issuer's token.)
func TestVerifyRefuses(t *testing.T) {
	// A token of the embedded key sBHexXu3…'s kid, signed by another key.
	forged := "eyJhbGciOiJFZERTQSIsImtpZCI6InNCSGV4WHUzbkRjTW4zM0J6YXplaGpfNHB6X0JfZWdfejFrRXlTZlVaMEkiLCJ0eXAiOiJhdCtqd3QifQ." +
		"eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0." + strings.Repeat("A", 86)
	for _, tc := range []struct {
		name, stdin string
		want        error
	}{
		{"empty", "", verifier.ErrMalformed},
		{"not a token", "hello\n", verifier.ErrMalformed},
		{"another key's signature", forged + "\n", verifier.ErrSignature},
		{"unknown key", strings.Replace(forged, "eyJhbGciOiJFZERTQSIsImtpZCI6InNC", "eyJhbGciOiJFZERTQSIsImtpZCI6InND", 1), verifier.ErrUnknownKey},
		{"too large", strings.Repeat("a", verifier.MaxTokenSize+1), verifier.ErrTooLarge},
		{"too large to read", strings.Repeat("a", 1<<20), verifier.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := strings.NewReader(tc.stdin)
			claims, err := verify(r, "https://issuer.example", "https://api.example.com")
			if claims != nil || !errors.Is(err, tc.want) {
				t.Fatalf("verify: %v, %v; want %v", claims, err, tc.want)
			}
			if read := len(tc.stdin) - r.Len(); read > verifier.MaxTokenSize+3 {
				t.Errorf("read %d bytes of stdin", read)
			}
		})
	}
}
