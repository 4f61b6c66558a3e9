package paserk_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// pidVector is one test of PASERK/k4.pid.json (testdata/vectors/SOURCES.md).
type pidVector struct {
	Name       string `json:"name"`
	ExpectFail bool   `json:"expect-fail"`
	// Upstream spells k4.pid-fail-2's flag without the hyphen.
	ExpectFailUnhyphenated bool    `json:"expectfail"`
	Key                    string  `json:"key"`
	PASERK                 *string `json:"paserk"`
}

func loadPIDVectors(t *testing.T) []pidVector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "paserk", "k4.pid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []pidVector `json:"tests"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Tests) == 0 {
		t.Fatal("k4.pid.json: no vectors")
	}
	return file.Tests
}

// paserkSet is a one-key set in writ's PASERK set format.
func paserkSet(t *testing.T, kid, pk string) []byte {
	t.Helper()
	type entry struct {
		Kid    string `json:"kid"`
		PASERK string `json:"paserk"`
	}
	data, err := json.Marshal(struct {
		Keys []entry `json:"keys"`
	}{[]entry{{kid, pk}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestK4PIDVectors checks paserk.ID against the k4.pid vectors, and that a
// key of the wrong size gets no k4.pid anywhere writ gives a key one: the
// issuer's keys.KeyID, and the verifier's NewKey and PASERK set parser.
func TestK4PIDVectors(t *testing.T) {
	for _, v := range loadPIDVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			key := ed25519.PublicKey(raw)
			fail := v.ExpectFail || v.ExpectFailUnhyphenated
			if fail != (v.PASERK == nil) {
				t.Fatalf("vector expects failure %v but has paserk %v", fail, v.PASERK)
			}

			if !fail {
				want := *v.PASERK
				if got := paserk.ID(key); got != want {
					t.Errorf("paserk.ID = %q, want %q", got, want)
				}
				if got, err := keys.KeyID(verifier.V4Public, key); err != nil || got != want {
					t.Errorf("keys.KeyID = %q, %v; want %q", got, err, want)
				}
				if _, err := verifier.NewKey(want, verifier.V4Public, key); err != nil {
					t.Errorf("verifier.NewKey: %v", err)
				}
				set, err := verifier.ParsePASERKSet(paserkSet(t, want, paserk.Public(key)))
				if err != nil || set.Len() != 1 {
					t.Errorf("verifier.ParsePASERKSet: %v", err)
				}
				return
			}

			if got, err := keys.KeyID(verifier.V4Public, key); err == nil {
				t.Errorf("keys.KeyID = %q for a %d-byte key, want an error", got, len(key))
			}
			// Even under the id a lax implementation would compute, the
			// verifier refuses the key, given raw or as a PASERK.
			laxID := paserk.ID(key)
			if _, err := verifier.NewKey(laxID, verifier.V4Public, key); !errors.Is(err, verifier.ErrKeySet) {
				t.Errorf("verifier.NewKey: %v, want ErrKeySet", err)
			}
			if _, err := paserk.ParsePublic(paserk.Public(key)); err == nil {
				t.Error("paserk.ParsePublic accepted the key")
			}
			if _, err := verifier.ParsePASERKSet(paserkSet(t, laxID, paserk.Public(key))); !errors.Is(err, verifier.ErrKeySet) {
				t.Errorf("verifier.ParsePASERKSet: %v, want ErrKeySet", err)
			}
		})
	}
}
