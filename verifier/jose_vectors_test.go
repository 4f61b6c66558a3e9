package verifier

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jws"
)

// JOSE conformance vectors (testdata/vectors/SOURCES.md): Wycheproof's JWS
// and JWK tests, the RFC 7515 and RFC 8037 examples and the RFC 7520 JWS
// cookbook.

// joseRules is the one list of Wycheproof JOSE vectors on which writ and
// Wycheproof disagree, each under the DESIGN.md "Token profile" rule that
// decides it and the sentinel writ answers with (nil: writ accepts). A case
// is "jws/<tcId>" (json_web_signature_test.json) or "jwk/<tcId>"
// (json_web_key_test.json). TestWycheproofJOSE fails on a disagreement that
// is not listed, on a listed case answered with another sentinel, and on a
// listed case that no longer disagrees.
var joseRules = []struct {
	rule  string
	want  error
	cases []string
}{
	{
		rule: "HMAC is never honoured: a key set holding a secret key is refused",
		want: ErrKeySet,
		cases: []string{
			"jws/1", "jws/348", "jws/352", // HS256: acceptsValid, RFC 7520 Figure 35
			"jws/357", "jws/358", "jws/359", "jws/376", "jws/377", // HS256: the base64 group
			"jws/372", "jws/373", // HS256 MACs over a stray character, which strict base64url would refuse next
			"jwk/2", "jwk/13", "jwk/14", "jwk/15", // HS256, HS384, HS512 key sets
		},
	},
	{
		rule: "algorithms are EdDSA, ES256, RS256 and PS256 only: a key set with no key for them is refused",
		want: ErrKeySet,
		cases: []string{
			"jws/264", "jws/265", "jws/266", "jws/267", // RS384
			"jws/268", "jws/269", "jws/270", "jws/271", // RS512
			"jws/320", "jws/321", "jws/322", "jws/323", // PS384
			"jws/325", "jws/326", "jws/327", "jws/328", // PS512
			"jws/347", "jws/351", // ES512 on P-521 (RFC 7520 Figure 27)
		},
	},
	{
		rule:  "algorithms are EdDSA, ES256, RS256 and PS256 only, and a token's alg must be its key's",
		want:  ErrAlgorithm,
		cases: []string{"jws/346", "jws/350"}, // RFC 7520 Figure 20: PS384 token, key published for PS256
	},
	{
		rule:  "JWT, compact JWS only: the payload is the claims set, never empty (no detached content)",
		want:  ErrMalformed,
		cases: []string{"jws/259", "jws/272"}, // RS256, PS256 over an empty payload
	},
}

// joseVector is one test of a Wycheproof JsonWebSignature or JsonWebKey file.
type joseVector struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	JWS     string   `json:"jws"`
	Result  string   `json:"result"`
	Flags   []string `json:"flags"`
}

type joseGroup struct {
	Comment string `json:"comment"`
	// Public is a JWK or a JWKS; groups with secret (HMAC, AES) keys have
	// only Private.
	Public  map[string]any `json:"public"`
	Private map[string]any `json:"private"`
	Tests   []joseVector   `json:"tests"`
}

// TestWycheproofJOSE runs every Wycheproof JWS and JWK test the way a
// verifier meets it: the group's key set through ParseJWKS (a verifier
// cannot be built on a key set that writ refuses, which is then the case's
// outcome), the token through jwsLayer. A group with no valid test exists
// to show a key that must be refused (the JWK tests, and the JWS tests of a
// key for encryption), so its cases agree with Wycheproof only when
// ParseJWKS refuses the key set. The payloads are not JWT claims and the
// headers have no typ, so a full Verify must reject every token as well.
func TestWycheproofJOSE(t *testing.T) {
	rules := map[string]int{} // case → index in joseRules
	for i, r := range joseRules {
		for _, c := range r.cases {
			if _, dup := rules[c]; dup {
				t.Fatalf("joseRules lists %s twice", c)
			}
			rules[c] = i
		}
	}
	ctx := context.Background()
	seen := map[string]bool{}
	outcomes := map[string]int{}
	for _, f := range []struct{ prefix, file string }{
		{"jws", "json_web_signature_test.json"},
		{"jwk", "json_web_key_test.json"},
	} {
		var file struct {
			TestGroups []joseGroup `json:"testGroups"`
		}
		readVector(t, "wycheproof/"+f.file, &file)
		if len(file.TestGroups) == 0 || len(file.TestGroups[0].Tests) == 0 {
			t.Fatalf("%s: no vectors", f.file)
		}
		for _, g := range file.TestGroups {
			ks, keyErr := groupKeySet(t, f.prefix, g)
			keyDefect := !slices.ContainsFunc(g.Tests, func(tc joseVector) bool { return tc.Result == "valid" })
			var v *Verifier
			if keyErr == nil {
				v = newVectorVerifier(t, ks)
			}
			for _, tc := range g.Tests {
				id := fmt.Sprintf("%s/%d", f.prefix, tc.TcID)
				seen[id] = true
				err := keyErr
				if v != nil {
					_, err = v.jwsLayer(ctx, tc.JWS)
				}
				outcomes[sentinelName(err)]++
				t.Run(id, func(t *testing.T) {
					if v != nil {
						if _, err := v.Verify(ctx, tc.JWS); err == nil {
							t.Error("full Verify accepted a token with no typ and no claims")
						}
					}
					var agrees bool
					switch tc.Result {
					case "valid":
						agrees = err == nil
					case "invalid":
						agrees = err != nil && (!keyDefect || errors.Is(err, ErrKeySet))
					default:
						t.Fatalf("unknown result %q", tc.Result)
					}
					i, listed := rules[id]
					switch {
					case agrees && listed:
						t.Errorf("writ now agrees with Wycheproof (%s, %q): remove the case from joseRules (%q)", tc.Result, tc.Comment, joseRules[i].rule)
					case agrees:
					case !listed && keyDefect:
						t.Errorf("Wycheproof: the key of group %q must be refused (%q); writ: key set accepted, token: %v. Fix writ, or list the case in joseRules under the profile rule that decides it", g.Comment, tc.Comment, err)
					case !listed:
						t.Errorf("Wycheproof: %s (%q, group %q); writ: %v. Fix writ, or list the case in joseRules under the profile rule that decides it", tc.Result, tc.Comment, g.Comment, err)
					case !errors.Is(err, joseRules[i].want):
						t.Errorf("listed under %q with %v, but writ says %v", joseRules[i].rule, joseRules[i].want, err)
					}
				})
			}
		}
	}
	for c := range rules {
		if !seen[c] {
			t.Errorf("joseRules lists %s, which no vector file holds", c)
		}
	}
	t.Logf("%d vectors: %s", len(seen), formatCounts(outcomes))
}

// groupKeySet builds a group's key set through ParseJWKS, from its public
// key or, for groups that have only secret keys, from those. A refusal,
// which must wrap ErrKeySet, is logged and returned.
func groupKeySet(t *testing.T, file string, g joseGroup) (*KeySet, error) {
	t.Helper()
	ks, err := ParseJWKS(jwksOf(t, groupKeys(t, g)...))
	if err != nil {
		if !errors.Is(err, ErrKeySet) {
			t.Fatalf("%s group %q: ParseJWKS: %v, want ErrKeySet", file, g.Comment, err)
		}
		t.Logf("%s group %q: key set refused: %v", file, g.Comment, err)
	}
	return ks, err
}

// TestWycheproofKeysBesideAUsableKey: the keys of every Wycheproof group
// that exists to show a key to refuse (no valid test), put in one set with
// a usable key, leave that key alone usable: each is ignored with a reason
// (RFC 7517 §5), unless the group's keys hold private or secret key
// material, which refuses the whole set.
func TestWycheproofKeysBesideAUsableKey(t *testing.T) {
	usable := map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "writ-usable",
		"x": b64.Encode(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))}
	groups := 0
	for _, file := range []string{"json_web_signature_test.json", "json_web_key_test.json"} {
		var f struct {
			TestGroups []joseGroup `json:"testGroups"`
		}
		readVector(t, "wycheproof/"+file, &f)
		for _, g := range f.TestGroups {
			if slices.ContainsFunc(g.Tests, func(tc joseVector) bool { return tc.Result == "valid" }) {
				continue
			}
			groups++
			keys := groupKeys(t, g)
			secret := slices.ContainsFunc(keys, func(k map[string]any) bool {
				return slices.ContainsFunc(privateJWKMembers, func(m string) bool { _, ok := k[m]; return ok })
			})
			ks, err := ParseJWKS(jwksOf(t, append(keys, usable)...))
			switch {
			case secret:
				if !errors.Is(err, ErrKeySet) {
					t.Errorf("%s group %q: %v, want the set refused for its secret key", file, g.Comment, err)
				}
			case err != nil:
				t.Errorf("%s group %q beside a usable key: %v", file, g.Comment, err)
			case ks.Len() != 1 || len(ks.Ignored()) != len(keys):
				t.Errorf("%s group %q beside a usable key: %d keys, %d ignored; want 1 and %d", file, g.Comment, ks.Len(), len(ks.Ignored()), len(keys))
			default:
				for _, ign := range ks.Ignored() {
					if !errors.Is(ign.Reason, ErrKeyUnsupported) && !errors.Is(ign.Reason, ErrKeyMalformed) && !errors.Is(ign.Reason, ErrKeyWeak) {
						t.Errorf("%s group %q: %v, want a reason sentinel", file, g.Comment, ign)
					}
				}
			}
		}
	}
	if groups == 0 {
		t.Fatal("no Wycheproof group of a key to refuse")
	}
}

// groupKeys returns the keys of a group's key set: its public key or
// keys, or, for groups that have only secret keys, those.
func groupKeys(t *testing.T, g joseGroup) []map[string]any {
	t.Helper()
	set := g.Public
	if set == nil {
		set = g.Private
	}
	list, ok := set["keys"].([]any)
	if !ok {
		return []map[string]any{set}
	}
	var keys []map[string]any
	for _, k := range list {
		m, ok := k.(map[string]any)
		if !ok {
			t.Fatalf("group %q: a key is not an object", g.Comment)
		}
		keys = append(keys, m)
	}
	return keys
}

// TestRFC7515Examples: the RFC 7515 A.2 (RS256, a 2048-bit key), A.3 (ES256)
// and RFC 8037 A.4 (EdDSA) signatures verify at the signature layer with
// their keys from ParseJWKS; a full Verify refuses every example, each for
// the profile rule that decides it.
func TestRFC7515Examples(t *testing.T) {
	var file struct {
		Vectors []struct {
			ID             string          `json:"id"`
			Alg            string          `json:"alg"`
			JWK            map[string]any  `json:"jwk"`
			Token          string          `json:"token"`
			JSON           json.RawMessage `json:"json"`
			SignatureValid bool            `json:"signature_valid"`
		} `json:"vectors"`
	}
	readVector(t, "rfc/rfc7515_rfc8037_examples.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no RFC examples")
	}
	wantVerify := map[string]error{
		"rfc7515-A.1": ErrAlgorithm, // HS256: HMAC is never honoured
		"rfc7515-A.2": ErrType,      // RFC 7519 JWTs, not at+jwt access tokens
		"rfc7515-A.3": ErrType,
		"rfc8037-A.4": ErrType,
		"rfc7515-A.5": ErrMalformed, // alg none: an empty signature part
		"rfc7515-A.6": ErrMalformed, // JWS JSON serialisation: compact only
	}

	// The appropriate key set: every example key writ can hold, by example id.
	var keys []map[string]any
	for _, x := range file.Vectors {
		if x.JWK != nil && slices.Contains(jwsAlgorithms, Algorithm(x.Alg)) {
			keys = append(keys, publicJWK(x.JWK, x.ID, x.Alg))
		}
	}
	ks, err := ParseJWKS(jwksOf(t, keys...))
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	v := newVectorVerifier(t, ks)

	for _, x := range file.Vectors {
		t.Run(x.ID, func(t *testing.T) {
			want, ok := wantVerify[x.ID]
			if !ok {
				t.Fatal("no expected outcome for this example")
			}
			delete(wantVerify, x.ID)
			token := x.Token
			if x.JSON != nil {
				token = string(x.JSON)
			}
			if _, err := v.Verify(context.Background(), token); !errors.Is(err, want) {
				t.Errorf("Verify: %v, want %v", err, want)
			}
			switch {
			case slices.Contains(jwsAlgorithms, Algorithm(x.Alg)):
				key, err := ks.LookupKey(context.Background(), x.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !x.SignatureValid {
					t.Fatal("the example's signature is marked invalid")
				}
				verifySignature(t, x.Token, key)
			case x.JWK != nil: // a key writ cannot hold: HS256's secret
				if _, err := ParseJWKS(jwksOf(t, x.JWK)); !errors.Is(err, ErrKeySet) {
					t.Errorf("ParseJWKS(%s key): %v, want ErrKeySet", x.Alg, err)
				}
			}
		})
	}
	for id := range wantVerify {
		t.Errorf("example %s is missing from the file", id)
	}
}

// cookbookCase is one RFC 7520 (or RFC 8037, RFC 7797) JWS cookbook entry.
type cookbookCase struct {
	Title string `json:"title"`
	Input struct {
		Payload string         `json:"payload"`
		Key     map[string]any `json:"key"`
		Alg     string         `json:"alg"`
	} `json:"input"`
	Signing struct {
		Protected map[string]any `json:"protected"`
	} `json:"signing"`
	Output struct {
		Compact  string          `json:"compact"`
		JSON     json.RawMessage `json:"json"`
		JSONFlat json.RawMessage `json:"json_flat"`
	} `json:"output"`
}

// TestJWSCookbook: the compact examples in a profile algorithm verify (at
// the JWS layer when their header names a kid, at the signature layer when
// not); writ refuses the keys of the other algorithms and their tokens; the
// b64:false example is refused by jws.Parse; and no JSON serialisation
// (flattened or general, RFC 7520 4.8's multiple signatures included) gets
// past Verify.
func TestJWSCookbook(t *testing.T) {
	var cases []cookbookCase
	readVector(t, "rfc/rfc7520_rfc8037_rfc7797_jws_cookbook.json", &cases)
	var multiple struct {
		Title  string `json:"title"`
		Output struct {
			JSON json.RawMessage `json:"json"`
		} `json:"output"`
	}
	readVector(t, "rfc/rfc7520_4_8_multiple_signatures.json", &multiple)
	if len(cases) == 0 || multiple.Output.JSON == nil {
		t.Fatal("no cookbook examples")
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(c.Title, "https://www.rfc-editor.org/info/"), "/#", " "), func(t *testing.T) {
			ks, err := ParseJWKS(jwksOf(t, publicJWK(c.Input.Key, "cookbook", c.Input.Alg)))
			supported := slices.Contains(jwsAlgorithms, Algorithm(c.Input.Alg))
			if supported != (err == nil) {
				t.Fatalf("ParseJWKS(%s key): %v", c.Input.Alg, err)
			}
			if !supported {
				if !errors.Is(err, ErrKeySet) {
					t.Fatalf("ParseJWKS(%s key): %v, want ErrKeySet", c.Input.Alg, err)
				}
				ks, _ = NewKeySet()
			}
			v := newVectorVerifier(t, ks)

			if tok := c.Output.Compact; tok != "" {
				want := ErrAlgorithm
				if supported {
					want = ErrType // a JWS, not an at+jwt access token
					if _, hasKid := c.Signing.Protected["kid"]; hasKid {
						payload, err := v.jwsLayer(ctx, tok)
						if err != nil || string(payload) != c.Input.Payload {
							t.Errorf("jwsLayer: %q, %v; want the example's payload", payload, err)
						}
					}
					verifySignature(t, tok, ks.Keys()[0])
				}
				if _, err := v.Verify(ctx, tok); !errors.Is(err, want) {
					t.Errorf("Verify(compact): %v, want %v", err, want)
				}
			}
			for name, serialised := range map[string]json.RawMessage{"general": c.Output.JSON, "flattened": c.Output.JSONFlat} {
				if serialised == nil {
					continue
				}
				if _, err := v.Verify(ctx, string(serialised)); !errors.Is(err, ErrMalformed) {
					t.Errorf("Verify(%s JSON): %v, want ErrMalformed", name, err)
				}
			}
			if b64, ok := c.Signing.Protected["b64"]; ok && b64 == false {
				assertB64FalseRefused(t, c.Output.JSONFlat)
			}
		})
	}
	t.Run("rfc7520 section-4.8 - "+multiple.Title, func(t *testing.T) {
		empty, _ := NewKeySet()
		if _, err := newVectorVerifier(t, empty).Verify(ctx, string(multiple.Output.JSON)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(general JSON): %v, want ErrMalformed", err)
		}
	})
}

// assertB64FalseRefused rebuilds RFC 7797 4.1's flattened JWS in compact
// form and checks that jws.Parse refuses it: detached, as RFC 7797 5.2
// requires for a payload with a '.', and attached with a payload free of
// dots, which Parse must refuse for its b64 header parameter.
func assertB64FalseRefused(t *testing.T, flattened json.RawMessage) {
	t.Helper()
	var flat struct {
		Protected string `json:"protected"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(flattened, &flat); err != nil || flat.Protected == "" {
		t.Fatalf("flattened JWS: %v", err)
	}
	detached := flat.Protected + ".." + flat.Signature
	if _, err := jws.Parse(detached); err == nil {
		t.Error("jws.Parse accepted the detached b64:false JWS")
	}
	attached := flat.Protected + "." + strings.ReplaceAll(flat.Payload, ".", "") + "." + flat.Signature
	if _, err := jws.Parse(attached); err == nil || !strings.Contains(err.Error(), `"b64"`) {
		t.Errorf("jws.Parse(b64:false with an attached payload): %v, want the b64 parameter refused", err)
	}
}
