// Command verifyonly is the program of DESIGN.md's footprint target: it
// verifies one token with package verifier against a JWKS embedded at
// build time, and does nothing else (no revocation, no refresh, no HTTP).
// examples/lambda/coldstart builds it stripped and measures its size and
// the time from its start to its verified answer.
//
//	WRIT_ISSUER=https://issuer.example WRIT_AUDIENCE=https://api.example.com verifyonly < token
//
// It reads the token from stdin (never from its arguments, which other
// users of the machine can read) and accepts EdDSA tokens of the
// embedded keys (jwks.json, here a test-only copy of
// ../../keys/.well-known/jwks.json). Valid: exit 0 and the token's claims
// as JSON on stdout. Invalid: exit 1 and the reason on stderr. Missing
// configuration: exit 2.
//
// After a valid token it reports on stderr, for coldstart, the
// wall-clock time at which main began and how long after that the claims
// were written: "main=UNIXNANO answered=NANOSECONDS".
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/writ-dev/writ/verifier"
)

//go:embed jwks.json
var jwks []byte

func main() {
	start := time.Now()
	issuer, audience := os.Getenv("WRIT_ISSUER"), os.Getenv("WRIT_AUDIENCE")
	if issuer == "" || audience == "" {
		fmt.Fprintln(os.Stderr, "verifyonly: error: WRIT_ISSUER and WRIT_AUDIENCE are required")
		os.Exit(2)
	}
	claims, err := verify(os.Stdin, issuer, audience)
	if err != nil {
		fmt.Fprintf(os.Stderr, "verifyonly: error: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(claims.RawJSON(), '\n'))
	fmt.Fprintf(os.Stderr, "main=%d answered=%d\n", start.UnixNano(), time.Since(start).Nanoseconds())
}

// verify reads one token from r, at most verifier.MaxTokenSize bytes and
// a line end, and verifies it against the embedded keys.
func verify(r io.Reader, issuer, audience string) (*verifier.Claims, error) {
	keys, err := verifier.ParseJWKS(jwks)
	if err != nil {
		return nil, fmt.Errorf("jwks.json: %w", err)
	}
	v, err := verifier.New(verifier.Config{Issuer: issuer, Audience: audience, Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: keys})
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, verifier.MaxTokenSize+3))
	if err != nil {
		return nil, fmt.Errorf("reading the token: %w", err)
	}
	if len(b) > verifier.MaxTokenSize+2 {
		return nil, fmt.Errorf("%w: over %d bytes on stdin", verifier.ErrTooLarge, verifier.MaxTokenSize)
	}
	return v.Verify(context.Background(), strings.TrimSpace(string(b)))
}
