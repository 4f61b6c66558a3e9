// Package interop checks writ's tokens against real third-party libraries:
// panva's jose (JWT) and paseto (PASETO v4.public) for Node.js, pinned in
// testdata/interop. Node verifies what writ issues, and writ verifies what
// jose signs. The package holds only tests.
//
// The tests need node and npm: without them they are skipped, or fail when
// the CI environment variable is set. They run npm ci when
// testdata/interop/node_modules is missing or does not match
// package-lock.json.
package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

const (
	issuerURL = "https://writ.example"
	audience  = "https://api.example"

	npmTimeout  = 5 * time.Minute
	nodeTimeout = time.Minute
)

var jwtAlgs = []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256}

// TestJoseVerifiesWritJWTs issues JWTs with each algorithm and has jose's
// jwtVerify check them against writ's JWKS, with the issuer, the audience,
// typ at+jwt and the algorithm pinned.
func TestJoseVerifiesWritJWTs(t *testing.T) {
	node := setupNode(t)
	for _, jwtAlg := range jwtAlgs {
		alg := string(jwtAlg)
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			w := newWrit(t, jwtAlg)
			one := w.issue(t, issuer.Request{
				Subject: "alice", Audience: []string{audience},
				Scopes: []string{"things:read", "things:write"}, Name: "ci-" + alg, Format: keys.JWT,
				// Bound to networks: jose, which knows no allowed_ips, ignores it.
				AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
			})
			two := w.issue(t, issuer.Request{
				Subject: "bob", Audience: []string{"https://other.example", audience}, Format: keys.JWT,
			})
			jwks := w.writeKeySet(t, "jwks.json", w.ring.JWKS)
			args := []string{"--jwks", jwks, "--issuer", issuerURL, "--audience", audience, "--alg", alg}

			out := node.mustRun(t, "verify-jwt.mjs", append(args, one.Token, two.Token)...)
			var got []struct{ Header, Payload map[string]any }
			decode(t, out, &got)
			if len(got) != 2 {
				t.Fatalf("jose returned %d results for 2 tokens: %s", len(got), out)
			}
			for i, c := range []struct {
				tok  *issuer.Token
				want map[string]any
			}{
				{one, map[string]any{"sub": "alice", "aud": audience, "scope": "things:read things:write", "client_id": "ci-" + alg,
					"allowed_ips": []any{"10.0.0.0/8", "2001:db8::/32"}}},
				{two, map[string]any{"sub": "bob", "aud": []any{"https://other.example", audience}, "client_id": "bob"}},
			} {
				wantHeader := map[string]any{"alg": alg, "kid": c.tok.KeyID, "typ": "at+jwt"}
				if !reflect.DeepEqual(got[i].Header, wantHeader) {
					t.Errorf("token %d: jose saw header %v, want %v", i, got[i].Header, wantHeader)
				}
				want := maps.Clone(c.want)
				want["iss"] = issuerURL
				want["jti"] = c.tok.ID
				want["iat"] = float64(c.tok.IssuedAt.Unix())
				want["nbf"] = float64(c.tok.IssuedAt.Unix())
				want["exp"] = float64(c.tok.ExpiresAt.Unix())
				if !reflect.DeepEqual(got[i].Payload, want) {
					t.Errorf("token %d: jose saw claims\n%v\nwant\n%v", i, got[i].Payload, want)
				}
			}

			// A payload changed after signing must fail jose's signature check.
			bad := tamper(t, one.Token)
			_, stderr, err := node.run(t, "verify-jwt.mjs", append(args, bad)...)
			if err == nil {
				t.Fatal("jose accepted a writ JWT with a tampered payload")
			}
			if !strings.Contains(stderr, "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
				t.Errorf("jose rejected the tampered JWT for another reason: %s", stderr)
			}
		})
	}
}

// TestPasetoVerifiesWritTokens has paseto's v4.public Verify check writ's
// PASETO tokens with the keys of writ's PASERK set, selected by the footer kid.
func TestPasetoVerifiesWritTokens(t *testing.T) {
	node := setupNode(t)
	t.Parallel()
	w := newWrit(t, verifier.EdDSA)
	// One audience each: the PASETO spec registers aud as a string, and
	// paseto rejects an array.
	one := w.issue(t, issuer.Request{
		Subject: "alice", Audience: []string{audience}, Scopes: []string{"things:read"},
		Name: "ci-paseto", Format: keys.PASETO, TTL: 10 * time.Minute,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	})
	two := w.issue(t, issuer.Request{Subject: "bob", Audience: []string{audience}, Format: keys.PASETO})
	paserk := w.writeKeySet(t, "paserk.json", w.ring.PASERKSet)
	args := []string{"--paserk", paserk, "--issuer", issuerURL, "--audience", audience}

	out := node.mustRun(t, "verify-paseto.mjs", append(args, one.Token, two.Token)...)
	var got []struct {
		KID    string
		Claims map[string]any
	}
	decode(t, out, &got)
	if len(got) != 2 {
		t.Fatalf("paseto returned %d results for 2 tokens: %s", len(got), out)
	}
	date := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for i, c := range []struct {
		tok  *issuer.Token
		want map[string]any
	}{
		{one, map[string]any{"sub": "alice", "scope": "things:read", "client_id": "ci-paseto", "allowed_ips": []any{"192.0.2.0/24"}}},
		{two, map[string]any{"sub": "bob", "client_id": "bob"}},
	} {
		if got[i].KID != c.tok.KeyID || !strings.HasPrefix(got[i].KID, "k4.pid.") {
			t.Errorf("token %d: paseto verified it with key %q, want %q", i, got[i].KID, c.tok.KeyID)
		}
		want := maps.Clone(c.want)
		want["iss"] = issuerURL
		want["aud"] = audience
		want["jti"] = c.tok.ID
		want["iat"] = date(c.tok.IssuedAt)
		want["nbf"] = date(c.tok.IssuedAt)
		want["exp"] = date(c.tok.ExpiresAt)
		if !reflect.DeepEqual(got[i].Claims, want) {
			t.Errorf("token %d: paseto saw claims\n%v\nwant\n%v", i, got[i].Claims, want)
		}
	}

	// A token whose signed message changed must fail paseto's verification.
	bad := []byte(one.Token)
	if i := len("v4.public.") + 10; bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	_, stderr, err := node.run(t, "verify-paseto.mjs", append(args, string(bad))...)
	if err == nil {
		t.Fatal("paseto accepted a tampered writ PASETO")
	}
	if !strings.Contains(stderr, "ERR_PASETO_INVALID_TOKEN") {
		t.Errorf("paseto rejected the tampered PASETO for another reason: %s", stderr)
	}
}

// TestWritVerifiesJoseJWTs has jose sign a token with a fresh key per
// algorithm and writ's verifier check each one from jose's JWKS.
func TestWritVerifiesJoseJWTs(t *testing.T) {
	node := setupNode(t)
	t.Parallel()
	args := []string{"--issuer", issuerURL, "--audience", audience, "--subject", "carol",
		"--scope", "things:read admin", "--client-id", "jose-client"}
	for _, alg := range slices.Concat(jwtAlgs, []verifier.Algorithm{"ES384"}) {
		args = append(args, "--alg", string(alg))
	}
	out := node.mustRun(t, "sign-jwt.mjs", args...)
	var signed struct {
		JWKS   json.RawMessage
		Tokens []struct {
			Alg             verifier.Algorithm
			KID, JTI, Token string
		}
	}
	decode(t, out, &signed)

	ks, err := verifier.ParseJWKS(signed.JWKS)
	if err != nil {
		t.Fatalf("writ cannot read jose's JWKS: %v\n%s", err, signed.JWKS)
	}
	if ks.Len() != len(jwtAlgs) {
		t.Errorf("writ took %d keys from jose's JWKS, want %d (the ES384 key skipped)", ks.Len(), len(jwtAlgs))
	}
	v := newVerifier(t, ks, jwtAlgs...)
	tokens := map[verifier.Algorithm]string{}
	for _, tok := range signed.Tokens {
		tokens[tok.Alg] = tok.Token
		t.Run(string(tok.Alg), func(t *testing.T) {
			c, err := v.Verify(t.Context(), tok.Token)
			if tok.Alg == "ES384" {
				if !errors.Is(err, verifier.ErrAlgorithm) {
					t.Fatalf("Verify(ES384 token) = %v, want ErrAlgorithm", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("writ rejected jose's %s token: %v", tok.Alg, err)
			}
			if c.Algorithm != tok.Alg || c.KeyID != tok.KID {
				t.Errorf("verified with %s key %q, want %s key %q", c.Algorithm, c.KeyID, tok.Alg, tok.KID)
			}
			if c.Issuer != issuerURL || !reflect.DeepEqual(c.Audience, []string{audience}) ||
				c.Subject != "carol" || c.ID != tok.JTI || c.ClientID != "jose-client" {
				t.Errorf("claims iss %q aud %q sub %q jti %q client_id %q, want %q %q %q %q %q",
					c.Issuer, c.Audience, c.Subject, c.ID, c.ClientID,
					issuerURL, audience, "carol", tok.JTI, "jose-client")
			}
			if !reflect.DeepEqual(c.Scopes(), []string{"things:read", "admin"}) {
				t.Errorf("scopes %q, want [things:read admin]", c.Scopes())
			}
			if life := c.ExpiresAt.Sub(c.IssuedAt); life != 10*time.Minute || !c.NotBefore.Equal(c.IssuedAt) {
				t.Errorf("iat %v nbf %v exp %v, want nbf = iat and a 10m lifetime", c.IssuedAt, c.NotBefore, c.ExpiresAt)
			}
		})
	}
	if len(tokens) != len(jwtAlgs)+1 {
		t.Fatalf("jose signed %d tokens, want %d", len(tokens), len(jwtAlgs)+1)
	}

	// A supported algorithm that this verifier was not told to accept.
	t.Run("RS256 not accepted", func(t *testing.T) {
		v := newVerifier(t, ks, verifier.EdDSA, verifier.ES256)
		if _, err := v.Verify(t.Context(), tokens[verifier.RS256]); !errors.Is(err, verifier.ErrAlgorithm) {
			t.Fatalf("Verify(RS256 token) with EdDSA and ES256 accepted = %v, want ErrAlgorithm", err)
		}
	})
}

func newVerifier(t *testing.T, ks *verifier.KeySet, algs ...verifier.Algorithm) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{Issuer: issuerURL, Audience: audience, Algorithms: algs, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writ is an issuer with a fresh database in a temporary directory.
type writ struct {
	dir    string
	db     *sqlite.DB
	ring   *keys.Ring
	issuer *issuer.Issuer
}

// newWrit creates a database whose JWT keys (active and next) use jwtAlg,
// with PASETO keys beside them.
func newWrit(t *testing.T, jwtAlg verifier.Algorithm) *writ {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Ensure(ctx, jwtAlg); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Issuer: issuerURL, Keys: ring, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	return &writ{dir: dir, db: db, ring: ring, issuer: iss}
}

func (w *writ) issue(t *testing.T, req issuer.Request) *issuer.Token {
	t.Helper()
	tok, err := w.issuer.Issue(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writeKeySet writes the key set that set returns to name in w's directory
// and returns its path.
func (w *writ) writeKeySet(t *testing.T, name string, set func(context.Context) ([]byte, error)) string {
	t.Helper()
	data, err := set(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper returns jwt with a scope added to its payload and the original
// signature.
func tamper(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	decode(t, payload, &claims)
	claims["scope"] = "admin"
	if payload, err = json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// nodeEnv runs the scripts of testdata/interop.
type nodeEnv struct {
	node string // the node executable
	dir  string // testdata/interop, absolute
}

var nodeSetup struct {
	once sync.Once
	env  nodeEnv
	err  error
}

// setupNode finds node and npm and makes sure testdata/interop/node_modules
// matches package-lock.json, once per test binary. Without node or npm it
// skips the test, or fails it in CI.
func setupNode(t *testing.T) nodeEnv {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("npm")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("interop tests need Node.js and npm in CI: %v", err)
		}
		t.Skipf("skipping interop tests: %v", err)
	}
	nodeSetup.once.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "interop"))
		if err != nil {
			nodeSetup.err = err
			return
		}
		nodeSetup.env = nodeEnv{node: node, dir: dir}
		if !modulesCurrent(dir) {
			nodeSetup.err = npmCI(dir)
		}
	})
	if nodeSetup.err != nil {
		t.Fatal(nodeSetup.err)
	}
	return nodeSetup.env
}

// modulesCurrent reports whether dir/node_modules holds exactly the packages
// that dir/package-lock.json pins, as recorded in the hidden lockfile npm
// writes at node_modules/.package-lock.json.
func modulesCurrent(dir string) bool {
	type lockfile struct {
		Packages map[string]struct{ Version, Integrity string }
	}
	read := func(path string) (lockfile, bool) {
		var l lockfile
		data, err := os.ReadFile(path)
		return l, err == nil && json.Unmarshal(data, &l) == nil
	}
	want, ok := read(filepath.Join(dir, "package-lock.json"))
	if !ok {
		return false
	}
	got, ok := read(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if !ok {
		return false
	}
	delete(want.Packages, "") // the root project, not an installed package
	return len(want.Packages) > 0 && maps.Equal(want.Packages, got.Packages)
}

// npmCI installs the locked packages in dir, running no install scripts.
func npmCI(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if !modulesCurrent(dir) {
		return errors.New("npm ci in testdata/interop left node_modules out of step with package-lock.json")
	}
	return nil
}

// run runs a script of testdata/interop with args and returns its stdout,
// its stderr and the error of a non-zero exit. A run that outlasts
// nodeTimeout fails the test.
func (n nodeEnv) run(t *testing.T, script string, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	path := filepath.Join(n.dir, script)
	// Stat it here so that go test's cache notices when the script changes.
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.node, append([]string{path}, args...)...)
	cmd.Dir = n.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("node %s: %v\n%s", script, ctx.Err(), errOut.Bytes())
	}
	return out.Bytes(), errOut.String(), err
}

// mustRun is run for a script that must succeed.
func (n nodeEnv) mustRun(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	out, stderr, err := n.run(t, script, args...)
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr)
	}
	return out
}
