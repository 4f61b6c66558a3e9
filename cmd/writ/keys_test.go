package main

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// writ keys list marks a key row planted without the master key, and exits
// 1; writ jwks leaves it out.
func TestKeysListMarksUntrusted(t *testing.T) {
	db := newCLIDatabase(t)
	if code, _, stderr := runCLI(t, "", "keys", "list", "--db", db); code != 0 {
		t.Fatalf("keys list of a genuine keyring: exit %d: %s", code, stderr)
	}
	sqlDB, err := sqlite.Open(context.Background(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(verifier.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	err = sqlDB.KeyInsert(context.Background(), store.KeyRow{KID: k.ID(), Format: "jwt", Alg: "EdDSA", State: "next", Public: pub})
	if err := errors.Join(err, sqlDB.Close()); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "", "keys", "list", "--db", db)
	if code != 1 || !strings.HasPrefix(stderr, "writ: error: key row not bound to the master key: ") || !strings.Contains(stderr, k.ID()) {
		t.Errorf("keys list: exit %d, stderr %q; want 1 and an error naming the planted key", code, stderr)
	}
	var line string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, k.ID()) {
			line = l
		}
	}
	if !strings.Contains(line, "next UNTRUSTED") || strings.Count(stdout, "UNTRUSTED") != 1 {
		t.Errorf("keys list does not mark the planted key alone:\n%s", stdout)
	}
	if code, stdout, _ := runCLI(t, "", "keys", "list", "--db", db, "--output", "json"); code != 1 || strings.Count(stdout, `"untrusted": true`) != 1 {
		t.Errorf("keys list --output json: exit %d:\n%s", code, stdout)
	}
	if _, jwks, _ := runCLI(t, "", "jwks", "--db", db); strings.Contains(jwks, k.ID()) {
		t.Error("writ jwks publishes the planted key")
	}
}

// A planted row whose kid the revocation list cannot hold (control
// characters, over 256 bytes) is cleared by writ keys compromise, the
// remedy the alarm names, and the alarm stops.
func TestCompromiseClearsPlantedRowsOfAnyKid(t *testing.T) {
	db := newCLIDatabase(t)
	sqlDB, err := sqlite.Open(context.Background(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jwt, _, err := sqlDB.KeyRows(ctx, store.KeyFilter{Format: "jwt"})
	if err != nil || len(jwt) == 0 {
		t.Fatalf("JWT keys: %v, %v", jwt, err)
	}
	pub := jwt[0].Public
	kids := []string{"evil\u009b31m\u202e\x1b[2J", strings.Repeat("L", 300), "plainevil"}
	for i, kid := range kids {
		err := sqlDB.KeyInsert(ctx, store.KeyRow{KID: kid, Format: "jwt", Alg: "EdDSA", State: "retired", Public: pub, Created: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	for _, kid := range kids {
		code, stdout, stderr := runCLI(t, "", "keys", "compromise", "--db", db, "--reason", "planted", "--", kid)
		if code != 0 {
			t.Fatalf("keys compromise %q: exit %d: %s", kid, code, stderr)
		}
		if strings.ContainsAny(stdout, "\x1b\u009b\u202e") || strings.Count(stdout, "\n") != 1 {
			t.Errorf("keys compromise %q printed %q: not one plain line", kid, stdout)
		}
	}
	if code, stdout, stderr := runCLI(t, "", "keys", "list", "--db", db); code != 0 || strings.Contains(stdout, "UNTRUSTED") {
		t.Errorf("keys list after compromising the planted rows: exit %d: %s%s", code, stdout, stderr)
	}
}
