package writ_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestInitPostgres: on a PostgreSQL URL, Init needs the master key given;
// it creates the key file only with a new database, and a second Init
// opens the database with it; a token issued and revoked through one
// handle is seen by another, as by another replica.
func TestInitPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := writ.Init(ctx, writ.InitConfig{Config: writ.Config{URL: url, Issuer: testIssuer}}); !errors.Is(err, writ.ErrNoMasterKeyForURL) {
		t.Fatalf("Init without a master key: %v, want ErrNoMasterKeyForURL", err)
	}
	cfg := writ.InitConfig{Config: writ.Config{URL: url, Issuer: testIssuer}, MasterKeyFile: keyFile}
	a, res, err := writ.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !res.CreatedMasterKeyFile || !res.CreatedDatabase || len(res.AddedKeys) != 4 {
		t.Fatalf("first Init: %+v", res)
	}
	mk, err := keys.ReadMasterKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writ.Open(ctx, writ.Config{URL: url, Path: "writ.db", MasterKey: mk, Issuer: testIssuer}); err == nil || !strings.Contains(err.Error(), "one of") {
		t.Fatalf("Open with both Path and URL: %v", err)
	}
	b, res, err := writ.Init(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if res.CreatedMasterKeyFile || res.CreatedDatabase || len(res.AddedKeys) != 0 {
		t.Fatalf("second Init: %+v", res)
	}

	// A key file that is not there for a database that is: refused, and
	// not created.
	other := writ.InitConfig{Config: cfg.Config, MasterKeyFile: filepath.Join(t.TempDir(), "other.key")}
	if _, _, err := writ.Init(ctx, other); !errors.Is(err, writ.ErrNoMasterKeyFile) {
		t.Fatalf("Init with a missing key file for an existing database: %v", err)
	}
	if _, err := os.Stat(other.MasterKeyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Init created a key file for an existing database: %v", err)
	}

	tok, err := a.Issuer.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revocations.RevokeToken(ctx, tok.ID, revocation.Options{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	list, done, err := writ.OpenRevocations(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	got, err := list.Changes(ctx, 0)
	if err != nil || len(got.Tokens) != 1 || got.Tokens[0].ID != revoked.TokenIDOf(tok.ID) {
		t.Fatalf("the revocation read through another handle: %+v, %v", got, err)
	}
}

// TestRedactURL: a password is taken out of a URL wherever PostgreSQL's
// clients read one, the user information or the query's password and
// sslpassword parameters.
func TestRedactURL(t *testing.T) {
	for _, url := range []string{
		"postgres://writ:hunter2@db.example/writ",
		"postgres://writ@db.example/writ?password=hunter2",
		"postgresql://db.example/writ?sslmode=require&password=hunter2",
		"postgres://db.example/writ?sslpassword=hunter2&sslkey=k.pem",
		"postgres://db.example/writ?PASSWORD=x&password=hunter2",
	} {
		if got := writ.RedactURL(url); strings.Contains(got, "hunter2") || !strings.Contains(got, "db.example") {
			t.Errorf("RedactURL(%q) = %q", url, got)
		}
	}
}
