// Command golangjwt is the Lambda function of examples/lambda written
// with golang-jwt/v5 instead of writ's verifier, for comparing cold starts
// (examples/lambda/coldstart measures both): the same API Gateway HTTP
// API events, environment (WRIT_ISSUER, WRIT_AUDIENCE,
// WRIT_REQUIRE_SCOPE) and answers (200 with the claims, 401 with an
// RFC 6750 challenge, 403), from the EdDSA keys of a JWKS embedded at
// build time (jwks.json, here a test-only copy of
// ../keys/.well-known/jwks.json).
//
// What it lacks, and writ's function has: revocation (a revoked token is
// accepted until it expires, and a compromised key until the next build),
// any refresh of keys (a key made after the build is unknown), PASETO,
// network-bound tokens (allowed_ips is ignored), a staleness bound, and
// the checks of writ's token profile that golang-jwt does not make (typ
// at+jwt, a jti, exact claim names without duplicates, strict base64url,
// the size limit).
package main

import (
	"context"
	"crypto/ed25519"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/golang-jwt/jwt/v5"
)

//go:embed jwks.json
var jwksJSON []byte

func main() {
	keys, err := parseJWKS(jwksJSON)
	if err != nil {
		log.Fatalf("golangjwt: jwks.json: %v", err)
	}
	issuer, audience := os.Getenv("WRIT_ISSUER"), os.Getenv("WRIT_AUDIENCE")
	if issuer == "" || audience == "" {
		log.Fatal("golangjwt: WRIT_ISSUER and WRIT_AUDIENCE are required")
	}
	scopes := strings.Fields(os.Getenv("WRIT_REQUIRE_SCOPE"))
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	lambda.Start(func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		scheme, token, _ := strings.Cut(e.Headers["authorization"], " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return refuse(401, `Bearer`), nil
		}
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(token, claims, keyfunc); err != nil {
			return refuse(401, `Bearer error="invalid_token"`), nil
		}
		granted, _ := claims["scope"].(string)
		for _, s := range scopes {
			if !slices.Contains(strings.Fields(granted), s) {
				return refuse(403, `Bearer error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`), nil
			}
		}
		body, err := json.Marshal(claims)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
	})
}

func refuse(status int, challenge string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"WWW-Authenticate": challenge, "Cache-Control": "no-store"}}
}

// parseJWKS returns the Ed25519 keys of a JWKS by kid; it ignores others.
func parseJWKS(data []byte) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X string }
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Kty != "OKP" || k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, errors.New("no Ed25519 key")
	}
	return keys, nil
}
