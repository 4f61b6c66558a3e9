// Command lambda is an AWS Lambda function behind API Gateway (HTTP API,
// payload format 2.0) that verifies the bearer token of each request with
// writ's offline verifier: from keys and a revocation snapshot embedded
// at build time (a writ publish tree), so that a cold start does no
// network I/O, kept fresh from the issuer when it can be reached, and
// failing closed once its revocation data is older than a stated bound. README.md says how to
// build, configure and deploy it.
//
// It answers 200 with the token's verified claims, 401 with an RFC 6750
// WWW-Authenticate challenge for a missing or invalid token, 403 for a
// token that lacks a required scope, and 503 when its revocation data is
// too stale to trust; every answer says how old its keys and revocation
// data are (Writ-Keys-Age, Writ-Revocations-Age).
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// The issuer's key sets and revocation state, as writ publish writes them
// at build time (see README.md): the files of its tree that the function
// reads, under keys/. The copies in the repository are test-only.
//
//go:embed keys/.well-known/jwks.json keys/.well-known/paserk.json
//go:embed keys/v1/revocations/manifest keys/v1/revocations/snapshots keys/v1/revocations/deltas
var embedded embed.FS

func main() {
	cfg, err := configFromEnv(os.Getenv)
	if err == nil {
		cfg.Published, err = fs.Sub(embedded, "keys")
	}
	var f *Function
	if err == nil {
		f, err = NewFunction(context.Background(), cfg)
	}
	if err != nil {
		initError(err)
	}
	log.Printf("writ: verifying tokens of %s for %s; %s", cfg.Issuer, cfg.Audience, f.State())
	lambda.Start(f.Handle)
}

// configFromEnv reads the function's configuration (README.md lists the
// variables). getenv is os.Getenv.
func configFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Issuer:    getenv("WRIT_ISSUER"),
		Audience:  getenv("WRIT_AUDIENCE"),
		Realm:     getenv("WRIT_REALM"),
		FeedToken: getenv("WRIT_FEED_TOKEN"),
		Scopes:    strings.Fields(getenv("WRIT_REQUIRE_SCOPE")),
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{
		{"WRIT_MAX_STALENESS", &cfg.MaxStaleness},
		{"WRIT_REFRESH", &cfg.Refresh},
		{"WRIT_REFRESH_TIMEOUT", &cfg.RefreshTimeout},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return cfg, fmt.Errorf("%s=%q: want a positive duration such as 5m", d.name, v)
		}
		*d.to = t
	}
	return cfg, nil
}

// initError reports err to the Lambda Runtime API as an initialisation
// error (POST /runtime/init/error, which aws-lambda-go does not offer),
// so that the invocation fails with its reason, and exits.
func initError(err error) {
	log.Printf("writ: error: %v", err)
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		body, _ := json.Marshal(map[string]string{"errorType": "Writ.ConfigError", "errorMessage": err.Error()})
		req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
		if rerr == nil {
			req.Header.Set("Lambda-Runtime-Function-Error-Type", "Writ.ConfigError")
			if resp, rerr := http.DefaultClient.Do(req); rerr == nil {
				resp.Body.Close()
			}
		}
	}
	os.Exit(1)
}
