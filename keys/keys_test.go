package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

func TestGenerate(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k, err := keys.Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			wantFormat := keys.JWT
			if alg == verifier.V4Public {
				wantFormat = keys.PASETO
			}
			if k.Algorithm() != alg || k.Format() != wantFormat || keys.FormatOf(alg) != wantFormat {
				t.Errorf("key %s: algorithm %s, format %s", k, k.Algorithm(), k.Format())
			}
			switch s := k.Signer().(type) {
			case ed25519.PrivateKey:
				if alg != verifier.EdDSA && alg != verifier.V4Public {
					t.Errorf("%s key is Ed25519", alg)
				}
			case *ecdsa.PrivateKey:
				if alg != verifier.ES256 || s.Curve != elliptic.P256() {
					t.Errorf("%s key is ECDSA on %s", alg, s.Curve.Params().Name)
				}
			case *rsa.PrivateKey:
				if alg != verifier.RS256 && alg != verifier.PS256 || s.N.BitLen() != keys.RSABits {
					t.Errorf("%s key is RSA of %d bits", alg, s.N.BitLen())
				}
			default:
				t.Errorf("%s key is %T", alg, s)
			}
			id, err := keys.KeyID(alg, k.Public())
			if err != nil || id != k.ID() {
				t.Errorf("ID %q, KeyID %q, %v", k.ID(), id, err)
			}
			if alg == verifier.V4Public {
				if !strings.HasPrefix(k.ID(), "k4.pid.") || len(k.ID()) != len("k4.pid.")+44 || k.ID() != paserk.ID(k.Public().(ed25519.PublicKey)) {
					t.Errorf("PASETO kid %q", k.ID())
				}
			} else if len(k.ID()) != 43 || strings.ContainsAny(k.ID(), "+/=") {
				t.Errorf("JOSE kid %q is not a base64url SHA-256 thumbprint", k.ID())
			}
			if _, err := verifier.NewKey(k.ID(), alg, k.Public()); err != nil {
				t.Errorf("verifier.NewKey: %v", err)
			}
			d := privateScalar(k)
			if s := fmt.Sprintf("%v %s %+v", k, k, k); !strings.Contains(s, k.ID()) || strings.Contains(s, fmt.Sprintf("%x", d[:8])) || strings.Contains(s, b64.Encode(d)[:11]) {
				t.Errorf("String: %s", s)
			}
			k2, err := keys.Generate(alg)
			if err != nil || k2.ID() == k.ID() {
				t.Errorf("two keys with kid %s (%v)", k.ID(), err)
			}
		})
	}
}

func TestGenerateRejects(t *testing.T) {
	for _, alg := range []verifier.Algorithm{"", "none", "HS256", "eddsa", "ES384", "RS512", "v4.local", "v3.public", "Ed25519"} {
		if k, err := keys.Generate(alg); err == nil || k != nil {
			t.Errorf("Generate(%q) = %v, %v", alg, k, err)
		}
	}
}

func TestNewKeyRejectsMismatch(t *testing.T) {
	ed, _ := keys.Generate(verifier.EdDSA)
	es, _ := keys.Generate(verifier.ES256)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		alg    verifier.Algorithm
		signer crypto.Signer
	}{
		{"ES256 with an Ed25519 key", verifier.ES256, ed.Signer()},
		{"EdDSA with a P-256 key", verifier.EdDSA, es.Signer()},
		{"RS256 with a P-256 key", verifier.RS256, es.Signer()},
		{"RS256 with 1024 bits", verifier.RS256, small},
		{"PS256 with 1024 bits", verifier.PS256, small},
		{"v4.public with a P-256 key", verifier.V4Public, es.Signer()},
		{"HS256", "HS256", ed.Signer()},
	} {
		if k, err := keys.NewKey(tc.alg, tc.signer); err == nil || k != nil {
			t.Errorf("%s: NewKey = %v, %v", tc.name, k, err)
		}
	}
}

// TestKeyIDRFC7638 checks the kid against the worked example of RFC 7638
// §3.1 (the RSA key of RFC 7517 Appendix A.1) and against RFC 8037 A.3.
func TestKeyIDRFC7638(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
	for _, alg := range []verifier.Algorithm{verifier.RS256, verifier.PS256} {
		if id, err := keys.KeyID(alg, rsaPub); err != nil || id != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
			t.Errorf("KeyID(%s, RFC 7638 key) = %q, %v", alg, id, err)
		}
	}
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := keys.KeyID(verifier.EdDSA, ed25519.PublicKey(x)); err != nil || id != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("KeyID(EdDSA, RFC 8037 key) = %q, %v", id, err)
	}
	// The same Ed25519 key as a PASETO key has its k4.pid instead.
	if id, err := keys.KeyID(verifier.V4Public, ed25519.PublicKey(x)); err != nil || id != paserk.ID(x) {
		t.Errorf("KeyID(v4.public) = %q, %v", id, err)
	}
}

func TestKeyIDRejects(t *testing.T) {
	es, _ := keys.Generate(verifier.ES256)
	for name, tc := range map[string]struct {
		alg verifier.Algorithm
		pub any
	}{
		"v4.public with a P-256 key":    {verifier.V4Public, es.Public()},
		"v4.public with 31 bytes":       {verifier.V4Public, ed25519.PublicKey(make([]byte, 31))},
		"v4.public with 33 bytes":       {verifier.V4Public, ed25519.PublicKey(make([]byte, 33))},
		"EdDSA with an unsupported key": {verifier.EdDSA, struct{}{}},
	} {
		if id, err := keys.KeyID(tc.alg, tc.pub); err == nil {
			t.Errorf("%s: KeyID = %q", name, id)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]keys.Format{"jwt": keys.JWT, "paseto": keys.PASETO} {
		if f, err := keys.ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	for _, in := range []string{"", "JWT", "jws", "paseto ", "v4.public"} {
		if f, err := keys.ParseFormat(in); err == nil {
			t.Errorf("ParseFormat(%q) = %q", in, f)
		}
	}
}

func TestGenerateMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.key")
	mk, err := keys.GenerateMasterKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("master key file mode %#o, want 0600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(data), "\n"))
	if err != nil || len(raw) != keys.MasterKeySize || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("master key file holds %q", data)
	}
	// O_EXCL: a second call must not replace the key.
	if _, err := keys.GenerateMasterKeyFile(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("second GenerateMasterKeyFile = %v, want ErrExist", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
		t.Error("the second call changed the key file")
	}
	// The key read back is the key generated: it opens what that one sealed.
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	read, err := keys.ReadMasterKeyFile(filepath.Join(e.dir, "writ.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.open(t, read).Signer(t.Context(), keys.JWT); err != nil {
		t.Errorf("a ring opened with the key read back cannot sign: %v", err)
	}
	if s := fmt.Sprintf("%v|%s|%+v", mk, mk, mk); strings.Contains(s, strings.TrimSpace(string(data))) || !strings.Contains(s, "redacted") {
		t.Errorf("master key prints as %q", s)
	}
	// Go syntax too, which would otherwise list its fields, the key's
	// bytes first.
	if s := fmt.Sprintf("%#v", mk); strings.Contains(s, fmt.Sprintf("%#v", keys.RawKey(mk))) || !strings.Contains(s, "redacted") {
		t.Errorf("master key prints in Go syntax as %q", s)
	}
}

func TestGenerateMasterKeyFileOverExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.key")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.GenerateMasterKeyFile(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("GenerateMasterKeyFile over a file = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious" {
		t.Errorf("file replaced: %q", data)
	}
}

func TestReadMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.key")
	if _, err := keys.GenerateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o644, false}, {0o640, false}, {0o604, false}, {0o660, false}, {0o666, false}} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := keys.ReadMasterKeyFile(path)
		if tc.ok != (err == nil) {
			t.Errorf("mode %#o: ReadMasterKeyFile = %v, want ok = %v", tc.mode, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimSpace(string(data))) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
	if _, err := keys.ReadMasterKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A file of the wrong size: refused without quoting its contents.
	bad := filepath.Join(dir, "bad.key")
	secret := base64.StdEncoding.EncodeToString([]byte("thirty-one bytes of secret data"))
	if err := os.WriteFile(bad, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ReadMasterKeyFile(bad); !errors.Is(err, keys.ErrMasterKey) || strings.Contains(err.Error(), secret) {
		t.Errorf("ReadMasterKeyFile(31 bytes) = %v", err)
	}
}

func TestParseMasterKey(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, keys.MasterKeySize))
	for _, in := range []string{key, key + "\n", "  " + key + "\r\n"} {
		if _, err := keys.ParseMasterKey(in); err != nil {
			t.Errorf("ParseMasterKey(%q) = %v", in, err)
		}
	}
	for name, in := range map[string]string{
		"empty":                 "",
		"31 bytes":              base64.StdEncoding.EncodeToString(make([]byte, 31)),
		"33 bytes":              base64.StdEncoding.EncodeToString(make([]byte, 33)),
		"48 bytes":              base64.StdEncoding.EncodeToString(make([]byte, 48)),
		"unpadded":              strings.TrimRight(key, "="),
		"URL alphabet":          base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, keys.MasterKeySize)),
		"hex":                   fmt.Sprintf("%x", make([]byte, 32)),
		"a space inside":        key[:20] + " " + key[20:],
		"trailing bits":         key[:42] + "B=",
		"a passphrase":          "correct horse battery staple, and so on",
		"two keys on a line":    key + " " + key,
		"the key in a sentence": "key=" + key,
	} {
		mk, err := keys.ParseMasterKey(in)
		if mk != nil || !errors.Is(err, keys.ErrMasterKey) {
			t.Errorf("%s: ParseMasterKey = %v, %v; want ErrMasterKey", name, mk, err)
			continue
		}
		if len(in) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(in)) || strings.Contains(err.Error(), key[:16]) {
			t.Errorf("%s: the error quotes the input: %v", name, err)
		}
	}
}

// A generated key's kid never starts with '-', which the command line
// would read as a flag (writ keys compromise KID): one thumbprint in 64
// would.
func TestGeneratedKidNotFlagLike(t *testing.T) {
	for range 640 {
		k, err := keys.Generate(verifier.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.ID(), "-") {
			t.Fatalf("kid %q starts with '-'", k.ID())
		}
	}
}
