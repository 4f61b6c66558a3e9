package writ_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// Issue a token from Go, verify it against the database's own key set and
// revocation list, revoke it, and see it refused.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "writ-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		log.Fatal(err)
	}
	w, err := writ.Open(ctx, writ.Config{Path: filepath.Join(dir, "writ.db"), Create: true, MasterKey: mk, Issuer: "https://tokens.example"})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Keys.Ensure(ctx, verifier.EdDSA); err != nil { // first keys
		log.Fatal(err)
	}

	t, err := w.Issuer.Issue(ctx, issuer.Request{Subject: "ci", Audience: []string{"https://api.example"}, Scopes: []string{"deploy"}})
	if err != nil {
		log.Fatal(err)
	}

	ks, err := w.Keys.KeySet(ctx)
	if err != nil {
		log.Fatal(err)
	}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: w.Revocations})
	if err != nil {
		log.Fatal(err)
	}
	defer snap.Close()
	v, err := verifier.New(verifier.Config{Issuer: "https://tokens.example", Audience: "https://api.example",
		Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, Revocation: snap})
	if err != nil {
		log.Fatal(err)
	}
	c, err := v.Verify(ctx, t.Token)
	fmt.Println(c.Subject, c.Scopes(), err)

	if _, err := w.Revocations.RevokeToken(ctx, t.ID, revocation.Options{Reason: "leaked", Actor: "example"}); err != nil {
		log.Fatal(err)
	}
	if err := snap.Refresh(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(ctx, t.Token)
	fmt.Println(errors.Is(err, verifier.ErrRevoked))
	// Output:
	// ci [deploy] <nil>
	// true
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "writ.db")
	for _, cfg := range []writ.Config{
		{MasterKey: mk, Issuer: "https://i.example"},
		{Path: path, Issuer: "https://i.example"},
		{Path: path, MasterKey: mk},
		{Path: path, MasterKey: mk, Issuer: "https://i.example", Create: true, ReadOnlyOK: true},
		{Path: path, MasterKey: mk, Issuer: "https://i.example", Create: true, SessionIdle: -time.Minute},
		{Path: path, MasterKey: mk, Issuer: "https://i.example", Create: true, SessionIdle: 59 * time.Second},
		{Path: path, MasterKey: mk, Issuer: "https://i.example", Create: true, SessionIdle: 12*time.Hour + time.Second},
	} {
		if _, err := writ.Open(ctx, cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	if _, err := writ.Open(ctx, writ.Config{Path: path, MasterKey: mk, Issuer: "https://i.example"}); !errors.Is(err, writ.ErrNoDatabase) {
		t.Errorf("missing database without Create: %v, want ErrNoDatabase", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open without Create created the database: %v", err)
	}

	w, err := writ.Open(ctx, writ.Config{Path: path, Create: true, MasterKey: mk, Issuer: "https://i.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Keys.Ensure(ctx, verifier.EdDSA); err != nil {
		t.Fatal(err)
	}
	// A backup opens as a database of its own, with the same master key.
	backup := filepath.Join(dir, "backup.db")
	if err := w.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, err := writ.Open(ctx, writ.Config{Path: backup, MasterKey: mk, Issuer: "https://i.example", ReadOnlyOK: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Keys.Signer(ctx, keys.JWT); err != nil {
		t.Errorf("signing key of the backup: %v", err)
	}
	b.Close()
	other, err := keys.ParseMasterKey("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=") // test-only
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writ.Open(ctx, writ.Config{Path: path, MasterKey: other, Issuer: "https://i.example"}); !errors.Is(err, keys.ErrMasterKey) {
		t.Errorf("wrong master key: %v, want keys.ErrMasterKey", err)
	}
}
