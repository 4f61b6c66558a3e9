package main

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestVerifyWarnsOfIgnoredKeys: writ verify ignores the keys of a set that
// it cannot use, says so on stderr as warnings, one line each and escaped,
// and decides the exit status by the token alone; a set with private key
// material or no usable key is refused.
func TestVerifyWarnsOfIgnoredKeys(t *testing.T) {
	db := newCLIDatabase(t)
	dir := filepath.Dir(db)
	_, token, _ := runCLI(t, "", "token", "issue", "--db", db, "--subject", "alice", "--audience", "api")
	token = strings.TrimSpace(token)
	_, out, _ := runCLI(t, "", "jwks", "--db", db)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("writ jwks: %v: %s", err, out)
	}

	// keySet writes a key set of keys to a file.
	keySet := func(name string, keys ...map[string]any) string {
		data, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		writeFile(t, path, string(data))
		return path
	}
	small := new(big.Int).Lsh(big.NewInt(1), 1023)
	small.Or(small, big.NewInt(1))
	weakRSA := map[string]any{"kty": "RSA", "kid": "small", "alg": "RS256", "n": base64.RawURLEncoding.EncodeToString(small.Bytes()), "e": "AQAB"}
	p384 := map[string]any{"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"}
	hostileKid := map[string]any{"kty": "XYZ", "kid": "\u202eevil\x1b[2J\nwrit: error: forged"}
	published := func(extra ...map[string]any) []map[string]any {
		return append(append([]map[string]any(nil), set.Keys...), extra...)
	}
	jwks := keySet("jwks.json", published(weakRSA, p384, hostileKid)...)
	verify := func(jwks, tok string) (int, string, string) {
		return runCLI(t, "", "verify", "--jwks", jwks, "--issuer", "http://127.0.0.1:8080", "--audience", "api", tok)
	}
	// checkWarnings checks that stderr starts with one warning per ignored
	// key, in the set's order, and returns the rest.
	checkWarnings := func(stderr, source string) string {
		t.Helper()
		lines := strings.SplitAfter(stderr, "\n")
		n := len(set.Keys)
		for i, want := range []string{
			`key ` + strconv.Itoa(n) + ` (kid "small"): weak key: RSA modulus of 1024 bits`,
			`key ` + strconv.Itoa(n+1) + ` (kid "p384"): key not supported: curve "P-384"`,
			`key ` + strconv.Itoa(n+2) + ` (kid "\u202eevil\x1b[2J\nwrit: error: forged"): key not supported: key type "XYZ"`,
		} {
			if i >= len(lines) || !strings.HasPrefix(lines[i], "writ: warning: "+source+": ignored "+want) {
				t.Fatalf("stderr line %d is not the warning %q: %q", i, want, stderr)
			}
		}
		if strings.ContainsAny(stderr, "\x1b\u202e") {
			t.Errorf("stderr holds a raw escape or reordering character: %q", stderr)
		}
		return strings.Join(lines[3:], "")
	}

	code, stdout, stderr := verify(jwks, token)
	if code != 0 || !strings.Contains(stdout, `"sub":"alice"`) {
		t.Fatalf("good token: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if rest := checkWarnings(stderr, jwks); rest != "" {
		t.Errorf("more on stderr than the warnings: %q", rest)
	}

	header, payload, sig := split3(t, token)
	var h map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["kid"] = "small"
	raw, _ = json.Marshal(h)
	code, stdout, stderr = verify(jwks, base64.RawURLEncoding.EncodeToString(raw)+"."+payload+"."+sig)
	if rest := checkWarnings(stderr, jwks); code != 1 || stdout != "" || rest != "writ: error: invalid token: unknown signing key: kid \"small\"\n" {
		t.Errorf("token naming an ignored kid: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// The same from a URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, jwks)
	}))
	defer srv.Close()
	code, _, stderr = verify(srv.URL, token)
	if rest := checkWarnings(stderr, srv.URL); code != 0 || rest != "" {
		t.Errorf("good token, key set from a URL: exit %d, stderr %q", code, stderr)
	}

	for _, tc := range []struct {
		name, jwks, want string
	}{
		{"private key material", keySet("private.json", published(weakRSA, map[string]any{"kty": "EC", "crv": "P-256", "kid": "leak", "d": "AA"})...),
			`the set holds private key material (member "d")`},
		{"no usable key", keySet("unusable.json", weakRSA, p384),
			`no usable key: key 0 (kid "small"): weak key: RSA modulus of 1024 bits, fewer than 2048; key 1 (kid "p384"): key not supported: curve "P-384"`},
	} {
		code, stdout, stderr := verify(tc.jwks, token)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "writ: error: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one error line saying %q", tc.name, code, stdout, stderr, tc.want)
		}
	}
}
