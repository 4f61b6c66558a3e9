package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// document is a published byte string with its strong ETag, swapped whole
// when it changes so that requests never see half of an update.
type document struct {
	cur atomic.Pointer[docVersion]
}

type docVersion struct {
	body         []byte
	etag         string
	contentType  string
	cacheControl string
}

// newDocVersion returns body as a published document, with its strong
// ETag (a digest of its bytes).
func newDocVersion(body []byte, contentType, cacheControl string) *docVersion {
	sum := sha256.Sum256(body)
	return &docVersion{body: body, etag: `"` + b64.Encode(sum[:18]) + `"`, contentType: contentType, cacheControl: cacheControl}
}

func (d *document) set(body []byte, contentType string, maxAge time.Duration) {
	d.cur.Store(newDocVersion(body, contentType, fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds()))))
}

func (d *document) serve(w http.ResponseWriter, r *http.Request) {
	v := d.cur.Load()
	h := w.Header()
	h.Set("Content-Type", v.contentType)
	h.Set("Cache-Control", v.cacheControl)
	h.Set("ETag", v.etag)
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatch(r.Header.Get("If-None-Match"), v.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(v.body)
}

// documents are what the server publishes under /.well-known.
type documents struct {
	jwks, paserk, discovery document
}

func (d *documents) load(ctx context.Context, s *Server) error {
	w, err := WellKnown(ctx, s.cfg.Ring, s.cfg.Issuer, "/v1/revocations")
	if err != nil {
		return err
	}
	for _, x := range []struct {
		doc  *document
		ct   string
		body []byte
	}{
		{&d.jwks, "application/jwk-set+json", w.JWKS},
		{&d.paserk, "application/json", w.PASERK},
		{&d.discovery, "application/json", w.Discovery},
	} {
		if cur := x.doc.cur.Load(); cur == nil || string(cur.body) != string(x.body) {
			x.doc.set(x.body, x.ct, s.cfg.MaxAge)
		}
	}
	return nil
}

// WellKnownDocuments are the documents published under /.well-known.
type WellKnownDocuments struct {
	JWKS      []byte // jwks.json: the JWT key set
	PASERK    []byte // paserk.json: the PASETO key set
	Discovery []byte // oauth-authorization-server: RFC 8414 metadata
}

// WellKnown returns the documents that writ serve publishes under
// /.well-known for the keys of ring and the issuer URL issuer, as writ
// publish writes them too: the discovery document names the whole
// revocation feed at listPath under the issuer URL (writ serve's at
// /v1/revocations, a published tree's at PublishedFeedPath), or none when
// listPath is "" (a tree published without it).
func WellKnown(ctx context.Context, ring *keys.Ring, issuer, listPath string) (*WellKnownDocuments, error) {
	jwks, err := ring.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	paserkSet, err := ring.PASERKSet(ctx)
	if err != nil {
		return nil, err
	}
	disc, err := discovery(ctx, ring, issuer, listPath)
	if err != nil {
		return nil, err
	}
	return &WellKnownDocuments{JWKS: jwks, PASERK: paserkSet, Discovery: disc}, nil
}

// discovery is the RFC 8414 authorization server metadata.
func discovery(ctx context.Context, ring *keys.Ring, issuer, listPath string) ([]byte, error) {
	base := strings.TrimSuffix(issuer, "/")
	recs, err := ring.Published(ctx)
	if err != nil {
		return nil, err
	}
	algs := []verifier.Algorithm{}
	for _, r := range recs {
		if r.Format == "jwt" && !slices.Contains(algs, r.Algorithm) {
			algs = append(algs, r.Algorithm)
		}
	}
	doc := map[string]any{
		"issuer":                   issuer,
		"jwks_uri":                 base + "/.well-known/jwks.json",
		"paserk_uri":               base + "/.well-known/paserk.json",
		"introspection_endpoint":   base + "/v1/introspect",
		"revocation_endpoint":      base + "/v1/revoke",
		"revocation_snapshot_uri":  base + feed.ManifestPath,
		"scopes_supported":         []string{AdminScope},
		"response_types_supported": []string{},
		"grant_types_supported":    []string{},
		"token_types_supported":    []string{"at+jwt", string(verifier.V4Public)},
		"introspection_endpoint_auth_methods_supported": []string{"bearer"},
		"revocation_endpoint_auth_methods_supported":    []string{"bearer"},
		"access_token_signing_alg_values_supported":     algs,
	}
	if listPath != "" {
		doc["revocation_list_uri"] = base + listPath
	}
	return json.Marshal(doc)
}

// etagMatch reports whether the If-None-Match header value names tag, a
// strong entity tag with its quotes. If-None-Match compares weakly (RFC 9110
// §13.1.2): W/"x" matches "x".
func etagMatch(header, tag string) bool {
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == tag {
			return true
		}
	}
	return false
}
