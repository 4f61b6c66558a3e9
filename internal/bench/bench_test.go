// Package bench compares writ's verifier and issuer with the raw
// cryptographic floor on the same signing input and with the libraries a Go
// user would otherwise pick: golang-jwt/v5, lestrrat-go/jwx/v3 and
// aidanwoods.dev/go-paseto. Every library verifies the same token string
// under the same key and checks the same claims. scripts/bench.sh runs it
// and summarises it with benchstat; BENCHMARKS.md holds the results.
package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	paseto "aidanwoods.dev/go-paseto"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	xjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/interleave"
	wjws "github.com/writ-dev/writ/internal/jws"
	"github.com/writ-dev/writ/internal/p256"
	wpaseto "github.com/writ-dev/writ/internal/paseto"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

const (
	iss         = "https://writ.example"
	aud         = "https://api.example"
	sub         = "user-42"
	scope       = "read:items write:items"
	clientID    = "ci-deploy"
	revokedJTIs = 10_000 // jtis in the revocation snapshot
)

var ctx = context.Background()

// algs are the sub-benchmark names: the JWS algorithm, or PASETO.
var algs = []string{string(verifier.EdDSA), string(verifier.ES256), string(verifier.RS256), "PASETO"}

// writAlg is the algorithm of the sub-benchmark alg.
func writAlg(alg string) verifier.Algorithm {
	if alg == "PASETO" {
		return verifier.V4Public
	}
	return verifier.Algorithm(alg)
}

// fixture is one key, a token writ issued with it, and what each library
// needs to verify that token.
type fixture struct {
	alg    string
	key    *keys.Key
	pub    crypto.PublicKey // key.Public(), which allocates, taken once
	issuer *issuer.Issuer
	token  string

	// The token split for the floor: signing input (or PAE) and signature.
	input []byte
	sig   []byte
	derES []byte // ES256: the signature in ASN.1, as crypto/ecdsa takes it

	// prepared is the public key as writ's verifier holds it, for the
	// signature check alone (impl=writ-signature): an Ed25519 or P-256 key
	// decoded once, with its table (eddsa, p256), RSA keys as they are.
	prepared crypto.PublicKey

	writ      *verifier.Verifier // with revocation checking on
	writNoRev *verifier.Verifier // without, to show what revocation costs
	writCache *verifier.Verifier // with revocation and a token cache
}

// staticFeed is a revocation feed that serves one batch.
type staticFeed struct{ b *revoked.Batch }

func (f staticFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	if since >= f.b.Seq {
		return &revoked.Batch{Seq: f.b.Seq}, nil
	}
	return f.b, nil
}

func newSnapshot(tb testing.TB) *revoked.Snapshot {
	tb.Helper()
	b := &revoked.Batch{Seq: 1}
	exp := time.Now().Add(time.Hour).Unix()
	for range revokedJTIs {
		var id revoked.TokenID
		rand.Read(id[:])
		b.Tokens = append(b.Tokens, revoked.RevokedToken{ID: id, EffectiveAt: 0, ExpiresAt: exp})
	}
	s, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: staticFeed{b}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newFixture(tb testing.TB, alg string) *fixture {
	tb.Helper()
	k, err := keys.Generate(writAlg(alg))
	if err != nil {
		tb.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "writ.db"), true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(tb.TempDir(), "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ring.Add(ctx, k, keys.Active); err != nil {
		tb.Fatal(err)
	}
	// issuer is writ's as deployed: keys from the ring, records in SQLite.
	is, err := issuer.New(issuer.Config{Issuer: iss, Keys: ring, Store: db})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{alg: alg, key: k, pub: k.Public(), issuer: is}
	f.token = f.issue(tb)

	vk, err := verifier.NewKey(k.ID(), writAlg(alg), k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := verifier.Config{Issuer: iss, Audience: aud, Algorithms: []verifier.Algorithm{writAlg(alg)}, Keys: ks}
	if f.writNoRev, err = verifier.New(cfg); err != nil {
		tb.Fatal(err)
	}
	cfg.Revocation = newSnapshot(tb)
	if f.writ, err = verifier.New(cfg); err != nil {
		tb.Fatal(err)
	}
	cfg.CacheSize = 1024
	if f.writCache, err = verifier.New(cfg); err != nil {
		tb.Fatal(err)
	}

	if alg == "PASETO" {
		rest := strings.TrimPrefix(f.token, wpaseto.Header)
		body, footer, _ := strings.Cut(rest, ".")
		bb, _ := b64.Decode(body)
		fb, _ := b64.Decode(footer)
		msg, sig := bb[:len(bb)-ed25519.SignatureSize], bb[len(bb)-ed25519.SignatureSize:]
		f.input = wpaseto.PAE(nil, []byte(wpaseto.Header), msg, fb, nil)
		f.sig = sig
	} else {
		i := strings.LastIndexByte(f.token, '.')
		f.input = []byte(f.token[:i])
		f.sig, err = b64.Decode(f.token[i+1:])
		if err != nil {
			tb.Fatal(err)
		}
	}
	if alg == string(verifier.ES256) {
		r, s := new(big.Int).SetBytes(f.sig[:32]), new(big.Int).SetBytes(f.sig[32:])
		f.derES, err = asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if !f.floorVerify() {
		tb.Fatal("floor: signature does not verify")
	}
	switch pub := f.pub.(type) {
	case ed25519.PublicKey:
		f.prepared, err = eddsa.NewPublicKey(pub)
	case *ecdsa.PublicKey:
		f.prepared, err = p256.NewPublicKeyECDSA(pub)
	default:
		f.prepared = f.pub
	}
	if err != nil {
		tb.Fatal(err)
	}
	// The verifiers share one key, whose table (Ed25519 or P-256) is built
	// at its eddsa.TableAfter-th or p256.TableAfter-th verification, as is
	// that of the prepared key: here, rather than in a benchmark.
	for range max(eddsa.TableAfter, p256.TableAfter) {
		if !f.signatureVerify() {
			tb.Fatal("writ-signature: signature does not verify")
		}
		if _, err := f.writ.Verify(ctx, f.token); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

func (f *fixture) request() issuer.Request {
	r := issuer.Request{Subject: sub, Audience: []string{aud}, Scopes: strings.Fields(scope), Name: clientID, Format: keys.JWT}
	if f.alg == "PASETO" {
		r.Format = keys.PASETO
	}
	return r
}

func (f *fixture) issue(tb testing.TB) string {
	t, err := f.issuer.Issue(ctx, f.request())
	if err != nil {
		tb.Fatal(err)
	}
	return t.Token
}

// sign is writ's signing path without the database: what issuer.Issue does
// between reading the active key and recording the token. It makes a fresh
// jti, builds the claims from req, encodes them and signs them with
// internal/accesstoken, as Issue does.
func (f *fixture) sign(req issuer.Request) (string, error) {
	now := time.Now().Truncate(time.Second)
	c := &accesstoken.Claims{
		Issuer: iss, Subject: req.Subject, Audience: req.Audience,
		Scope: strings.Join(req.Scopes, " "), ClientID: req.Name, ID: newJTI(),
		IssuedAt: now, ExpiresAt: now.Add(issuer.DefaultTTL),
	}
	if req.Format == keys.PASETO {
		return accesstoken.SignPASETO(f.key.Signer().(ed25519.PrivateKey), f.key.ID(), c), nil
	}
	var buf [1024]byte
	return accesstoken.SignJWT(f.key.Algorithm(), f.key.ID(), accesstoken.Typ, f.key.Signer(), accesstoken.AppendJWTClaims(buf[:0], c))
}

// floorVerify is the cost no verifier can avoid: the signature check on the
// signing input, with the hash the algorithm needs.
func (f *fixture) floorVerify() bool {
	switch verifier.Algorithm(f.alg) {
	case verifier.EdDSA, "PASETO":
		return ed25519.Verify(f.pub.(ed25519.PublicKey), f.input, f.sig)
	case verifier.ES256:
		h := sha256.Sum256(f.input)
		return ecdsa.VerifyASN1(f.pub.(*ecdsa.PublicKey), h[:], f.derES)
	case verifier.RS256:
		h := sha256.Sum256(f.input)
		return rsa.VerifyPKCS1v15(f.pub.(*rsa.PublicKey), crypto.SHA256, h[:], f.sig) == nil
	}
	panic("unknown alg " + f.alg)
}

// signatureVerify is writ's own signature check on the floor's input, with
// the key as the verifier holds it: jws.Verify, or for PASETO the prepared
// Ed25519 key's Verify of the PAE (what paseto.Verify runs after building
// it).
func (f *fixture) signatureVerify() bool {
	if f.alg == "PASETO" {
		return f.prepared.(*eddsa.PublicKey).Verify(f.input, f.sig)
	}
	return wjws.Verify(verifier.Algorithm(f.alg), f.prepared, f.token[:len(f.input)], f.sig)
}

// floorSign is raw signing of the same input.
func (f *fixture) floorSign() ([]byte, error) {
	switch verifier.Algorithm(f.alg) {
	case verifier.EdDSA, "PASETO":
		return ed25519.Sign(f.key.Signer().(ed25519.PrivateKey), f.input), nil
	case verifier.ES256:
		h := sha256.Sum256(f.input)
		return ecdsa.SignASN1(rand.Reader, f.key.Signer().(*ecdsa.PrivateKey), h[:])
	case verifier.RS256:
		h := sha256.Sum256(f.input)
		return rsa.SignPKCS1v15(nil, f.key.Signer().(*rsa.PrivateKey), crypto.SHA256, h[:])
	}
	panic("unknown alg " + f.alg)
}

// gjwtClaims are the token's claims for golang-jwt.
type gjwtClaims struct {
	gjwt.RegisteredClaims
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id"`
}

func gjwtMethod(alg string) gjwt.SigningMethod { return gjwt.GetSigningMethod(alg) }

func jwxAlg(alg string) jwa.SignatureAlgorithm {
	switch verifier.Algorithm(alg) {
	case verifier.EdDSA:
		return jwa.EdDSA()
	case verifier.ES256:
		return jwa.ES256()
	case verifier.RS256:
		return jwa.RS256()
	}
	panic("unknown alg " + alg)
}

func jwxKey(tb testing.TB, raw any, kid, alg string) jwk.Key {
	k, err := jwk.Import(raw)
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		tb.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwxAlg(alg)); err != nil {
		tb.Fatal(err)
	}
	return k
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range algs {
		b.Run("alg="+alg, func(b *testing.B) {
			f := newFixture(b, alg)

			b.Run("impl=floor", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !f.floorVerify() {
						b.Fatal("floor: invalid")
					}
				}
			})

			// The signature check alone, as writ's verifier makes it,
			// beside the floor: for Ed25519 and P-256, the key decoded once
			// and its table (internal/eddsa, internal/p256) against
			// ed25519.Verify and ecdsa.VerifyASN1.
			b.Run("impl=writ-signature", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !f.signatureVerify() {
						b.Fatal("writ-signature: invalid")
					}
				}
			})

			b.Run("impl=writ", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.writ.Verify(ctx, f.token); err != nil {
						b.Fatal(err)
					}
				}
			})

			b.Run("impl=writ-norevocation", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.writNoRev.Verify(ctx, f.token); err != nil {
						b.Fatal(err)
					}
				}
			})

			if alg == "PASETO" {
				pub, err := paseto.NewV4AsymmetricPublicKeyFromEd25519(f.key.Public().(ed25519.PublicKey))
				if err != nil {
					b.Fatal(err)
				}
				p := paseto.NewParser() // checks exp, nbf and iat
				p.AddRule(paseto.IssuedBy(iss), paseto.ForAudience(aud))
				b.Run("impl=go-paseto", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := p.ParseV4Public(pub, f.token, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
				return
			}

			p := gjwt.NewParser(
				gjwt.WithValidMethods([]string{alg}), gjwt.WithIssuer(iss), gjwt.WithAudience(aud),
				gjwt.WithExpirationRequired(), gjwt.WithIssuedAt(), gjwt.WithLeeway(verifier.DefaultLeeway),
			)
			pub := f.key.Public()
			keyFunc := func(t *gjwt.Token) (any, error) {
				if t.Header["kid"] != f.key.ID() {
					return nil, verifier.ErrUnknownKey
				}
				return pub, nil
			}
			b.Run("impl=golang-jwt", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.ParseWithClaims(f.token, &gjwtClaims{}, keyFunc); err != nil {
						b.Fatal(err)
					}
				}
			})

			set := jwk.NewSet()
			if err := set.AddKey(jwxKey(b, pub, f.key.ID(), alg)); err != nil {
				b.Fatal(err)
			}
			tok := []byte(f.token)
			b.Run("impl=jwx", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, err := xjwt.Parse(tok, xjwt.WithKeySet(set), xjwt.WithValidate(true),
						xjwt.WithIssuer(iss), xjwt.WithAudience(aud), xjwt.WithAcceptableSkew(verifier.DefaultLeeway))
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkVerifyInterleaved runs floor, writ-signature and writ (as in
// BenchmarkVerify) in turn in one loop, each going first in turn, and
// reports each one's ns per verification and its ratio to the floor: on a
// machine whose load changes from second to second, only ratios measured
// in the same loop compare like with like. (It reports no impl=, so
// scripts/chart.go leaves it out of the chart.)
func BenchmarkVerifyInterleaved(b *testing.B) {
	for _, alg := range algs {
		b.Run("alg="+alg, func(b *testing.B) {
			f := newFixture(b, alg)
			interleave.Verifications(b,
				interleave.Impl{Name: "floor", Verify: f.floorVerify},
				interleave.Impl{Name: "writ-signature", Verify: f.signatureVerify},
				interleave.Impl{Name: "writ", Verify: func() bool { _, err := f.writ.Verify(ctx, f.token); return err == nil }},
			)
		})
	}
}

// BenchmarkVerifyCached is Verify of a token seen before, with the token
// cache on: the key lookup, the times and revocation are still checked.
func BenchmarkVerifyCached(b *testing.B) {
	for _, alg := range algs {
		b.Run("alg="+alg, func(b *testing.B) {
			f := newFixture(b, alg)
			if _, err := f.writCache.Verify(ctx, f.token); err != nil {
				b.Fatal(err)
			}
			b.Run("impl=writ-cache", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.writCache.Verify(ctx, f.token); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func newJTI() string {
	var id [16]byte
	rand.Read(id[:])
	return b64.Encode(id[:])
}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range algs {
		b.Run("alg="+alg, func(b *testing.B) {
			f := newFixture(b, alg)

			b.Run("impl=floor", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.floorSign(); err != nil {
						b.Fatal(err)
					}
				}
			})

			// writ's whole Issue: normalise the request, sign, and commit
			// the record to SQLite (durably) before returning. Names are
			// unique among a subject's live tokens: each gets its own, of
			// the length of clientID.
			named := 0 // the names given so far, on this fixture's database
			b.Run("impl=writ-issue-db", func(b *testing.B) {
				b.ReportAllocs()
				req := f.request()
				for b.Loop() {
					named++
					req.Name = "ci-" + strconv.Itoa(1000000 + named)[1:]
					if _, err := f.issuer.Issue(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})

			// writ's signing path without the database (fixture.sign): a
			// fresh jti, the claims encoded and signed with
			// internal/accesstoken as Issue does. Against impl=floor, it
			// shows what the encoding costs on top of the signature.
			b.Run("impl=writ-sign", func(b *testing.B) {
				b.ReportAllocs()
				req := f.request()
				for b.Loop() {
					if _, err := f.sign(req); err != nil {
						b.Fatal(err)
					}
				}
			})

			if alg == "PASETO" {
				sk, err := paseto.NewV4AsymmetricSecretKeyFromEd25519(f.key.Signer().(ed25519.PrivateKey))
				if err != nil {
					b.Fatal(err)
				}
				footer := []byte(`{"kid":"` + f.key.ID() + `"}`)
				b.Run("impl=go-paseto", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						now := time.Now().Truncate(time.Second)
						t := paseto.NewToken()
						t.SetIssuer(iss)
						t.SetSubject(sub)
						t.SetAudience(aud)
						t.SetExpiration(now.Add(time.Hour))
						t.SetIssuedAt(now)
						t.SetNotBefore(now)
						t.SetJti(newJTI())
						t.SetString("scope", scope)
						t.SetString("client_id", clientID)
						t.SetFooter(footer)
						_ = t.V4Sign(sk, nil)
					}
				})
				return
			}

			method := gjwtMethod(alg)
			priv := f.key.Signer()
			b.Run("impl=golang-jwt", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					now := time.Now().Truncate(time.Second)
					t := gjwt.NewWithClaims(method, gjwtClaims{
						RegisteredClaims: gjwt.RegisteredClaims{
							Issuer: iss, Subject: sub, Audience: gjwt.ClaimStrings{aud},
							ExpiresAt: gjwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: gjwt.NewNumericDate(now),
							NotBefore: gjwt.NewNumericDate(now), ID: newJTI(),
						},
						Scope: scope, ClientID: clientID,
					})
					t.Header["kid"] = f.key.ID()
					t.Header["typ"] = "at+jwt"
					if _, err := t.SignedString(priv); err != nil {
						b.Fatal(err)
					}
				}
			})

			jk := jwxKey(b, priv, f.key.ID(), alg)
			hdr := jws.NewHeaders()
			if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
				b.Fatal(err)
			}
			b.Run("impl=jwx", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					now := time.Now().Truncate(time.Second)
					t, err := xjwt.NewBuilder().Issuer(iss).Subject(sub).Audience([]string{aud}).
						Expiration(now.Add(time.Hour)).IssuedAt(now).NotBefore(now).JwtID(newJTI()).
						Claim("scope", scope).Claim("client_id", clientID).Build()
					if err != nil {
						b.Fatal(err)
					}
					if _, err := xjwt.Sign(t, xjwt.WithKey(jwxAlg(alg), jk, jws.WithProtectedHeaders(hdr))); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestLibrariesAgree checks that writ's verifier accepts the benchmark
// tokens, and that the writ-sign path makes the token Issue makes (the same
// header or footer, the same claims but for jti and times), so that the
// benchmarks measure successful, equivalent work.
func TestLibrariesAgree(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			signed, err := f.sign(f.request())
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.writ.Verify(ctx, f.token)
			if err != nil {
				t.Fatal(err)
			}
			if want.Subject != sub || want.Scope != scope || want.ClientID != clientID {
				t.Errorf("issued claims %+v", want)
			}
			got, err := f.writ.Verify(ctx, signed)
			if err != nil {
				t.Fatalf("writ-sign token: %v", err)
			}
			if got.Issuer != want.Issuer || got.Subject != want.Subject || !slices.Equal(got.Audience, want.Audience) ||
				got.Scope != want.Scope || got.ClientID != want.ClientID || got.KeyID != want.KeyID ||
				got.ExpiresAt.Sub(got.IssuedAt) != want.ExpiresAt.Sub(want.IssuedAt) || got.ID == want.ID {
				t.Errorf("writ-sign claims %+v, issued %+v", got, want)
			}
			// JWS: the same encoded header. PASETO: the same footer.
			head := func(tok string) string { return tok[:strings.IndexByte(tok, '.')+1] }
			if alg == "PASETO" {
				head = func(tok string) string { return tok[strings.LastIndexByte(tok, '.'):] }
			}
			if head(signed) != head(f.token) {
				t.Errorf("writ-sign token %q, issued %q", signed, f.token)
			}
		})
	}
}
