package issuer_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "api"
)

// testNow is the issuer's clock.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is an issuer over a keyring in a fresh SQLite database.
type env struct {
	dbPath string
	db     *sqlite.DB
	ring   *keys.Ring
	issuer *issuer.Issuer
}

// newEnv creates the database with an active and a next key per format,
// jwtAlg for JWT, and an issuer on the test clock; mod adjusts its Config.
func newEnv(t testing.TB, jwtAlg verifier.Algorithm, mod func(*issuer.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{dbPath: filepath.Join(dir, "writ.db")}
	db := sqlitetest.Create(t, e.dbPath)
	e.db = db
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	if e.ring, err = keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, Now: clock, MaxTTL: issuer.DefaultMaxTTL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Ensure(ctx, jwtAlg); err != nil {
		t.Fatal(err)
	}
	cfg := issuer.Config{Issuer: testIssuer, Keys: e.ring, Store: db, Now: clock, UnsafeDatabaseNow: clock}
	if mod != nil {
		mod(&cfg)
	}
	if e.issuer, err = issuer.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func clock() time.Time { return testNow }

// verifier returns a verifier of e's tokens, JWT (EdDSA) and PASETO, for
// the test audience, on the test clock.
func (e *env) verifier(t *testing.T) *verifier.Verifier {
	t.Helper()
	ks, err := e.ring.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Issuer: testIssuer, Audience: testAudience, Keys: ks, Now: clock,
		Algorithms: []verifier.Algorithm{verifier.EdDSA, verifier.V4Public}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// issue issues req, with the test audience when it names none.
func (e *env) issue(t testing.TB, req issuer.Request) *issuer.Token {
	t.Helper()
	if req.Audience == nil {
		req.Audience = []string{testAudience}
	}
	tok, err := e.issuer.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// publicKey returns the published public key kid.
func (e *env) publicKey(t *testing.T, kid string) crypto.PublicKey {
	t.Helper()
	ks, err := e.ring.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.LookupKey(context.Background(), kid)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// dbFiles returns the bytes of the database and its WAL.
func (e *env) dbFiles(t *testing.T) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-journal"} {
		if data, err := readFileIfExists(e.dbPath + suffix); err != nil {
			t.Fatal(err)
		} else {
			all = append(all, data...)
		}
	}
	return all
}

// decodeJSON decodes the JSON object data, keeping numbers as json.Number,
// and fails on anything else (duplicate names included, which map
// decoding would hide: checked by counting the raw members).
func decodeJSON(t *testing.T, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if n := countMembers(t, data); n != len(m) {
		t.Fatalf("%s: %d members, %d names", data, n, len(m))
	}
	return m
}

// countMembers counts the top-level members of a JSON object.
func countMembers(t *testing.T, data []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// jwtParts decodes the header and claims of a compact JWS.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts in %q", len(parts), token)
	}
	h, err := b64.Decode(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := b64.Decode(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, h), decodeJSON(t, c)
}

// pasetoParts decodes the claims and footer of a v4.public token.
func pasetoParts(t *testing.T, token string) (claims, footer map[string]any) {
	t.Helper()
	rest, ok := strings.CutPrefix(token, "v4.public.")
	if !ok {
		t.Fatalf("not v4.public: %q", token)
	}
	body, f, ok := strings.Cut(rest, ".")
	if !ok {
		t.Fatalf("no footer: %q", token)
	}
	m, err := b64.Decode(body)
	if err != nil || len(m) < 64 {
		t.Fatalf("body: %v", err)
	}
	fb, err := b64.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, m[:len(m)-64]), decodeJSON(t, fb)
}

func readFileIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
