package verifier_test

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/verifier"
)

// A serverless function embeds its key set at build time, so a cold start
// verifies without any network I/O.
//
//go:embed testdata/example-jwks.json
var jwks []byte

//go:embed testdata/example.jwt
var exampleToken string

// The example token was issued at noon on 2026-01-01 for an hour.
func exampleClock() time.Time { return time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) }

func newExampleVerifier() *verifier.Verifier {
	keys, err := verifier.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	v, err := verifier.New(verifier.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys:       keys,
		Now:        exampleClock, // omit in production: time.Now
	})
	if err != nil {
		panic(err)
	}
	return v
}

func ExampleVerifier_Verify() {
	v := newExampleVerifier()
	claims, err := v.Verify(context.Background(), strings.TrimSpace(exampleToken))
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(claims.Subject, claims.ClientID, claims.Scopes())
	fmt.Println(claims.HasScope("orders:write"), claims.HasScope("orders"))
	// Output:
	// alice ci-deploy [orders:read orders:write]
	// true false
}

// A scope RESOURCE:ACTION is a permission: Allows checks one offline,
// with wildcards in the token's resources and admin > write > read.
func ExampleClaims_Allows() {
	v := newExampleVerifier()
	claims, err := v.Verify(context.Background(), strings.TrimSpace(exampleToken))
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Allows("orders", "read"), claims.Allows("orders", "admin"), claims.Allows("orders/42", "read"))
	fmt.Println(claims.RequirePermission("orders", "admin"))
	// Output:
	// true false false
	// insufficient permission: missing "orders:admin"
}

// Errors wrap one sentinel each: switch on the category with errors.Is.
func ExampleVerifier_Verify_errors() {
	v := newExampleVerifier()
	token := strings.TrimSpace(exampleToken)
	for _, t := range []string{token, token[:len(token)-4] + "AAAA", "v4.local.AAAA", strings.Repeat("x", 9000)} {
		_, err := v.Verify(context.Background(), t)
		switch {
		case err == nil:
			fmt.Println("valid")
		case errors.Is(err, verifier.ErrExpired):
			fmt.Println("expired: ask for a new token")
		case errors.Is(err, verifier.ErrSignature):
			fmt.Println("forged or corrupted")
		case errors.Is(err, verifier.ErrTooLarge), errors.Is(err, verifier.ErrMalformed):
			fmt.Println("not a token:", err)
		default:
			fmt.Println("rejected:", err)
		}
	}
	// Output:
	// valid
	// forged or corrupted
	// not a token: malformed token: only v4.public PASETO tokens are accepted
	// not a token: token too large: 9000 bytes, limit 8192
}

// An algorithm read from text, a configuration file say, is checked once,
// by its exact name on the wire.
func ExampleParseAlgorithm() {
	a, err := verifier.ParseAlgorithm("ES256")
	fmt.Println(a, err, a == verifier.ES256)
	_, err = verifier.ParseAlgorithm("es256")
	fmt.Println(err)
	// Output:
	// ES256 <nil> true
	// unsupported algorithm "es256" (want EdDSA, ES256, RS256, PS256 or v4.public)
}
