package server_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// Someone who may write the database but has no master key plants a public
// key row (state next, no private half) and signs an admin token with its
// private half: writ serve neither publishes the key nor accepts the
// token, and it raises the alarm in its log, its metrics and /readyz.
func TestPlantedKeyRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	db := sqlitetest.Open(t, sqlitetest.Path(t, f.db)) // the tamperer's own handle
	k, err := keys.Generate(verifier.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.KeyInsert(ctx, store.KeyRow{KID: k.ID(), Format: "jwt", Alg: "EdDSA", State: "next", Public: pub, Created: time.Now().Unix()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	forged, err := accesstoken.SignJWT(k.Algorithm(), k.ID(), accesstoken.Typ, k.Signer(), accesstoken.AppendJWTClaims(nil, &accesstoken.Claims{
		Issuer: f.url, Subject: "mallory", Audience: []string{f.url}, Scope: server.AdminScope, ClientID: "forged",
		ID: b64.Encode(make([]byte, 16)), IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.seen = append(f.seen, forged)

	// Wait for the server to reread the keys: /readyz fails, or (were the
	// row trusted) the forged token gets in.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ready, _, _ := f.do("GET", "/readyz", "", "", "")
		admin, _, _ := f.do("GET", "/v1/tokens", forged, "", "")
		if admin != 401 {
			t.Fatalf("admin API with a token of the planted key: %d, want 401", admin)
		}
		if ready == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never reported the planted key")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/v1/whoami", "/v1/tokens"} {
		if code, _, _ := f.do("GET", path, forged, "", ""); code != 401 {
			t.Errorf("%s with a token of the planted key: %d, want 401", path, code)
		}
	}
	if _, _, jwks := f.do("GET", "/.well-known/jwks.json", "", "", ""); strings.Contains(jwks, k.ID()) {
		t.Error("the planted key is published")
	}
	if _, _, body := f.do("GET", "/readyz", "", "", ""); !strings.Contains(body, "not bound to the master key") {
		t.Errorf("/readyz says %q, not why", body)
	}
	if _, _, metrics := f.do("GET", "/metrics", "", "", ""); !strings.Contains(metrics, "\nwrit_keys_untrusted 1\n") {
		t.Error("metrics do not count the untrusted key row")
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, k.ID()) {
		t.Errorf("no error logged naming the planted key: %s", logs)
	}
	// Genuine admin tokens still work.
	if code, _, _ := f.do("GET", "/v1/tokens", f.admin, "", ""); code != 200 {
		t.Errorf("admin API with a genuine token: %d", code)
	}
}
