package server_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
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

// Another process rotates the master key: the server, still given the old
// one, keeps issuing and publishing the same keys, stays ready, and says
// in its log and metrics that it must be given the new key.
func TestMasterKeyRotatedUnderServer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	path := sqlitetest.Path(t, f.db)
	oldKey, err := keys.ReadMasterKeyFile(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.OpenRing(ctx, keys.RingConfig{Store: sqlitetest.Open(t, path), MasterKey: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	_, _, before := f.do("GET", "/.well-known/jwks.json", "", "", "")
	newKey, err := keys.GenerateMasterKeyFile(filepath.Join(t.TempDir(), "new.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RotateMasterKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, metrics := f.do("GET", "/metrics", "", "", ""); strings.Contains(metrics, "\nwrit_master_key_superseded 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the metrics never said that the master key was superseded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _, body := f.do("GET", "/readyz", "", "", ""); code != 200 {
		t.Errorf("/readyz after the master key was rotated: %d %s", code, body)
	}
	if _, _, after := f.do("GET", "/.well-known/jwks.json", "", "", ""); after != before {
		t.Errorf("the key set changed with the master key: %s, was %s", after, before)
	}
	if code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"bob","audience":["api"]}`); code != 201 && code != 200 {
		t.Errorf("issuing after the master key was rotated: %d %s", code, body)
	}
	if logs := f.logs.String(); strings.Count(logs, "holds the previous master key") != 1 || !strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("want one warning that the server holds the previous master key: %s", logs)
	}
}
