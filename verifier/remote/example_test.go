package remote_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// A one-off check, as writ verify makes: the key sets are read once, each
// from a file or a URL, and the verifier accepts the algorithms of their
// keys.
func ExampleLoadKeySets() {
	ctx := context.Background()
	ks, err := remote.LoadKeySets(ctx, remote.KeySources{
		JWKS: "../testdata/example-jwks.json", // or https://auth.example.com/.well-known/jwks.json
		OnIgnored: func(location string, k verifier.IgnoredKey) {
			log.Printf("%s: ignored %s", location, k) // a publisher misconfigured, or under attack
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Algorithms: ks.Algorithms(),
		Keys:       ks.All,
		Now:        func() time.Time { return time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) }, // omit in production
	})
	if err != nil {
		log.Fatal(err)
	}
	token, err := os.ReadFile("../testdata/example.jwt")
	if err != nil {
		log.Fatal(err)
	}
	c, err := v.Verify(ctx, strings.TrimSpace(string(token)))
	fmt.Println(ks.Algorithms(), c.Subject, err)
	// Output:
	// [EdDSA] alice <nil>
}

// A function at the edge follows its issuer from the issuer URL alone:
// keys embedded at build time (no network I/O at a cold start) and
// refreshed in the background, and revocations from the issuer's compact
// snapshot files and deltas, failing closed when they are older than the
// bound.
func ExampleFollowIssuer() {
	ctx := context.Background()
	embedded, err := os.ReadFile("../testdata/example-jwks.json") // or go:embed
	if err != nil {
		log.Fatal(err)
	}
	iss, err := remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: "https://auth.example.com", JWKS: embedded})
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{
		Feed:         iss.Revocations,
		Refresh:      30 * time.Second,
		MaxStaleness: 5 * time.Minute,
	})
	if err != nil {
		log.Fatal(err) // no revocation data: refuse to verify rather than guess
	}
	defer snap.Close()
	v, err := verifier.New(verifier.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys:       iss.JWT,
		Revocation: snap,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = v // v.Verify(ctx, token) in each request
}
