package lambdatest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
)

// Issuer is a writ database whose key sets and revocation state a
// function follows from a loopback port: served by writ serve's handler
// (NewIssuer), or a writ publish tree served by a static file server
// (NewStaticIssuer).
type Issuer struct {
	// URL is the server's base URL, and the iss of its tokens.
	URL string
	// DB issues and revokes tokens and rotates keys.
	DB *writ.DB
	// FeedToken, for an issuer with a private revocation feed, is a token
	// with scope writ:revocations that reads it.
	FeedToken string

	srv  *server.Server // nil for a static host
	dir  string         // the tree that a static host serves, or a scratch directory
	http *httptest.Server
}

// NewIssuer creates a writ database in dir and serves it on loopback
// with writ serve's handler, with a revocation feed that only a FeedToken
// reads if privateFeed is set (writ serve --private-feed).
func NewIssuer(ctx context.Context, dir string, privateFeed bool) (*Issuer, error) {
	i, ln, err := newIssuer(ctx, dir)
	if err != nil {
		return nil, err
	}
	i.srv, err = server.New(ctx, server.Config{Issuer: i.URL, Ping: i.DB.Ping, Ring: i.DB.Keys, Tokens: i.DB.Issuer,
		Revocations: i.DB.Revocations, Refresh: 200 * time.Millisecond, PrivateFeed: privateFeed,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		ln.Close()
		i.DB.Close()
		return nil, err
	}
	if privateFeed {
		tok, err := i.DB.Issuer.Issue(ctx, issuer.Request{Subject: "lambda", Audience: []string{i.URL}, Scopes: []string{server.FeedScope}})
		if err != nil {
			i.srv.Close()
			ln.Close()
			i.DB.Close()
			return nil, err
		}
		i.FeedToken = tok.Token
	}
	i.serve(ln, i.srv.Handler())
	return i, nil
}

// NewStaticIssuer creates a writ database in dir, publishes it into a
// directory (writ publish) and serves that with a static file server on
// loopback, as a static host or CDN serves a writ publish tree; Publish
// publishes it again.
func NewStaticIssuer(ctx context.Context, dir string) (*Issuer, error) {
	i, ln, err := newIssuer(ctx, dir)
	if err != nil {
		return nil, err
	}
	if _, err := i.Publish(ctx); err != nil {
		ln.Close()
		i.DB.Close()
		return nil, err
	}
	i.serve(ln, http.FileServer(http.Dir(i.dir)))
	return i, nil
}

// newIssuer creates the database in dir for an issuer at a loopback
// port, whose listener it returns.
func newIssuer(ctx context.Context, dir string) (*Issuer, net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	url := "http://" + ln.Addr().String()
	db, _, err := writ.Init(ctx, writ.InitConfig{Config: writ.Config{Path: filepath.Join(dir, "writ.db"), Issuer: url}})
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return &Issuer{URL: url, DB: db, dir: filepath.Join(dir, "published")}, ln, nil
}

func (i *Issuer) serve(ln net.Listener, h http.Handler) {
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	i.http = ts
}

// Stop makes the issuer unreachable: its port refuses connections.
func (i *Issuer) Stop() { i.http.Close() }

// Close stops the issuer and closes its database.
func (i *Issuer) Close() {
	i.http.Close()
	if i.srv != nil {
		i.srv.Close()
	}
	i.DB.Close()
}

// Publish writes the database's key sets and revocation state into the
// issuer's publish tree, as writ publish does: the directory that a
// static issuer serves (for a writ serve issuer, one that nothing serves).
func (i *Issuer) Publish(ctx context.Context) (*server.Published, error) {
	return server.Publish(ctx, server.PublishConfig{Dir: i.dir, Issuer: i.URL, Ring: i.DB.Keys, Tokens: i.DB.Issuer, Revocations: i.DB.Revocations})
}

// Embedded publishes the database (Publish) and returns what a function
// embeds of the tree at build time, as README.md has it written: the
// files under keys/ by name, keys/.well-known/jwks.json,
// keys/.well-known/paserk.json, keys/v1/revocations/manifest and the
// snapshot and delta files it names.
func (i *Issuer) Embedded(ctx context.Context) (map[string][]byte, error) {
	p, err := i.Publish(ctx)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, name := range []string{"/.well-known/jwks.json", "/.well-known/paserk.json", feed.ManifestPath, p.Manifest.Snapshot.Path, p.Manifest.Delta.Path} {
		b, err := os.ReadFile(filepath.Join(i.dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		files["keys"+name] = b
	}
	return files, nil
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
