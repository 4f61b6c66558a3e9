package lambdatest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

// Issuer is a writ database with writ serve's handler on a loopback
// port: the issuer a function follows.
type Issuer struct {
	// URL is the server's base URL, and the iss of its tokens.
	URL string
	// DB issues and revokes tokens and rotates keys.
	DB *writ.DB
	// FeedToken, for an issuer with a private revocation feed, is a token
	// with scope writ:revocations that reads it.
	FeedToken string

	srv  *server.Server
	http *httptest.Server
}

// NewIssuer creates a writ database in dir and serves it on loopback,
// with a revocation feed that only a FeedToken reads if privateFeed is
// set (writ serve --private-feed).
func NewIssuer(ctx context.Context, dir string, privateFeed bool) (*Issuer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	db, _, err := writ.Init(ctx, writ.InitConfig{Config: writ.Config{Path: filepath.Join(dir, "writ.db"), Issuer: url}})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv, err := server.New(ctx, server.Config{Issuer: url, Ping: db.Ping, Ring: db.Keys, Tokens: db.Issuer,
		Revocations: db.Revocations, Refresh: 200 * time.Millisecond, PrivateFeed: privateFeed,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		ln.Close()
		db.Close()
		return nil, err
	}
	i := &Issuer{URL: url, DB: db, srv: srv}
	if privateFeed {
		tok, err := db.Issuer.Issue(ctx, issuer.Request{Subject: "lambda", Audience: []string{url}, Scopes: []string{server.FeedScope}})
		if err != nil {
			srv.Close()
			ln.Close()
			db.Close()
			return nil, err
		}
		i.FeedToken = tok.Token
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	i.http = ts
	return i, nil
}

// Stop makes the issuer unreachable: its port refuses connections.
func (i *Issuer) Stop() { i.http.Close() }

// Close stops the issuer and closes its database.
func (i *Issuer) Close() {
	i.http.Close()
	i.srv.Close()
	i.DB.Close()
}

// Embedded returns what a function embeds at build time, as README.md
// has it written, by file name: keys/jwks.json (writ jwks),
// keys/paserk.json (writ jwks --paserk) and keys/revocations.jws (the
// server's /v1/revocations), once the server's feed holds every
// revocation in the database.
func (i *Issuer) Embedded(ctx context.Context) (map[string][]byte, error) {
	jwks, err := i.DB.Keys.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	paserk, err := i.DB.Keys.PASERKSet(ctx)
	if err != nil {
		return nil, err
	}
	if err := i.waitFeed(ctx, jwks); err != nil {
		return nil, err
	}
	feed, err := i.get(ctx, "/v1/revocations")
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"keys/jwks.json": jwks, "keys/paserk.json": paserk, "keys/revocations.jws": feed}, nil
}

// waitFeed waits until the server's feed, which it rereads from the
// database every 200 ms, reaches the database's sequence number.
func (i *Issuer) waitFeed(ctx context.Context, jwks []byte) error {
	b, err := i.DB.Revocations.Changes(ctx, 0)
	if err != nil {
		return err
	}
	keys, err := verifier.ParseJWKS(jwks)
	if err != nil {
		return err
	}
	f, err := remote.NewFeed(remote.FeedConfig{URL: i.URL + "/v1/revocations", Issuer: i.URL, Keys: keys,
		Token: func(context.Context) (string, error) { return i.FeedToken, nil }})
	if err != nil {
		return err
	}
	for {
		got, err := f.Changes(ctx, 0)
		if err != nil {
			return err
		}
		if got.Seq >= b.Seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the feed is at %d, the database at %d: %w", got.Seq, b.Seq, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitPublished waits until the server publishes the key kid, which it
// does within 200 ms of its creation.
func (i *Issuer) WaitPublished(ctx context.Context, kid string) error {
	for {
		jwks, err := i.get(ctx, "/.well-known/jwks.json")
		if err != nil {
			return err
		}
		if strings.Contains(string(jwks), `"kid":"`+kid+`"`) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("key %q not published: %w", kid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (i *Issuer) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.URL+path, nil)
	if err != nil {
		return nil, err
	}
	if i.FeedToken != "" {
		req.Header.Set("Authorization", "Bearer "+i.FeedToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}
