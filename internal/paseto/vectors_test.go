package paseto_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/paseto"
)

// The official PASETO test vectors (testdata/vectors/SOURCES.md).

// vector is one test of paseto-standard/test-vectors. Public tests carry
// public-key and secret-key, local ones a symmetric key.
type vector struct {
	Name       string  `json:"name"`
	ExpectFail bool    `json:"expect-fail"`
	PublicKey  string  `json:"public-key"`
	SecretKey  string  `json:"secret-key"`
	Key        string  `json:"key"`
	Token      string  `json:"token"`
	Payload    *string `json:"payload"`
	Footer     string  `json:"footer"`
	Implicit   string  `json:"implicit-assertion"`
}

// loadVectors reads one vector file and fails the test if it holds none.
func loadVectors(t *testing.T, name string) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "paseto", name))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []vector `json:"tests"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(file.Tests) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return file.Tests
}

// v4Vectors splits v4.json into the public tokens writ must accept and the
// tokens it must reject: every local one (4-E-*, wrong purpose) and every
// must-fail one (4-F-*).
func v4Vectors(t *testing.T) (public, reject []vector) {
	t.Helper()
	for _, v := range loadVectors(t, "v4.json") {
		switch {
		case strings.HasPrefix(v.Name, "4-S-") && !v.ExpectFail:
			public = append(public, v)
		case strings.HasPrefix(v.Name, "4-E-"), strings.HasPrefix(v.Name, "4-F-") && v.ExpectFail:
			reject = append(reject, v)
		default:
			t.Fatalf("v4.json: vector %q is of no known kind", v.Name)
		}
	}
	if len(public) == 0 || len(reject) == 0 {
		t.Fatalf("v4.json: %d public and %d must-reject vectors, want some of each", len(public), len(reject))
	}
	return public, reject
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func TestV4PublicVectors(t *testing.T) {
	public, _ := v4Vectors(t)
	for _, v := range public {
		t.Run(v.Name, func(t *testing.T) {
			pub := ed25519.PublicKey(mustHex(t, v.PublicKey))
			key := prepare(t, pub)
			tok, err := paseto.Parse(v.Token)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !paseto.Verify(key, tok, []byte(v.Implicit)) {
				t.Fatal("Verify = false, want true")
			}
			if v.Payload == nil || string(tok.Message) != *v.Payload {
				t.Errorf("message = %q, want the vector's payload", tok.Message)
			}
			if string(tok.Footer) != v.Footer {
				t.Errorf("footer = %q, want %q", tok.Footer, v.Footer)
			}
			if v.Implicit != "" {
				// writ signs with an empty implicit assertion, so its Sign
				// cannot reproduce this token; the assertion must be bound.
				if paseto.Verify(key, tok, nil) {
					t.Error("Verify without the implicit assertion = true, want false")
				}
				return
			}
			// Ed25519 is deterministic: writ's Sign must give the same bytes.
			priv := ed25519.PrivateKey(mustHex(t, v.SecretKey))
			if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
				t.Fatal("the vector's secret key does not match its public key")
			}
			if got := paseto.Sign(priv, []byte(*v.Payload), []byte(v.Footer)); got != v.Token {
				t.Errorf("Sign =\n%s\nwant\n%s", got, v.Token)
			}
		})
	}
}

// TestV4MustRejectVectors runs every local and must-fail token of v4.json
// through Parse and, when it parses, Verify under every key the file holds
// (the 4-F-2 confusion is a public token checked with a symmetric key).
func TestV4MustRejectVectors(t *testing.T) {
	_, reject := v4Vectors(t)
	keys := vectorKeys(t, reject)
	for _, v := range reject {
		t.Run(v.Name, func(t *testing.T) {
			tok, err := paseto.Parse(v.Token)
			if err != nil {
				return // refused: local purpose, other version, or non-canonical encoding
			}
			for _, k := range keys {
				if paseto.Verify(prepare(t, k), tok, []byte(v.Implicit)) {
					t.Errorf("Verify under key %x = true, want false", []byte(k))
				}
			}
		})
	}
}

// vectorKeys returns every distinct 32-byte key (public or symmetric) that
// vs carry, read as Ed25519 public keys.
// prepare returns pub prepared for paseto.Verify.
func prepare(t *testing.T, pub ed25519.PublicKey) *eddsa.PublicKey {
	t.Helper()
	k, err := eddsa.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vectorKeys(t *testing.T, vs []vector) []ed25519.PublicKey {
	t.Helper()
	var keys []ed25519.PublicKey
	seen := map[string]bool{}
	for _, v := range vs {
		for _, h := range []string{v.PublicKey, v.Key} {
			if len(h) != 2*ed25519.PublicKeySize || seen[h] {
				continue
			}
			seen[h] = true
			keys = append(keys, mustHex(t, h))
		}
	}
	if len(keys) == 0 {
		t.Fatal("the must-reject vectors carry no 32-byte key")
	}
	return keys
}

// TestV4PublicNonCanonical carries the point of 4-F-4 and 4-F-5 (a body in
// non-canonical base64url that a lax decoder reads as a valid token's bytes)
// over to v4.public: those two vectors are local tokens, which Parse refuses
// for their purpose before it decodes anything.
func TestV4PublicNonCanonical(t *testing.T) {
	public, _ := v4Vectors(t)
	for _, v := range public {
		body, footer, _ := strings.Cut(strings.TrimPrefix(v.Token, paseto.Header), ".")
		if footer != "" {
			footer = "." + footer
		}
		variants := map[string]string{
			"padding": body + "==", // 4-F-5
		}
		if len(body)%4 != 0 { // the last character has unused low bits: set one (4-F-4)
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, body[len(body)-1])
			variants["unused bits"] = body[:len(body)-1] + string(alphabet[last|1])
		}
		for name, mutated := range variants {
			t.Run(v.Name+"/"+name, func(t *testing.T) {
				lax, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(mutated, "="))
				want, _ := base64.RawURLEncoding.DecodeString(body)
				if err != nil || !bytes.Equal(lax, want) {
					t.Fatal("the mutation does not decode laxly to the original bytes")
				}
				if _, err := paseto.Parse(paseto.Header + mutated + footer); err == nil {
					t.Error("Parse accepted a non-canonical body")
				}
			})
		}
	}
}

// TestV3VectorsRejected: writ reads only v4.public, so every v3 token (and
// 3-F-3's v4.local one) is refused by Parse: no version confusion.
func TestV3VectorsRejected(t *testing.T) {
	for _, v := range loadVectors(t, "v3.json") {
		t.Run(v.Name, func(t *testing.T) {
			if _, err := paseto.Parse(v.Token); err == nil {
				t.Errorf("Parse(%.20s…) accepted a token of another version or purpose", v.Token)
			}
		})
	}
}
