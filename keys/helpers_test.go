package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// ringEnv is a keyring over a fresh SQLite database in a temporary
// directory, with its master key file beside it.
type ringEnv struct {
	dir    string
	dbPath string
	db     *sqlite.DB
	mk     *keys.MasterKey
	ring   *keys.Ring
}

var ringNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testMaxTTL is the longest token lifetime of the keyrings of the tests:
// how long a compromised key's revocation lasts.
const testMaxTTL = 24 * time.Hour

// newRingEnv opens an empty keyring.
func newRingEnv(t *testing.T) *ringEnv {
	t.Helper()
	e := &ringEnv{dir: t.TempDir()}
	e.dbPath = filepath.Join(e.dir, "writ.db")
	e.db = sqlitetest.Create(t, e.dbPath)
	var err error
	if e.mk, err = keys.GenerateMasterKeyFile(filepath.Join(e.dir, "writ.db.key")); err != nil {
		t.Fatal(err)
	}
	e.ring = e.open(t, e.mk)
	return e
}

// open opens the database's keyring again with mk, as another process would.
func (e *ringEnv) open(t *testing.T, mk *keys.MasterKey) *keys.Ring {
	t.Helper()
	r, err := keys.OpenRing(context.Background(), keys.RingConfig{Store: e.db, MasterKey: mk, Now: func() time.Time { return ringNow }, MaxTTL: testMaxTTL})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ensure gives the keyring its active and next keys, jwtAlg for JWT.
func (e *ringEnv) ensure(t *testing.T, jwtAlg verifier.Algorithm) []*keys.Key {
	t.Helper()
	added, err := e.ring.Ensure(context.Background(), jwtAlg)
	if err != nil {
		t.Fatal(err)
	}
	return added
}

// records lists the keyring, failing the test on error.
func (e *ringEnv) records(t *testing.T) []keys.Record {
	t.Helper()
	recs, err := e.ring.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// signer returns the active key of format.
func (e *ringEnv) signer(t *testing.T, format keys.Format) *keys.Key {
	t.Helper()
	k, err := e.ring.Signer(context.Background(), format)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealed returns the private half of kid, as stored.
func (e *ringEnv) sealed(t *testing.T, kid string) []byte {
	t.Helper()
	return keyRow(t, e.db, kid).Private
}

// keyRow returns the row of kid, as stored.
func keyRow(t *testing.T, db *sqlite.DB, kid string) store.KeyRow {
	t.Helper()
	rows, _, err := db.KeyRows(context.Background(), store.KeyFilter{KID: kid})
	if err != nil || len(rows) != 1 {
		t.Fatalf("row of %s: %d rows, %v", kid, len(rows), err)
	}
	return rows[0]
}

// kidOf returns the kid of the oldest key of format in state.
func kidOf(t *testing.T, db *sqlite.DB, format keys.Format, state keys.State) string {
	t.Helper()
	rows, _, err := db.KeyRows(context.Background(), store.KeyFilter{Format: string(format), States: []string{string(state)}})
	if err != nil || len(rows) == 0 {
		t.Fatalf("no %s %s key: %v", state, format, err)
	}
	return rows[0].KID
}

// setKey sets columns of the row of kid as someone who may write the
// database but has no master key could.
func setKey(t *testing.T, db *sqlite.DB, kid string, set map[string]any) {
	t.Helper()
	if n := sqlitetest.Set(t, db, "keys", set, sqlitetest.Where{"kid": kid}); n != 1 {
		t.Fatalf("%d rows of %s changed", n, kid)
	}
}

// nullable returns u as a column value: nil for none.
func nullable(u store.Unix) any {
	if !u.Valid {
		return nil
	}
	return u.Sec
}

// pkcs8 returns the PKCS #8 DER of k's private half.
func pkcs8(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// privateScalar is k's private scalar (ECDSA, RSA d) or seed (Ed25519):
// what a JWK would carry as "d".
func privateScalar(k *keys.Key) []byte {
	switch s := k.Signer().(type) {
	case ed25519.PrivateKey:
		return s.Seed()
	case *ecdsa.PrivateKey:
		d, _ := s.Bytes()
		return d
	case *rsa.PrivateKey:
		return s.D.Bytes()
	}
	panic(fmt.Sprintf("privateScalar: %T", k.Signer()))
}

// decodeSet decodes a published key set into generic members.
func decodeSet(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatalf("key set %s: %v", data, err)
	}
	if set.Keys == nil {
		t.Fatalf("key set %s has no keys array", data)
	}
	return set.Keys
}

// jwsAlgs are the JWT algorithms; allAlgs adds PASETO's.
var (
	jwsAlgs = []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256}
	allAlgs = append(append([]verifier.Algorithm{}, jwsAlgs...), verifier.V4Public)
)
