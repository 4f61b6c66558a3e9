package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/verifier"
)

// DiscoveryPath is where a writ issuer serves its discovery document (RFC
// 8414 authorization server metadata), under its issuer URL: on writ serve
// and in a writ publish tree alike.
const DiscoveryPath = "/.well-known/oauth-authorization-server"

// maxDiscovery bounds a discovery document.
const maxDiscovery = 64 << 10

// Discovery is what a writ issuer's discovery document says a remote
// verifier reads: each URL under the issuer URL, "" when absent.
type Discovery struct {
	Issuer string // issuer: the issuer URL, as configured
	JWKS   string // jwks_uri: the JWT key set
	PASERK string // paserk_uri: the PASETO key set
	// RevocationList is revocation_list_uri: the signed JSON feed (Feed).
	RevocationList string
	// RevocationSnapshot is revocation_snapshot_uri: the signed manifest
	// of snapshot files and deltas (EdgeFeed).
	RevocationSnapshot string
}

// Discover reads the discovery document at issuer + DiscoveryPath (the
// layout writ serve and writ publish share; RFC 8414 would put the
// well-known segment before an issuer URL's path) and checks that its
// issuer is issuer exactly (RFC 8414 §3.3) and that every URL it names is
// an http or https URL under the issuer URL, without query or fragment.
// client nil means a client with a 10s timeout; redirects to another
// origin are refused.
func Discover(ctx context.Context, issuer string, client *http.Client) (*Discovery, error) {
	iu, err := issuerURL(issuer)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if client != nil {
		cp := *client
		c = &cp
	}
	c.CheckRedirect = sameOrigin(iu, c.CheckRedirect)
	resp, err := get(ctx, c, strings.TrimSuffix(issuer, "/")+DiscoveryPath, nil, "", "discovery document")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("remote: fetch discovery document: %s", resp.Status)
	}
	body, err := readBody(resp.Body, maxDiscovery, "discovery document")
	if err != nil {
		return nil, err
	}
	return parseDiscovery(body, iu, issuer)
}

// parseDiscovery reads a discovery document of the issuer at iu and
// checks it, as Discover says.
func parseDiscovery(body []byte, iu *url.URL, issuer string) (*Discovery, error) {
	d := &Discovery{}
	err := jsonx.Members(body, func(name []byte, v jsonx.Value) error {
		var dst *string
		switch string(name) {
		case "issuer":
			dst = &d.Issuer
		case "jwks_uri":
			dst = &d.JWKS
		case "paserk_uri":
			dst = &d.PASERK
		case "revocation_list_uri":
			dst = &d.RevocationList
		case "revocation_snapshot_uri":
			dst = &d.RevocationSnapshot
		default:
			return nil
		}
		s, err := v.Str()
		if err != nil {
			return fmt.Errorf("member %q: %w", name, err)
		}
		*dst = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote: discovery document: %w", err)
	}
	if d.Issuer != issuer {
		return nil, fmt.Errorf("remote: discovery document of issuer %q, want %q", d.Issuer, issuer)
	}
	for _, u := range []string{d.JWKS, d.PASERK, d.RevocationList, d.RevocationSnapshot} {
		if u != "" && !under(iu, u) {
			return nil, fmt.Errorf("remote: discovery document names %q, not under the issuer URL %q", u, issuer)
		}
	}
	return d, nil
}

// issuerURL parses an issuer URL: http or https, without user, query or
// fragment.
func issuerURL(issuer string) (*url.URL, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("remote: issuer URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("remote: issuer URL %q: want an http or https URL without user, query or fragment", issuer)
	}
	return u, nil
}

// under reports whether s is a URL of iu's origin whose clean path lies
// under iu's, without user, query or fragment.
func under(iu *url.URL, s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != iu.Scheme || u.Host != iu.Host || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return false
	}
	return path.Clean(u.Path) == u.Path && strings.HasPrefix(u.Path, strings.TrimSuffix(iu.Path, "/")+"/")
}

// IssuerConfig configures FollowIssuer.
type IssuerConfig struct {
	// Issuer is the writ issuer's URL (the iss of its tokens), under which
	// writ serve serves, or a static host serves a writ publish tree of,
	// its key sets and revocation files. Required.
	Issuer string
	// JWKS, when set, is the JWT key set to start from, such as a
	// go:embed copy of /.well-known/jwks.json: FollowIssuer then does no
	// network I/O (see KeySetConfig.Initial).
	JWKS []byte
	// PASERK, when set, is the PASETO key set to start from, as JWKS.
	PASERK []byte
	// PASETO follows the PASERK set too; setting PASERK implies it.
	PASETO bool
	// Client makes the requests; nil means the packages' defaults. With
	// Wait, its timeout must exceed Wait.
	Client *http.Client
	// Token, when set, returns the bearer token of a private feed, as
	// FeedConfig.Token.
	Token func(context.Context) (string, error)
	// Wait, when set, has writ serve push revocations to the snapshot
	// that reads Revocations: it is EdgeFeedConfig.Wait (see there), a
	// whole number of seconds up to MaxFeedWait. A static host is polled
	// at the snapshot's Refresh interval all the same.
	Wait time.Duration
	// OnError, when set, receives the key sets' background fetch errors.
	OnError func(error)
}

// Issuer is a writ issuer followed over HTTP at its issuer URL: its key
// sets and its revocation list, as a serverless function or any remote
// verifier reads them from writ serve or from a static copy of a writ
// publish tree. Close stops the key sets' background refreshes.
type Issuer struct {
	// JWT follows the JWT key set at /.well-known/jwks.json.
	JWT *KeySet
	// PASETO follows the PASETO key set at /.well-known/paserk.json; nil
	// unless asked for (IssuerConfig.PASETO or PASERK).
	PASETO *KeySet
	// Revocations reads the revocation list's snapshot files and deltas
	// at /v1/revocations/manifest, signed with the JWT keys: the Feed of a
	// revoked.Snapshot, which waits for changes when IssuerConfig.Wait is
	// set.
	Revocations *EdgeFeed
}

// FollowIssuer follows the key sets and the revocation list of the writ
// issuer at cfg.Issuer, at the paths writ serve and writ publish share (no
// discovery document is read: see Discover for that). The key sets start
// from cfg.JWKS and cfg.PASERK without network I/O when given, or else
// from a first fetch, which must succeed. The revocation feed does no I/O
// until read: give it to revoked.NewSnapshot with a MaxStaleness bound to
// fail closed when it cannot be read.
func FollowIssuer(ctx context.Context, cfg IssuerConfig) (*Issuer, error) {
	if _, err := issuerURL(cfg.Issuer); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.Issuer, "/")
	jwt, err := NewKeySet(ctx, KeySetConfig{URL: base + "/.well-known/jwks.json", Initial: cfg.JWKS, Client: cfg.Client, OnError: cfg.OnError})
	if err != nil {
		return nil, err
	}
	out := &Issuer{JWT: jwt}
	if cfg.PASETO || cfg.PASERK != nil {
		out.PASETO, err = NewKeySet(ctx, KeySetConfig{URL: base + "/.well-known/paserk.json", Parse: verifier.ParsePASERKSet,
			Initial: cfg.PASERK, Client: cfg.Client, OnError: cfg.OnError})
		if err != nil {
			jwt.Close()
			return nil, err
		}
	}
	out.Revocations, err = NewEdgeFeed(EdgeFeedConfig{URL: base + ManifestPath, Issuer: cfg.Issuer, Keys: jwt, Client: cfg.Client, Token: cfg.Token, Wait: cfg.Wait})
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

// Close stops the key sets' background refreshes.
func (i *Issuer) Close() {
	i.JWT.Close()
	if i.PASETO != nil {
		i.PASETO.Close()
	}
}
