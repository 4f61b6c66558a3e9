package verifier_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// TestVerifyIssuedTokens verifies tokens that writ's issuer signed with
// keys from writ's keyring, through the key sets as writ publishes them.
func TestVerifyIssuedTokens(t *testing.T) {
	for _, alg := range []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			env := newWritEnv(t, alg)
			v := newVerifier(t, env.keySet(t), nil)
			for _, format := range []keys.Format{keys.JWT, keys.PASETO} {
				// Names are unique among a subject's live tokens.
				name := "ci-deploy-" + string(format)
				req := issuer.Request{Subject: "alice", Scopes: []string{"read:all", "write"}, Format: format, Name: name, TTL: 2 * time.Hour}
				tok := env.issue(t, req)
				c, err := v.Verify(context.Background(), tok.Token)
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				wantAlg := alg
				if format == keys.PASETO {
					wantAlg = verifier.V4Public
				}
				if c.Issuer != testIssuer || c.Subject != "alice" || fmt.Sprint(c.Audience) != "[api]" || c.ID != tok.ID ||
					c.Scope != "read:all write" || c.ClientID != name || c.KeyID != tok.KeyID || c.Algorithm != wantAlg ||
					!c.ExpiresAt.Equal(testNow.Add(2*time.Hour)) || !c.IssuedAt.Equal(testNow) || !c.NotBefore.Equal(testNow) {
					t.Errorf("%s: claims %+v", format, c)
				}
			}
		})
	}
}

// verifyCase is a token and the sentinel that verifying it must yield (nil:
// accepted), with optional changes to the verifier's Config.
type verifyCase struct {
	name  string
	token string
	cfg   func(*verifier.Config)
	want  error
}

// TestVerify runs the token profile of DESIGN.md against hand-made tokens:
// every check, and hostile input around each.
func TestVerify(t *testing.T) {
	var cases []verifyCase
	for _, group := range [][]verifyCase{validCases(), timeCases(), claimCases(), headerCases(), encodingCases(), pasetoCases()} {
		cases = append(cases, group...)
	}
	fx := testKeys()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, fx.keys, tc.cfg)
			c, err := v.Verify(context.Background(), tc.token)
			checkSentinel(t, err, tc.want)
			if err != nil {
				if c != nil {
					t.Errorf("Verify returned claims with error %v", err)
				}
				checkMessage(t, err, tc.token)
				return
			}
			if c == nil || c.Issuer != testIssuer || !c.ExpiresAt.After(testNow.Add(-verifier.DefaultLeeway)) || c.ID == "" || c.Subject == "" {
				t.Errorf("claims %+v", c)
			}
		})
		// With a token cache, the verdict is the same the first time and
		// the second, when the cache answers.
		t.Run(tc.name+"/cached", func(t *testing.T) {
			v := newVerifier(t, fx.keys, func(c *verifier.Config) {
				c.CacheSize = 16
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			var first string
			for i := range 2 {
				c, err := v.Verify(context.Background(), tc.token)
				checkSentinel(t, err, tc.want)
				if err != nil {
					continue
				}
				got := fmt.Sprintf("%+v", *c)
				if i == 0 {
					first = got
					c.Audience[0], c.Subject = "changed", "changed" // the caller's copy
				} else if got != first {
					t.Errorf("cached claims %s, first %s", got, first)
				}
			}
		})
	}
}

func validCases() []verifyCase {
	fx := testKeys()
	return []verifyCase{
		{name: "EdDSA", token: fx.ed.jwt(nil, nil)},
		{name: "ES256", token: fx.es.jwt(nil, nil)},
		{name: "RS256", token: fx.rs.jwt(nil, nil)},
		{name: "PS256", token: fx.ps.jwt(nil, nil)},
		{name: "PASETO v4.public", token: fx.pk.paseto(nil)},
		{name: "typ application/at+jwt", token: fx.ed.jwt(set("typ", "application/at+jwt"), nil)},
		{name: "typ Application/AT+JWT", token: fx.ed.jwt(set("typ", "Application/AT+JWT"), nil)},
		{name: "typ AT+JWT", token: fx.ed.jwt(set("typ", "AT+JWT"), nil)},
		{name: "aud array", token: fx.ed.jwt(nil, set("aud", []string{"other", testAudience}))},
		{name: "aud array of three", token: fx.ed.jwt(nil, set("aud", []string{"a", "b", testAudience}))},
		{name: "no nbf", token: fx.ed.jwt(nil, del("nbf"))},
		{name: "no scope or client_id", token: fx.ed.jwt(nil, del("scope", "client_id"))},
		{name: "fractional dates", token: fx.ed.jwt(nil, both(set("exp", 1772370000.5), set("iat", 1772366000.25)))},
		{name: "dates in exponent notation", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, del("exp")), `{`, `{"exp":1.77237e9,`, 1))},
		{name: "exp of 12 digits, the last second of 9999", token: fx.ed.jwt(nil, set("exp", 253402300799))},
		{name: "unknown claims ignored", token: fx.ed.jwt(nil, set("cnf", map[string]any{"jkt": "x", "n": []any{1, nil, true}}))},
		{name: "unknown header parameter ignored", token: fx.ed.jwt(set("cty", "x"), nil)},
		{name: "ALG does not override alg", token: fx.ed.jwt(set("ALG", "none"), nil)},
		{name: "KID does not override kid", token: fx.ed.jwt(set("KID", "nope"), nil)},
		{name: "escaped claim names", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, nil), `"sub"`, `"\u0073ub"`, 1))},
		{name: "whitespace in JSON", token: fx.ed.signJWT(" {\n"+fx.ed.header(nil)[1:], strings.ReplaceAll(claimsJSON(false, nil), ",", " ,\t"))},
		{name: "kid of 128 bytes", token: fx.ed.jwt(set("kid", strings.Repeat("k", 128)), nil), cfg: func(c *verifier.Config) {
			k, _ := verifier.NewKey(strings.Repeat("k", 128), verifier.EdDSA, fx.ed.priv.Public())
			c.Keys, _ = verifier.NewKeySet(k)
		}},
	}
}

func timeCases() []verifyCase {
	fx := testKeys()
	hourAgo := set("iat", testNow.Add(-time.Hour))
	expAt := func(d time.Duration) func(map[string]any) {
		return both(hourAgo, set("nbf", testNow.Add(-time.Hour)), set("exp", testNow.Add(d)))
	}
	leeway := func(d time.Duration) func(*verifier.Config) { return func(c *verifier.Config) { c.Leeway = d } }
	return []verifyCase{
		{name: "exp 29s ago: within the leeway", token: fx.ed.jwt(nil, expAt(-29*time.Second))},
		{name: "exp 30s ago: the leeway's end", token: fx.ed.jwt(nil, expAt(-30*time.Second)), want: verifier.ErrExpired},
		{name: "exp 31s ago", token: fx.ed.jwt(nil, expAt(-31*time.Second)), want: verifier.ErrExpired},
		{name: "exp long ago", token: fx.ed.jwt(nil, expAt(-365*24*time.Hour)), want: verifier.ErrExpired},
		{name: "exp 0", token: fx.ed.jwt(nil, both(set("exp", 0), set("iat", 0), del("nbf"))), want: verifier.ErrExpired},
		{name: "exp 4s ago, leeway 5s", token: fx.ed.jwt(nil, expAt(-4*time.Second)), cfg: leeway(5 * time.Second)},
		{name: "exp 6s ago, leeway 5s", token: fx.ed.jwt(nil, expAt(-6*time.Second)), cfg: leeway(5 * time.Second), want: verifier.ErrExpired},
		{name: "PASETO exp 29s ago", token: fx.pk.paseto(expAt(-29 * time.Second))},
		{name: "PASETO exp 31s ago", token: fx.pk.paseto(expAt(-31 * time.Second)), want: verifier.ErrExpired},
		{name: "nbf in 29s", token: fx.ed.jwt(nil, set("nbf", testNow.Add(29*time.Second)))},
		{name: "nbf in 31s", token: fx.ed.jwt(nil, set("nbf", testNow.Add(31*time.Second))), want: verifier.ErrNotYetValid},
		{name: "iat in 29s", token: fx.ed.jwt(nil, both(set("iat", testNow.Add(29*time.Second)), del("nbf")))},
		{name: "iat in 31s", token: fx.ed.jwt(nil, both(set("iat", testNow.Add(31*time.Second)), del("nbf"))), want: verifier.ErrNotYetValid},
		{name: "iat in a year", token: fx.ed.jwt(nil, both(set("iat", testNow.Add(365*24*time.Hour)), set("exp", testNow.Add(366*24*time.Hour)))), want: verifier.ErrNotYetValid},
		{name: "iat in 31s, nbf now", token: fx.ed.jwt(nil, both(set("iat", testNow.Add(31*time.Second)), set("nbf", testNow))), want: verifier.ErrNotYetValid},
		{name: "nbf in 6s, leeway 5s", token: fx.ed.jwt(nil, set("nbf", testNow.Add(6*time.Second))), cfg: leeway(5 * time.Second), want: verifier.ErrNotYetValid},
		{name: "PASETO nbf in 31s", token: fx.pk.paseto(set("nbf", testNow.Add(31*time.Second))), want: verifier.ErrNotYetValid},
		{name: "PASETO iat in 31s", token: fx.pk.paseto(both(set("iat", testNow.Add(31*time.Second)), del("nbf"))), want: verifier.ErrNotYetValid},
	}
}

func claimCases() []verifyCase {
	fx := testKeys()
	var cases []verifyCase
	for _, name := range []string{"exp", "jti", "sub", "iat", "iss", "aud"} {
		cases = append(cases,
			verifyCase{name: "no " + name, token: fx.ed.jwt(nil, del(name)), want: verifier.ErrMalformed},
			verifyCase{name: "PASETO no " + name, token: fx.pk.paseto(del(name)), want: verifier.ErrMalformed},
			verifyCase{name: "upper-case " + name, token: fx.ed.jwt(nil, func(c map[string]any) {
				c[strings.ToUpper(name)] = c[name]
				delete(c, name)
			}), want: verifier.ErrMalformed},
			verifyCase{name: name + " twice", token: fx.ed.signJWT(fx.ed.header(nil), appendMember(claimsJSON(false, nil), fmt.Sprintf("%q:%s", name, mustJSON(map[string]any{
				"exp": testNow.Add(2 * time.Hour).Unix(), "iat": testNow.Unix(), "jti": "other", "sub": "mallory", "iss": testIssuer, "aud": testAudience,
			}[name])))), want: verifier.ErrMalformed},
		)
	}
	for _, name := range []string{"iss", "sub", "jti", "scope", "client_id"} {
		cases = append(cases,
			verifyCase{name: name + " a number", token: fx.ed.jwt(nil, set(name, 1)), want: verifier.ErrMalformed},
			verifyCase{name: name + " null", token: fx.ed.jwt(nil, set(name, nil)), want: verifier.ErrMalformed},
		)
	}
	for _, name := range []string{"iss", "sub", "jti"} {
		cases = append(cases, verifyCase{name: name + " empty", token: fx.ed.jwt(nil, set(name, "")), want: verifier.ErrMalformed})
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		for _, bad := range []any{"1772370000", "soon", -1, 1e300, true, nil, []int{1772370000}, map[string]any{}} {
			cases = append(cases, verifyCase{name: fmt.Sprintf("%s %v (%T)", name, bad, bad), token: fx.ed.jwt(nil, set(name, bad)), want: verifier.ErrMalformed})
		}
	}
	cases = append(cases, []verifyCase{
		{name: "exp after year 9999", token: fx.ed.jwt(nil, set("exp", 253402300800)), want: verifier.ErrMalformed},
		{name: "exp of 13 digits", token: fx.ed.jwt(nil, set("exp", 1772370000000)), want: verifier.ErrMalformed},
		{name: "exp after year 9999, as a float", token: fx.ed.jwt(nil, set("exp", 253402300800.5)), want: verifier.ErrMalformed},
		{name: "exp 1e400 (beyond float64)", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, nil), `"exp":`, `"exp":1e400,"x":`, 1)), want: verifier.ErrMalformed},
		{name: "wrong iss", token: fx.ed.jwt(nil, set("iss", "https://evil.test")), want: verifier.ErrIssuer},
		{name: "iss differs in case", token: fx.ed.jwt(nil, set("iss", "https://ISSUER.test")), want: verifier.ErrIssuer},
		{name: "iss with a trailing slash", token: fx.ed.jwt(nil, set("iss", testIssuer+"/")), want: verifier.ErrIssuer},
		{name: "wrong aud", token: fx.ed.jwt(nil, set("aud", "other")), want: verifier.ErrAudience},
		{name: "aud differs in case", token: fx.ed.jwt(nil, set("aud", "API")), want: verifier.ErrAudience},
		{name: "aud array without ours", token: fx.ed.jwt(nil, set("aud", []string{"a", "b", "c"})), want: verifier.ErrAudience},
		{name: "aud as one space-separated string", token: fx.ed.jwt(nil, set("aud", "other api")), want: verifier.ErrAudience},
		{name: "aud empty array", token: fx.ed.jwt(nil, set("aud", []string{})), want: verifier.ErrMalformed},
		{name: "aud empty string", token: fx.ed.jwt(nil, set("aud", "")), want: verifier.ErrMalformed},
		{name: "aud array with a number", token: fx.ed.jwt(nil, set("aud", []any{testAudience, 1})), want: verifier.ErrMalformed},
		{name: "aud array with an empty string", token: fx.ed.jwt(nil, set("aud", []any{testAudience, ""})), want: verifier.ErrMalformed},
		{name: "aud object", token: fx.ed.jwt(nil, set("aud", map[string]any{"aud": testAudience})), want: verifier.ErrMalformed},
		{name: "aud nested array", token: fx.ed.jwt(nil, set("aud", []any{[]any{testAudience}})), want: verifier.ErrMalformed},
		{name: "EXP besides a valid exp is not exp", token: fx.ed.jwt(nil, set("EXP", testNow.Add(-24*time.Hour)))},
		{name: "EXP in the future besides an old exp", token: fx.ed.jwt(nil, both(set("exp", testNow.Add(-time.Hour)), set("iat", testNow.Add(-2*time.Hour)), set("EXP", testNow.Add(time.Hour)))), want: verifier.ErrExpired},
		{name: "Aud besides aud", token: fx.ed.jwt(nil, both(set("aud", "other"), set("Aud", testAudience))), want: verifier.ErrAudience},
		{name: "Iss besides iss", token: fx.ed.jwt(nil, both(set("iss", "https://evil.test"), set("Iss", testIssuer))), want: verifier.ErrIssuer},
		{name: "exp and escaped exp", token: fx.ed.signJWT(fx.ed.header(nil), appendMember(claimsJSON(false, nil), `"\u0065xp":9999999999`)), want: verifier.ErrMalformed},
		{name: "aud and escaped aud", token: fx.ed.signJWT(fx.ed.header(nil), appendMember(claimsJSON(false, set("aud", "other")), `"\u0061ud":"api"`)), want: verifier.ErrMalformed},
		{name: "unknown claim twice", token: fx.ed.signJWT(fx.ed.header(nil), appendMember(appendMember(claimsJSON(false, nil), `"x":1`), `"x":2`)), want: verifier.ErrMalformed},
		{name: "claims an array", token: fx.ed.signJWT(fx.ed.header(nil), `[`+claimsJSON(false, nil)+`]`), want: verifier.ErrMalformed},
		{name: "claims a string", token: fx.ed.signJWT(fx.ed.header(nil), `"claims"`), want: verifier.ErrMalformed},
		{name: "claims empty", token: fx.ed.signJWT(fx.ed.header(nil), ``), want: verifier.ErrMalformed},
		{name: "claims with trailing data", token: fx.ed.signJWT(fx.ed.header(nil), claimsJSON(false, nil)+`{}`), want: verifier.ErrMalformed},
		{name: "claims with a trailing comma", token: fx.ed.signJWT(fx.ed.header(nil), appendMember(claimsJSON(false, nil), `"x":1,`)), want: verifier.ErrMalformed},
		{name: "claims with invalid UTF-8", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, nil), "alice", "al\xffice", 1)), want: verifier.ErrMalformed},
		{name: "claims with a control character", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, nil), "alice", "al\x01ice", 1)), want: verifier.ErrMalformed},
		{name: "claims nested too deep", token: fx.ed.jwt(nil, set("x", deepArray(40))), want: verifier.ErrMalformed},
		{name: "claims with a lone surrogate", token: fx.ed.signJWT(fx.ed.header(nil), strings.Replace(claimsJSON(false, nil), "alice", `al\udc00ice`, 1)), want: verifier.ErrMalformed},
	}...)
	return cases
}

func deepArray(n int) any {
	var v any = 1
	for range n {
		v = []any{v}
	}
	return v
}

func headerCases() []verifyCase {
	fx := testKeys()
	hs256 := func(secret []byte) string {
		input := b64.Encode([]byte(`{"alg":"HS256","kid":"ed-1","typ":"at+jwt"}`)) + "." + b64.Encode([]byte(claimsJSON(false, nil)))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + b64.Encode(m.Sum(nil))
	}
	unsigned := func(alg, sig string) string {
		return b64.Encode([]byte(`{"alg":"`+alg+`","kid":"ed-1","typ":"at+jwt"}`)) + "." + b64.Encode([]byte(claimsJSON(false, nil))) + "." + sig
	}
	// crossSigned is a token whose header names alg and the kid of key, signed
	// with key's private half under alg.
	crossSigned := func(key signingKey, alg verifier.Algorithm) string {
		k := key
		k.alg = alg
		return k.signJWT(k.header(nil), claimsJSON(false, nil))
	}
	only := func(algs ...verifier.Algorithm) func(*verifier.Config) {
		return func(c *verifier.Config) { c.Algorithms = algs }
	}
	cases := []verifyCase{
		{name: "typ missing", token: fx.ed.jwt(del("typ"), nil), want: verifier.ErrType},
		{name: "typ JWT", token: fx.ed.jwt(set("typ", "JWT"), nil), want: verifier.ErrType},
		{name: "typ application/jwt", token: fx.ed.jwt(set("typ", "application/jwt"), nil), want: verifier.ErrType},
		{name: "typ empty", token: fx.ed.jwt(set("typ", ""), nil), want: verifier.ErrType},
		{name: "typ with parameters", token: fx.ed.jwt(set("typ", "at+jwt; charset=utf-8"), nil), want: verifier.ErrType},
		{name: "typ with a space", token: fx.ed.jwt(set("typ", "at+jwt "), nil), want: verifier.ErrType},
		{name: "typ of a signed document", token: fx.ed.jwt(set("typ", "writ-revocations+jwt"), nil), want: verifier.ErrType},
		{name: "typ a number", token: fx.ed.jwt(set("typ", 1), nil), want: verifier.ErrMalformed},
		{name: "typ twice", token: fx.ed.signJWT(appendMember(fx.ed.header(nil), `"typ":"JWT"`), claimsJSON(false, nil)), want: verifier.ErrMalformed},
		{name: "alg none with a signature", token: fx.ed.jwt(set("alg", "none"), nil), want: verifier.ErrAlgorithm},
		// The classic unsigned form: its empty third part is refused by the
		// compact split, before the header is read.
		{name: "alg none without signature", token: unsigned("none", ""), want: verifier.ErrMalformed},
		{name: "alg None", token: fx.ed.jwt(set("alg", "None"), nil), want: verifier.ErrAlgorithm},
		{name: "alg HS256 keyed with the public key", token: hs256(fx.ed.priv.Public().(ed25519.PublicKey)), want: verifier.ErrAlgorithm},
		{name: "alg eddsa (case)", token: fx.ed.jwt(set("alg", "eddsa"), nil), want: verifier.ErrAlgorithm},
		{name: "alg RS512", token: fx.ed.jwt(set("alg", "RS512"), nil), want: verifier.ErrAlgorithm},
		{name: "alg ES384", token: fx.ed.jwt(set("alg", "ES384"), nil), want: verifier.ErrAlgorithm},
		{name: "alg Ed25519", token: fx.ed.jwt(set("alg", "Ed25519"), nil), want: verifier.ErrAlgorithm},
		{name: "alg v4.public in a JWT", token: fx.ed.jwt(set("alg", "v4.public"), nil), want: verifier.ErrAlgorithm},
		{name: "alg missing", token: fx.ed.jwt(del("alg"), nil), want: verifier.ErrMalformed},
		{name: "alg a number", token: fx.ed.jwt(set("alg", 1), nil), want: verifier.ErrMalformed},
		{name: "alg twice", token: fx.ed.signJWT(appendMember(fx.ed.header(nil), `"alg":"none"`), claimsJSON(false, nil)), want: verifier.ErrMalformed},
		{name: "alg and escaped alg", token: fx.ed.signJWT(appendMember(fx.ed.header(nil), `"\u0061lg":"none"`), claimsJSON(false, nil)), want: verifier.ErrMalformed},
		{name: "ES256 not accepted", token: fx.es.jwt(nil, nil), cfg: only(verifier.EdDSA), want: verifier.ErrAlgorithm},
		{name: "EdDSA not accepted", token: fx.ed.jwt(nil, nil), cfg: only(verifier.ES256, verifier.V4Public), want: verifier.ErrAlgorithm},
		{name: "RS256 not accepted", token: fx.rs.jwt(nil, nil), cfg: only(verifier.PS256), want: verifier.ErrAlgorithm},
		{name: "RS256 token, PS256 key", token: crossSigned(fx.ps, verifier.RS256), want: verifier.ErrAlgorithm},
		{name: "PS256 token, RS256 key", token: crossSigned(fx.rs, verifier.PS256), want: verifier.ErrAlgorithm},
		{name: "EdDSA token, kid of an ES256 key", token: fx.ed.jwt(set("kid", fx.es.kid), nil), want: verifier.ErrAlgorithm},
		{name: "ES256 token, kid of an EdDSA key", token: fx.es.jwt(set("kid", fx.ed.kid), nil), want: verifier.ErrAlgorithm},
		{name: "EdDSA token, kid of the PASETO key", token: fx.pk.signJWT(`{"alg":"EdDSA","kid":"`+fx.pk.kid+`","typ":"at+jwt"}`, claimsJSON(false, nil)), want: verifier.ErrAlgorithm},
		{name: "unknown kid", token: fx.ed.jwt(set("kid", "nope"), nil), want: verifier.ErrUnknownKey},
		{name: "kid of 128 bytes, unknown", token: fx.ed.jwt(set("kid", strings.Repeat("k", 128)), nil), want: verifier.ErrUnknownKey},
		{name: "kid of 129 bytes", token: fx.ed.jwt(set("kid", strings.Repeat("k", 129)), nil), want: verifier.ErrMalformed},
		{name: "kid missing", token: fx.ed.jwt(del("kid"), nil), want: verifier.ErrMalformed},
		{name: "kid empty", token: fx.ed.jwt(set("kid", ""), nil), want: verifier.ErrMalformed},
		{name: "kid a number", token: fx.ed.jwt(set("kid", 1), nil), want: verifier.ErrMalformed},
		{name: "kid with a newline", token: fx.ed.jwt(set("kid", "ed-1\nInjected: yes"), nil), want: verifier.ErrUnknownKey},
		{name: "header an array", token: fx.ed.signJWT(`["EdDSA"]`, claimsJSON(false, nil)), want: verifier.ErrMalformed},
		{name: "header not JSON", token: fx.ed.signJWT(`alg=EdDSA`, claimsJSON(false, nil)), want: verifier.ErrMalformed},
		{name: "header larger than 1 KiB encoded", token: fx.ed.jwt(set("x", strings.Repeat("x", 800)), nil), want: verifier.ErrMalformed},
		{name: "signature of another key", token: fx.other.jwt(nil, nil), want: verifier.ErrSignature},
		{name: "signature over other claims", token: spliceClaims(fx.ed.jwt(nil, nil), claimsJSON(false, set("sub", "admin"))), want: verifier.ErrSignature},
		{name: "signature, one bit flipped", token: flipSignatureBit(fx.ed.jwt(nil, nil)), want: verifier.ErrSignature},
		{name: "ES256 signature, one bit flipped", token: flipSignatureBit(fx.es.jwt(nil, nil)), want: verifier.ErrSignature},
		{name: "RS256 signature, one bit flipped", token: flipSignatureBit(fx.rs.jwt(nil, nil)), want: verifier.ErrSignature},
		{name: "PS256 signature, one bit flipped", token: flipSignatureBit(fx.ps.jwt(nil, nil)), want: verifier.ErrSignature},
		{name: "ES256 signature as DER", token: fx.es.jwt(nil, nil)[:strings.LastIndexByte(fx.es.jwt(nil, nil), '.')+1] + b64.Encode(make([]byte, 70)), want: verifier.ErrSignature},
		{name: "signature empty-ish", token: fx.ed.jwt(nil, nil)[:strings.LastIndexByte(fx.ed.jwt(nil, nil), '.')+1] + "AA", want: verifier.ErrSignature},
	}
	for _, param := range []string{"crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "b64", "enc", "zip"} {
		value := map[string]any{
			"crit": []string{"exp"}, "jku": "https://evil.test/jwks", "jwk": map[string]any{"kty": "OKP"},
			"x5c": []string{"MIIB"}, "b64": false,
		}[param]
		if value == nil {
			value = "x"
		}
		cases = append(cases, verifyCase{name: "header " + param, token: fx.ed.jwt(set(param, value), nil), want: verifier.ErrMalformed})
	}
	return cases
}

// spliceClaims replaces the payload of a compact JWS, keeping its signature.
func spliceClaims(token, claims string) string {
	parts := strings.Split(token, ".")
	parts[1] = b64.Encode([]byte(claims))
	return strings.Join(parts, ".")
}

// flipSignatureBit flips one bit in the middle of a compact JWS's signature.
func flipSignatureBit(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.Decode(token[i+1:])
	if err != nil {
		panic(err)
	}
	sig[len(sig)/2] ^= 0x10
	return token[:i+1] + b64.Encode(sig)
}

func encodingCases() []verifyCase {
	fx := testKeys()
	tok := fx.ed.jwt(nil, nil)
	parts := strings.Split(tok, ".")
	h, p, s := parts[0], parts[1], parts[2]
	// Header and payload whose encodings have unused bits, each signed as
	// it is: only strict decoding can reject them.
	hb := b64.Encode([]byte(padTo(fx.ed.header(nil), 1)))
	pb := b64.Encode([]byte(padTo(claimsJSON(false, nil), 2)))
	// An Ed25519 signature encodes in 86 characters: 4 unused bits.
	if len(s)%4 == 0 || len(hb)%4 == 0 || len(pb)%4 == 0 {
		panic("encodingCases: no trailing bits to set")
	}
	// sized returns a valid token of n bytes, its length set by a "pad"
	// claim (and a header parameter when the payload alone cannot reach n).
	sized := func(n int) string {
		for _, hmod := range []func(map[string]any){nil, set("x", "")} {
			hdr := fx.ed.header(hmod)
			fixed := len(b64.Encode([]byte(hdr))) + 1 + 1 + len(s)
			base := len(claimsJSON(false, set("pad", "")))
			for pad := 0; fixed+(4*(base+pad)+2)/3 <= n; pad++ {
				if fixed+(4*(base+pad)+2)/3 == n {
					return fx.ed.signJWT(hdr, claimsJSON(false, set("pad", strings.Repeat("p", pad))))
				}
			}
		}
		panic("sized: no token of that size")
	}
	// Tokens whose signature and payload encodings use '-' or '_', to be
	// rewritten in the standard alphabet's '+' and '/'.
	std := strings.NewReplacer("-", "+", "_", "/")
	stdSig := urlSafeVariant(2, func(i int) string { return fx.ed.jwt(nil, set("n", i)) })
	stdPayload := urlSafeVariant(1, func(i int) string { return fx.ed.jwt(nil, set("n", strings.Repeat("~", i))) })
	sp := strings.Split(stdPayload, ".")
	return []verifyCase{
		{name: "signature in the standard alphabet", token: stdSig[:strings.LastIndexByte(stdSig, '.')+1] + std.Replace(stdSig[strings.LastIndexByte(stdSig, '.')+1:]), want: verifier.ErrMalformed},
		{name: "payload in the standard alphabet, signed", token: fx.ed.signEncoded(sp[0], std.Replace(sp[1])), want: verifier.ErrMalformed},
		{name: "empty", token: "", want: verifier.ErrMalformed},
		{name: "one part", token: h, want: verifier.ErrMalformed},
		{name: "two parts", token: h + "." + p, want: verifier.ErrMalformed},
		{name: "two parts, trailing dot", token: h + "." + p + ".", want: verifier.ErrMalformed},
		{name: "four parts", token: tok + "." + s, want: verifier.ErrMalformed},
		{name: "five parts (JWE)", token: h + ".AAAA.AAAA." + p + "." + s, want: verifier.ErrMalformed},
		{name: "dots only", token: "..", want: verifier.ErrMalformed},
		{name: "empty header", token: "." + p + "." + s, want: verifier.ErrMalformed},
		{name: "empty payload, signed", token: fx.ed.signEncoded(h, ""), want: verifier.ErrMalformed},
		{name: "leading dot", token: "." + tok, want: verifier.ErrMalformed},
		{name: "trailing dot", token: tok + ".", want: verifier.ErrMalformed},
		{name: "padded signature", token: tok + "==", want: verifier.ErrMalformed},
		{name: "padded header, signed", token: fx.ed.signEncoded(hb+"=", pb), want: verifier.ErrMalformed},
		{name: "padded payload, signed", token: fx.ed.signEncoded(hb, pb+"="), want: verifier.ErrMalformed},
		{name: "unpadded header and payload with unused bits: control", token: fx.ed.signEncoded(hb, pb)},
		{name: "signature with trailing bits set", token: h + "." + p + "." + withTrailingBits(s), want: verifier.ErrMalformed},
		{name: "header with trailing bits set, signed", token: fx.ed.signEncoded(withTrailingBits(hb), pb), want: verifier.ErrMalformed},
		{name: "payload with trailing bits set, signed", token: fx.ed.signEncoded(hb, withTrailingBits(pb)), want: verifier.ErrMalformed},
		{name: "newline in payload, signed", token: fx.ed.signEncoded(h, p[:10]+"\n"+p[10:]), want: verifier.ErrMalformed},
		{name: "CRLF in payload, signed", token: fx.ed.signEncoded(h, p[:10]+"\r\n"+p[10:]), want: verifier.ErrMalformed},
		{name: "CRLF in header, signed", token: fx.ed.signEncoded(h[:8]+"\r\n"+h[8:], p), want: verifier.ErrMalformed},
		{name: "space in payload, signed", token: fx.ed.signEncoded(h, p[:10]+" "+p[10:]), want: verifier.ErrMalformed},
		{name: "newline in signature", token: h + "." + p + "." + s[:20] + "\n" + s[20:], want: verifier.ErrMalformed},
		{name: "CRLF after the token", token: tok + "\r\n", want: verifier.ErrMalformed},
		{name: "space before the token", token: " " + tok, want: verifier.ErrMalformed},
		{name: "Bearer prefix", token: "Bearer " + tok, want: verifier.ErrMalformed},
		{name: "header of 4n+1 characters", token: h + "A." + p + "." + s, want: verifier.ErrMalformed},
		{name: "NUL in token", token: tok[:5] + "\x00" + tok[5:], want: verifier.ErrMalformed},
		{name: "exactly MaxTokenSize bytes", token: sized(verifier.MaxTokenSize)},
		{name: "MaxTokenSize+1 bytes, validly signed", token: sized(verifier.MaxTokenSize + 1), want: verifier.ErrTooLarge},
		{name: "MaxTokenSize+1 bytes of garbage", token: strings.Repeat("!", verifier.MaxTokenSize+1), want: verifier.ErrTooLarge},
		{name: "1 MiB", token: strings.Repeat("e", 1<<20), want: verifier.ErrTooLarge},
		{name: "MaxTokenSize+1 bytes, PASETO", token: "v4.public." + strings.Repeat("A", verifier.MaxTokenSize-9), want: verifier.ErrTooLarge},
	}
}

// urlSafeVariant returns the first of token(0), token(1), … whose part
// (0 header, 1 payload, 2 signature) holds '-' or '_'.
func urlSafeVariant(part int, token func(i int) string) string {
	for i := range 1000 {
		if t := token(i); strings.ContainsAny(strings.Split(t, ".")[part], "-_") {
			return t
		}
	}
	panic("urlSafeVariant: none found")
}

func pasetoCases() []verifyCase {
	fx := testKeys()
	tok := fx.pk.paseto(nil)
	body, footer, _ := strings.Cut(strings.TrimPrefix(tok, "v4.public."), ".")
	footerOf := func(f string) string { return fx.pk.signPASETO(claimsJSON(true, nil), f) }
	tampered := func() string {
		raw, _ := b64.Decode(body)
		raw[3] ^= 1
		return "v4.public." + b64.Encode(raw) + "." + footer
	}()
	// A body whose encoding has unused bits: message and 64-byte signature
	// not a multiple of 3 bytes.
	msg := claimsJSON(true, nil)
	for (len(msg)+64)%3 == 0 {
		msg = strings.TrimSuffix(msg, "}") + " }"
	}
	oddBody, oddFooter, _ := strings.Cut(strings.TrimPrefix(fx.pk.signPASETO(msg, `{"kid":"`+fx.pk.kid+`"}`), "v4.public."), ".")
	return []verifyCase{
		{name: "PASETO valid, footer with other members", token: footerOf(`{"wpk":"x","kid":"` + fx.pk.kid + `"}`)},
		{name: "PASETO v4.local", token: "v4.local." + body + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO v3.public", token: "v3.public." + body + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO v2.public", token: "v2.public." + body + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO V4.public", token: "V4.public." + body + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO v4.public without body", token: "v4.public.", want: verifier.ErrMalformed},
		{name: "PASETO body shorter than a signature", token: "v4.public." + b64.Encode(make([]byte, 63)) + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO no footer", token: fx.pk.signPASETO(claimsJSON(true, nil), ""), want: verifier.ErrMalformed},
		{name: "PASETO footer cut off", token: "v4.public." + body, want: verifier.ErrMalformed},
		{name: "PASETO empty footer part", token: "v4.public." + body + ".", want: verifier.ErrMalformed},
		{name: "PASETO extra part", token: tok + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO footer without kid", token: footerOf(`{"pid":"` + fx.pk.kid + `"}`), want: verifier.ErrMalformed},
		{name: "PASETO footer KID", token: footerOf(`{"KID":"` + fx.pk.kid + `"}`), want: verifier.ErrMalformed},
		{name: "PASETO footer kid a number", token: footerOf(`{"kid":1}`), want: verifier.ErrMalformed},
		{name: "PASETO footer kid twice", token: footerOf(`{"kid":"` + fx.pk.kid + `","kid":"` + fx.pk.kid + `"}`), want: verifier.ErrMalformed},
		{name: "PASETO footer not JSON", token: footerOf(fx.pk.kid), want: verifier.ErrMalformed},
		{name: "PASETO footer kid of 129 bytes", token: footerOf(`{"kid":"` + strings.Repeat("k", 129) + `"}`), want: verifier.ErrMalformed},
		{name: "PASETO footer with a padded encoding", token: tok + "=", want: verifier.ErrMalformed},
		{name: "PASETO body with trailing bits set", token: "v4.public." + withTrailingBits(oddBody) + "." + oddFooter, want: verifier.ErrMalformed},
		{name: "PASETO body with trailing bits: control", token: "v4.public." + oddBody + "." + oddFooter},
		{name: "PASETO newline in body", token: "v4.public." + body[:10] + "\n" + body[10:] + "." + footer, want: verifier.ErrMalformed},
		{name: "PASETO tampered message", token: tampered, want: verifier.ErrSignature},
		{name: "PASETO signed by another key", token: signingKey{fx.pk.kid, verifier.V4Public, fx.other.priv}.paseto(nil), want: verifier.ErrSignature},
		{name: "PASETO footer swapped", token: "v4.public." + body + "." + b64.Encode([]byte(`{"kid":"`+fx.pk.kid+`" }`)), want: verifier.ErrSignature},
		{name: "PASETO unknown kid", token: signingKey{"k4.pid.unknown", verifier.V4Public, fx.pk.priv}.paseto(nil), want: verifier.ErrUnknownKey},
		{name: "PASETO with a JWT key's kid", token: signingKey{fx.ed.kid, verifier.V4Public, fx.ed.priv}.paseto(nil), want: verifier.ErrAlgorithm},
		{name: "PASETO with an ES256 key's kid", token: signingKey{fx.es.kid, verifier.V4Public, fx.pk.priv}.paseto(nil), want: verifier.ErrAlgorithm},
		{name: "PASETO not accepted", token: tok, cfg: func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{verifier.EdDSA} }, want: verifier.ErrAlgorithm},
		{name: "PASETO exp a number", token: fx.pk.paseto(set("exp", testNow.Add(time.Hour).Unix())), want: verifier.ErrMalformed},
		{name: "PASETO exp without time zone", token: fx.pk.paseto(set("exp", "2026-03-01T13:00:00")), want: verifier.ErrMalformed},
		{name: "PASETO exp a date only", token: fx.pk.paseto(set("exp", "2026-03-02")), want: verifier.ErrMalformed},
		{name: "PASETO exp in another zone", token: fx.pk.paseto(set("exp", "2026-03-01T14:00:00+01:00"))},
		{name: "PASETO wrong aud", token: fx.pk.paseto(set("aud", "other")), want: verifier.ErrAudience},
		{name: "PASETO wrong iss", token: fx.pk.paseto(set("iss", "other")), want: verifier.ErrIssuer},
		{name: "PASETO duplicate claim", token: fx.pk.signPASETO(appendMember(claimsJSON(true, nil), `"sub":"mallory"`), `{"kid":"`+fx.pk.kid+`"}`), want: verifier.ErrMalformed},
		{name: "PASETO claims not JSON", token: fx.pk.signPASETO("claims", `{"kid":"`+fx.pk.kid+`"}`), want: verifier.ErrMalformed},
	}
}

func TestNew(t *testing.T) {
	fx := fixedKeys()
	for _, tc := range []struct {
		name string
		mod  func(*verifier.Config)
		ok   bool
	}{
		{"complete", nil, true},
		{"no Issuer", func(c *verifier.Config) { c.Issuer = "" }, false},
		{"no Audience", func(c *verifier.Config) { c.Audience = "" }, false},
		{"UnsafeAnyAudience without Audience", func(c *verifier.Config) { c.Audience, c.UnsafeAnyAudience = "", true }, true},
		{"UnsafeAnyAudience with Audience", func(c *verifier.Config) { c.UnsafeAnyAudience = true }, false},
		{"no Algorithms", func(c *verifier.Config) { c.Algorithms = nil }, false},
		{"empty Algorithms", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{} }, false},
		{"algorithm none", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{"none"} }, false},
		{"algorithm HS256", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{verifier.EdDSA, "HS256"} }, false},
		{"algorithm in lower case", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{"eddsa"} }, false},
		{"algorithm v4.local", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{"v4.local"} }, false},
		{"algorithm empty", func(c *verifier.Config) { c.Algorithms = []verifier.Algorithm{""} }, false},
		{"each algorithm", func(c *verifier.Config) { c.Algorithms = allAlgorithms }, true},
		{"no Keys", func(c *verifier.Config) { c.Keys = nil }, false},
		{"negative Leeway", func(c *verifier.Config) { c.Leeway = -time.Second }, false},
		{"Leeway 5m", func(c *verifier.Config) { c.Leeway = 5 * time.Minute }, true},
		{"Leeway above 5m", func(c *verifier.Config) { c.Leeway = 5*time.Minute + 1 }, false},
		{"no Now", func(c *verifier.Config) { c.Now = nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := verifier.Config{Issuer: testIssuer, Audience: testAudience, Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: fx.keys, Now: testClock}
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			v, err := verifier.New(cfg)
			if tc.ok != (err == nil) || (v == nil) == (err == nil) {
				t.Fatalf("New = %v, %v; want ok = %v", v, err, tc.ok)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("message spans lines: %q", err)
			}
		})
	}
}

func TestUnsafeAnyAudience(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Audience, c.UnsafeAnyAudience = "", true })
	for _, aud := range []any{"other", []string{"a", "b"}} {
		if _, err := v.Verify(context.Background(), fx.ed.jwt(nil, set("aud", aud))); err != nil {
			t.Errorf("aud %v: %v", aud, err)
		}
	}
	// The audience is still required.
	_, err := v.Verify(context.Background(), fx.ed.jwt(nil, del("aud")))
	checkSentinel(t, err, verifier.ErrMalformed)
}

// TestTooLargeBeforeDecoding checks that an oversized token is refused
// before anything reads it: no key lookup, no revocation check.
func TestTooLargeBeforeDecoding(t *testing.T) {
	fx := fixedKeys()
	ks := &countingKeys{KeySource: fx.keys}
	rc := &fakeChecker{}
	v := newVerifier(t, ks, func(c *verifier.Config) { c.Revocation = rc })
	huge := fx.ed.jwt(nil, set("pad", strings.Repeat("p", verifier.MaxTokenSize)))
	_, err := v.Verify(context.Background(), huge)
	checkSentinel(t, err, verifier.ErrTooLarge)
	if n := ks.lookups.Load(); n != 0 {
		t.Errorf("%d key lookups for an oversized token", n)
	}
	if n := rc.calls.Load(); n != 0 {
		t.Errorf("%d revocation checks for an oversized token", n)
	}
	if msg := err.Error(); len(msg) > 100 {
		t.Errorf("message of %d bytes: %q", len(msg), msg)
	}
}

func TestRevocationChecker(t *testing.T) {
	fx := fixedKeys()
	errStale := errors.New("revocation data 2h old, limit 1h")
	valid := fx.ed.jwt(nil, nil)
	for _, tc := range []struct {
		name      string
		token     string
		checker   error
		want      error // nil: accepted
		wantCalls int32
	}{
		{"not revoked", valid, nil, nil, 1},
		{"revoked", valid, fmt.Errorf("%w: jti %q", verifier.ErrRevoked, testJTI), verifier.ErrRevoked, 1},
		{"stale", valid, errStale, errStale, 1},
		{"PASETO revoked", fx.pk.paseto(nil), fmt.Errorf("%w: by subject", verifier.ErrRevoked), verifier.ErrRevoked, 1},
		{"bad signature: not consulted", fx.other.jwt(nil, nil), errStale, verifier.ErrSignature, 0},
		{"expired: not consulted", fx.ed.jwt(nil, set("exp", testNow.Add(-time.Hour))), errStale, verifier.ErrExpired, 0},
		{"wrong audience: not consulted", fx.ed.jwt(nil, set("aud", "other")), errStale, verifier.ErrAudience, 0},
		{"malformed: not consulted", "x.y.z", errStale, verifier.ErrMalformed, 0},
		{"unknown key: not consulted", fx.ed.jwt(set("kid", "nope"), nil), errStale, verifier.ErrUnknownKey, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &fakeChecker{err: tc.checker}
			v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Revocation = rc })
			c, err := v.Verify(context.Background(), tc.token)
			switch {
			case tc.want == nil && (err != nil || c == nil):
				t.Fatalf("Verify = %v, %v; want claims", c, err)
			case tc.want != nil && (!errors.Is(err, tc.want) || c != nil):
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
			if tc.want == errStale && len(matchedSentinels(err)) != 0 {
				t.Errorf("a checker failure %v is reported as a token error", err)
			}
			if got := rc.calls.Load(); got != tc.wantCalls {
				t.Errorf("checker called %d times, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestClaimsScopes(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	verify := func(scope any) *verifier.Claims {
		t.Helper()
		mod := set("scope", scope)
		if scope == nil {
			mod = del("scope")
		}
		c, err := v.Verify(context.Background(), fx.ed.jwt(nil, mod))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := verify("read:all write  admin:x")
	for s, want := range map[string]bool{
		"read:all": true, "write": true, "admin:x": true,
		"read": false, "read:": false, "read:all ": false, "READ:ALL": false, "admin": false, "writ": false, "": false, " ": false,
		"read:all write": false,
	} {
		if got := c.HasScope(s); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", s, got, want)
		}
	}
	if got := fmt.Sprint(c.Scopes()); got != "[read:all write admin:x]" {
		t.Errorf("Scopes() = %s", got)
	}
	if err := c.RequireScopes("write", "read:all"); err != nil {
		t.Errorf("RequireScopes(write, read:all) = %v", err)
	}
	if err := c.RequireScopes(); err != nil {
		t.Errorf("RequireScopes() = %v", err)
	}
	err := c.RequireScopes("write", "read")
	checkSentinel(t, err, verifier.ErrScope)
	if !strings.Contains(err.Error(), `"read"`) {
		t.Errorf("RequireScopes error %q does not name the missing scope", err)
	}
	none := verify(nil)
	if none.HasScope("read") || len(none.Scopes()) != 0 || !errors.Is(none.RequireScopes("read"), verifier.ErrScope) {
		t.Errorf("a token without scope has scopes %q", none.Scopes())
	}
}

func TestClaimsPermissions(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	c, err := v.Verify(context.Background(), fx.ed.jwt(nil, set("scope", "read orders/*:write repos/acme/**:read billing:export writ:admin")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		resource, action string
		want             bool
	}{
		{"orders/42", "write", true},
		{"orders/42", "read", true},         // write implies read
		{"orders/42", "admin", false},       // but not admin
		{"orders/42/items", "read", false},  // * is one segment
		{"orders", "read", false},           // and exactly one
		{"repos/acme", "read", true},        // ** takes zero segments
		{"repos/acme/api/v2", "read", true}, // or more
		{"repos/acme/api", "write", false},  // read does not imply write
		{"repos/other", "read", false},
		{"billing", "export", true}, // other actions match exactly
		{"billing", "read", false},
		{"read", "read", false},              // flat scopes allow nothing
		{"orders/*", "read", false},          // a request has no wildcards
		{"orders/../secrets", "read", false}, // nor dot segments
		{"orders/42", "Write", false},        // nor an invalid action
		{"", "read", false},
	} {
		if got := c.Allows(tc.resource, tc.action); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.resource, tc.action, got, tc.want)
		}
		err := c.RequirePermission(tc.resource, tc.action)
		if tc.want {
			if err != nil {
				t.Errorf("RequirePermission(%q, %q) = %v", tc.resource, tc.action, err)
			}
			continue
		}
		checkSentinel(t, err, verifier.ErrPermission)
		if want := strconv.Quote(tc.resource + ":" + tc.action); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("RequirePermission(%q, %q) = %v, want it to name %s", tc.resource, tc.action, err, want)
		}
	}
}

func TestClaimsRawJSON(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	claims := claimsJSON(false, set("tenant", "acme"))
	c, err := v.Verify(context.Background(), fx.ed.signJWT(fx.ed.header(nil), claims))
	if err != nil {
		t.Fatal(err)
	}
	raw := c.RawJSON()
	if string(raw) != claims {
		t.Fatalf("RawJSON = %s, want %s", raw, claims)
	}
	raw[0] = 'X' // the caller's copy
	if string(c.RawJSON()) != claims {
		t.Error("RawJSON shares memory with the claims")
	}
}

func TestClaimsContext(t *testing.T) {
	ctx := context.Background()
	if c, ok := verifier.ClaimsFromContext(ctx); ok || c != nil {
		t.Fatalf("ClaimsFromContext(empty) = %v, %v", c, ok)
	}
	want := &verifier.Claims{Subject: "alice"}
	if c, ok := verifier.ClaimsFromContext(verifier.WithClaims(ctx, want)); !ok || c != want {
		t.Fatalf("ClaimsFromContext = %v, %v", c, ok)
	}
}

// TestVerifyConcurrent verifies tokens of each format from many goroutines
// (run with -race) and checks that no result leaks into another.
func TestVerifyConcurrent(t *testing.T) {
	fx := testKeys()
	v := newVerifier(t, fx.keys, nil)
	type job struct {
		token string
		sub   string
		bad   bool
	}
	var jobs []job
	for i, k := range []signingKey{fx.ed, fx.es, fx.rs, fx.ps} {
		sub := fmt.Sprintf("user-%d", i)
		jobs = append(jobs, job{k.jwt(nil, set("sub", sub)), sub, false}, job{flipSignatureBit(k.jwt(nil, nil)), "", true})
	}
	jobs = append(jobs, job{fx.pk.paseto(set("sub", "paseto-user")), "paseto-user", false})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				j := jobs[(g+i)%len(jobs)]
				c, err := v.Verify(context.Background(), j.token)
				if j.bad != (err != nil) || !j.bad && c.Subject != j.sub {
					t.Errorf("Verify(%s…) = %v, %v", j.token[:20], c, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestClaimsOutliveVerify checks that claims stay intact while the
// verifier goes on verifying other tokens.
func TestClaimsOutliveVerify(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	first, err := v.Verify(context.Background(), fx.ed.jwt(nil, both(set("sub", "first"), set("aud", []string{"x", testAudience}))))
	if err != nil {
		t.Fatal(err)
	}
	snapshot := fmt.Sprintf("%+v", *first)
	for i := range 100 {
		if _, err := v.Verify(context.Background(), fx.ed.jwt(nil, both(set("sub", fmt.Sprint("other-", i)), set("aud", []string{"y", testAudience})))); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprintf("%+v", *first); got != snapshot {
		t.Fatalf("claims changed:\n%s\nwas\n%s", got, snapshot)
	}
}
