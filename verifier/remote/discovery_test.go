package remote_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestDiscover reads a discovery document and checks its issuer and that
// every URL it names lies under the issuer URL.
func TestDiscover(t *testing.T) {
	ctx := context.Background()
	key, _ := edgeKeys(t)
	site := newEdgeSite(t, key)
	iss := site.URL + "/tenant"
	doc := func(issuer, jwks string) string {
		return fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q,"paserk_uri":%q,"revocation_list_uri":%q,"revocation_snapshot_uri":%q,"scopes_supported":["writ:admin"]}`,
			issuer, jwks, iss+"/.well-known/paserk.json", iss+"/v1/revocations", iss+feed.ManifestPath)
	}
	site.write("/tenant"+remote.DiscoveryPath, []byte(doc(iss, iss+"/.well-known/jwks.json")))
	d, err := remote.Discover(ctx, iss, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := remote.Discovery{Issuer: iss, JWKS: iss + "/.well-known/jwks.json", PASERK: iss + "/.well-known/paserk.json",
		RevocationList: iss + "/v1/revocations", RevocationSnapshot: iss + feed.ManifestPath}
	if *d != want {
		t.Errorf("%+v, want %+v", *d, want)
	}

	elsewhere := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(elsewhere.Close)
	for _, tt := range []struct {
		name, doc, msg string
	}{
		{"another issuer", doc(site.URL, iss+"/.well-known/jwks.json"), "of issuer"},
		{"the issuer with a slash", doc(iss+"/", iss+"/.well-known/jwks.json"), "of issuer"},
		{"keys on another host", doc(iss, elsewhere.URL+"/tenant/.well-known/jwks.json"), "not under the issuer URL"},
		{"keys out of the issuer's path", doc(iss, site.URL+"/other/.well-known/jwks.json"), "not under the issuer URL"},
		{"keys up and out", doc(iss, iss+"/../other/jwks.json"), "not under the issuer URL"},
		{"keys with a query", doc(iss, iss+"/.well-known/jwks.json?x=1"), "not under the issuer URL"},
		{"not JSON", "<html>", "discovery document"},
		{"a number for a URL", strings.Replace(doc(iss, ""), `"jwks_uri":""`, `"jwks_uri":1`, 1), "jwks_uri"},
		{"too large", `{"issuer":"` + strings.Repeat("x", 70<<10) + `"}`, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			site.write("/tenant"+remote.DiscoveryPath, []byte(tt.doc))
			if d, err := remote.Discover(ctx, iss, nil); err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%+v, %v; want an error naming %q", d, err, tt.msg)
			}
		})
	}
	if _, err := remote.Discover(ctx, site.URL+"/nowhere", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("no discovery document: %v", err)
	}
	if _, err := remote.Discover(ctx, "file:///etc", nil); err == nil {
		t.Error("an issuer URL of scheme file")
	}
}

// TestFollowIssuer follows a static site from its issuer URL alone: the key
// set from embedded bytes without network I/O, then the revocation list.
func TestFollowIssuer(t *testing.T) {
	ctx := context.Background()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "kid-1")
	key := &feedKey{"kid-1", ed25519.NewKeyFromSeed(seed)} // testKey("kid-1")
	site := newEdgeSite(t, key)
	site.issuer = site.URL
	now := time.Now().Truncate(time.Second)
	r1, s1 := edgeJTI(), edgeJTI()
	site.publish(&edgeState{epoch: "e1", snapSeq: 1, universe: now.Unix(), revoked: []string{r1}, others: []string{s1}, seq: 1, iat: now.Unix()})

	// The site serves no key set: the embedded one is all there is (its
	// background refresh fails, and keeps it).
	iss, err := remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: site.URL, JWKS: []byte(jwks([]string{"kid-1"}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	if iss.PASETO != nil {
		t.Errorf("PASETO %v, want none unless asked for", iss.PASETO)
	}
	for _, r := range site.take() {
		if r != "/.well-known/jwks.json" {
			t.Errorf("request of %s before the snapshot", r)
		}
	}
	s, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: iss.Revocations})
	if err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, "followed", s, now.Add(-time.Minute), map[string]bool{r1: true, s1: false})
	site.write("/.well-known/jwks.json", []byte(jwks([]string{"kid-1"})))

	// Without embedded keys, the first fetch must succeed.
	if _, err := remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: site.URL + "/nowhere"}); err == nil {
		t.Error("followed an issuer without a key set")
	}
	if _, err := remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: site.URL, PASETO: true}); err == nil || !errors.Is(err, verifier.ErrKeySet) && !strings.Contains(err.Error(), "404") {
		t.Errorf("followed an issuer without a PASETO key set: %v", err)
	}
}
