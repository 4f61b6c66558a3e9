package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// ManifestType is the typ of a writ issuer's signed revocation manifest.
const ManifestType = feed.ManifestType

// ManifestPath is the path of the revocation manifest under a writ
// issuer's URL, on writ serve and in a writ publish tree.
const ManifestPath = feed.ManifestPath

// maxManifestDoc bounds a manifest document: its payload at most
// feed.MaxManifestSize, in base64url, with a header and a signature.
const maxManifestDoc = feed.MaxManifestSize/3*4 + 4<<10

// EdgeFeedConfig configures an EdgeFeed.
type EdgeFeedConfig struct {
	// URL of the signed manifest, such as
	// https://auth.example.com/v1/revocations/manifest: the discovery
	// document's revocation_snapshot_uri (see Discover). Required. The
	// files it names are read from the same origin: under the URL's path
	// before /v1/revocations/manifest, the issuer URL's path.
	URL string
	// Issuer is the writ issuer whose list it is (the iss it signs). Required.
	Issuer string
	// Keys verify the manifest's and the deltas' signatures: the issuer's
	// own JWT key set, as for FeedConfig.Keys. Required.
	Keys verifier.KeySource
	// Client makes the requests; nil means a client with a timeout of
	// 30s plus Wait, three times the longest writ serve holds a manifest
	// request while its snapshot is built (then it answers 503: this
	// read of Changes fails, and the state already held stays, within
	// its staleness bound), beyond a held read's wait. A client's timeout
	// must exceed Wait. A redirect to another origin is refused, whatever
	// the client's policy.
	Client *http.Client
	// Wait, when set, makes the feed wait for changes (a
	// revoked.WaitingFeed), as FeedConfig.Wait does: WaitChanges asks
	// writ serve (?epoch=&seq=&wait=) to hold a read of the manifest
	// while the list is still at the manifest held, until it changes, for
	// at most Wait, a whole number of seconds up to MaxFeedWait, and a
	// revoked.Snapshot reads it back to back, learning of a revocation as
	// soon as the server has it. A static host ignores the query and
	// answers at once: the snapshot then reads the manifest every
	// SnapshotConfig.Refresh (or Wait, if shorter), as it would poll. Set
	// SnapshotConfig.MaxStaleness above Wait, plus the server's refresh
	// interval and a second. Zero means no wait: the manifest is polled.
	Wait time.Duration
	// Token, when set, returns the bearer token presented to a private
	// feed, as FeedConfig.Token.
	Token func(context.Context) (string, error)
}

// EdgeFeed reads a writ issuer's revocation list as snapshot files and
// deltas: the files that writ serve serves and writ publish writes for any
// static host or CDN. It implements revoked.Feed, for a revoked.Snapshot,
// and revoked.WaitingFeed, which a snapshot reads back to back when
// EdgeFeedConfig.Wait is set. It is safe for concurrent use.
//
// Each Changes reads the signed manifest (conditionally, by ETag), which
// names the current snapshot file and the delta after it; the snapshot's
// data is as old as the manifest's signing time (Batch.AsOf), so a
// replayed manifest fails closed past SnapshotConfig.MaxStaleness. A reader
// at sequence 0, behind the snapshot file or in another epoch gets the
// snapshot file and the delta; one past the file, the delta alone; one at
// the manifest's sequence, nothing new. Each file's size and SHA-256 are
// checked against the manifest before it is used, and the delta is checked
// as Feed checks a feed document. A manifest behind one already read in
// its epoch, or of another epoch but signed before the last one read (an
// old copy that a cache serves), is refused, and the snapshot keeps its
// state and age.
type EdgeFeed struct {
	cfg  EdgeFeedConfig
	base string // scheme://host/path of the issuer: the files' URLs are base + path

	mu       sync.Mutex
	etag     string
	manifest *feed.Manifest // the last manifest accepted
	epoch    string         // and the highest sequence number read in its epoch
	seq      int64
}

var _ revoked.WaitingFeed = (*EdgeFeed)(nil)

// NewEdgeFeed returns an EdgeFeed for cfg. It does no network I/O.
func NewEdgeFeed(cfg EdgeFeedConfig) (*EdgeFeed, error) {
	if cfg.URL == "" || cfg.Issuer == "" || cfg.Keys == nil {
		return nil, errors.New("remote: EdgeFeedConfig.URL, Issuer and Keys are required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("remote: manifest URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("remote: manifest URL %q: want an http or https URL without user, query or fragment", cfg.URL)
	}
	client, err := waitClient(cfg.Client, cfg.Wait, "EdgeFeedConfig")
	if err != nil {
		return nil, err
	}
	client.CheckRedirect = sameOrigin(u, client.CheckRedirect)
	cfg.Client = client
	base := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), feed.ManifestPath)
	if !strings.HasSuffix(u.EscapedPath(), feed.ManifestPath) {
		base = u.Scheme + "://" + u.Host
	}
	return &EdgeFeed{cfg: cfg, base: base}, nil
}

// sameOrigin returns a redirect policy that refuses a redirect to another
// origin than u's, and otherwise follows next (nil: Go's default).
func sameOrigin(u *url.URL, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != u.Scheme || req.URL.Host != u.Host {
			return fmt.Errorf("redirect to another origin (%s://%s) refused", req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// Changes implements revoked.Feed: see EdgeFeed.
func (f *EdgeFeed) Changes(ctx context.Context, since int64) (*revoked.Batch, error) {
	return f.changes(ctx, since, 0)
}

// Wait implements revoked.WaitingFeed: EdgeFeedConfig.Wait.
func (f *EdgeFeed) Wait() time.Duration { return f.cfg.Wait }

// WaitChanges implements revoked.WaitingFeed: Changes, except that a
// reader at the manifest it read last asks the server to hold the read of
// the manifest for up to EdgeFeedConfig.Wait while the list has not moved
// on. A server that does not hold reads (a static host, an older writ, or
// one holding as many as it will) answers at once. A held read does not
// hold up another read of the feed (a Snapshot's Refresh).
func (f *EdgeFeed) WaitChanges(ctx context.Context, since int64) (*revoked.Batch, error) {
	return f.changes(ctx, since, f.cfg.Wait)
}

// changes reads the changes after since, asking the server to hold the
// read of the manifest for up to wait if it is not zero and the reader is
// at the manifest held.
func (f *EdgeFeed) changes(ctx context.Context, since int64, wait time.Duration) (*revoked.Batch, error) {
	// The manifest is read without f.mu, so that a read held by the
	// server does not hold up another; what it brings is checked against
	// the feed's state as it is then.
	f.mu.Lock()
	held, etag := f.manifest, f.etag
	f.mu.Unlock()
	query := ""
	if wait > 0 && held != nil && since == held.Seq {
		query = "?" + url.Values{"epoch": {held.Epoch}, "seq": {strconv.FormatInt(since, 10)},
			"wait": {strconv.FormatInt(int64(wait/time.Second), 10)}}.Encode()
	}
	if held == nil {
		etag = ""
	}
	m, etag, err := f.readManifest(ctx, etag, query)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m == nil { // not modified: the manifest held, or one read since
		m, etag = f.manifest, f.etag
	}
	switch {
	case m.Epoch == f.epoch && m.Seq < f.seq:
		return nil, fmt.Errorf("remote: revocation manifest at seq %d of epoch %q, behind the %d read before: an old copy", m.Seq, m.Epoch, f.seq)
	case m.Epoch != f.epoch && f.manifest != nil && m.IssuedAt < f.manifest.IssuedAt:
		// Epochs have no order, signing times do: the manifest of a new
		// epoch is signed after the last one of the epoch before.
		return nil, fmt.Errorf("remote: revocation manifest of epoch %q signed before the one of %q read before: an old copy", m.Epoch, f.epoch)
	case since > m.Seq && (m.Epoch == f.epoch || f.epoch == ""):
		return nil, fmt.Errorf("%w: the manifest is at seq %d, the reader at %d", revoked.ErrAhead, m.Seq, since)
	}
	b := &revoked.Batch{Seq: m.Seq, Epoch: m.Epoch, AsOf: time.Unix(m.IssuedAt, 0)}
	from := since
	if since == 0 || since < m.Snapshot.Seq || m.Epoch != f.epoch {
		snap, err := f.readSnapshot(ctx, m)
		if err != nil {
			return nil, err
		}
		b.Filter, b.Universe, b.FilterExpires = snap.Filter, snap.Universe, snap.Expires
		b.Tokens, b.Subjects, b.Keys = snap.Tokens, snap.Subjects, snap.Keys
		from = m.Snapshot.Seq
	}
	if from < m.Seq {
		d, err := f.readDelta(ctx, m, from)
		if err != nil {
			return nil, err
		}
		b.Tokens = append(b.Tokens, d.Tokens...)
		b.Subjects = append(b.Subjects, d.Subjects...)
		b.Keys = append(b.Keys, d.Keys...)
	}
	if m.Epoch != f.epoch {
		f.epoch, f.seq = m.Epoch, 0
	}
	f.seq = max(f.seq, m.Seq)
	f.manifest, f.etag = m, etag
	return b, nil
}

// readManifest fetches the manifest, with query after its URL, and
// checks it; conditionally when etag, the held manifest's, is set: nil
// when it is unchanged (304 Not Modified).
func (f *EdgeFeed) readManifest(ctx context.Context, etag, query string) (*feed.Manifest, string, error) {
	resp, err := get(ctx, f.cfg.Client, f.cfg.URL+query, f.cfg.Token, etag, "revocation manifest")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", statusError(resp, "revocation manifest")
	}
	body, err := readBody(resp.Body, maxManifestDoc, "revocation manifest")
	if err != nil {
		return nil, "", err
	}
	payload, err := verifier.VerifyDocument(ctx, f.cfg.Keys, ManifestType, string(body))
	if err != nil {
		return nil, "", fmt.Errorf("remote: revocation manifest: %w", err)
	}
	m, err := feed.DecodeManifest(payload)
	if err != nil {
		return nil, "", fmt.Errorf("remote: revocation manifest: %w", err)
	}
	switch {
	case m.Issuer != f.cfg.Issuer:
		return nil, "", fmt.Errorf("remote: revocation manifest from %q, want %q", m.Issuer, f.cfg.Issuer)
	case m.IssuedAt <= 0:
		return nil, "", errors.New("remote: revocation manifest without iat")
	case m.Epoch == "":
		return nil, "", errors.New("remote: revocation manifest without epoch")
	}
	return m, resp.Header.Get("ETag"), nil
}

// readFile fetches a file that m names and checks its size and SHA-256.
func (f *EdgeFeed) readFile(ctx context.Context, ref *feed.FileRef, what string) ([]byte, error) {
	resp, err := get(ctx, f.cfg.Client, f.base+ref.Path, f.cfg.Token, "", what)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, what)
	}
	if resp.ContentLength > ref.Size {
		return nil, fmt.Errorf("remote: %s of %d bytes, the manifest says %d", what, resp.ContentLength, ref.Size)
	}
	// The signed manifest bounds the size (DecodeManifest): read it into
	// one buffer of that size, and refuse a byte more.
	body := make([]byte, ref.Size)
	n, err := io.ReadFull(resp.Body, body)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) && ref.Size > 0:
		return nil, fmt.Errorf("remote: %s of %d bytes, the manifest says %d", what, n, ref.Size)
	case err != nil:
		return nil, fmt.Errorf("remote: read %s: %w", what, err)
	}
	if k, _ := io.CopyN(io.Discard, resp.Body, 1); k > 0 {
		return nil, fmt.Errorf("remote: %s larger than the %d bytes the manifest says", what, ref.Size)
	}
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], ref.SHA256[:]) {
		return nil, fmt.Errorf("remote: %s does not match the manifest's SHA-256", what)
	}
	return body, nil
}

// readSnapshot fetches and decodes m's snapshot file.
func (f *EdgeFeed) readSnapshot(ctx context.Context, m *feed.Manifest) (*feed.Snapshot, error) {
	data, err := f.readFile(ctx, &m.Snapshot, "revocation snapshot")
	if err != nil {
		return nil, err
	}
	snap, err := feed.DecodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("remote: revocation snapshot: %w", err)
	}
	if snap.Epoch != m.Epoch || snap.Seq != m.Snapshot.Seq || snap.Filter == nil {
		return nil, fmt.Errorf("remote: revocation snapshot at seq %d of epoch %q, the manifest names seq %d of %q", snap.Seq, snap.Epoch, m.Snapshot.Seq, m.Epoch)
	}
	return snap, nil
}

// readDelta fetches m's delta, a signed feed document, for a reader at
// since, and checks it as Feed does, and against m.
func (f *EdgeFeed) readDelta(ctx context.Context, m *feed.Manifest, since int64) (*revoked.Batch, error) {
	doc, err := f.readFile(ctx, &m.Delta, "revocation delta")
	if err != nil {
		return nil, err
	}
	h, b, err := verifyFeedDocument(ctx, f.cfg.Keys, f.cfg.Issuer, doc, since)
	if err != nil {
		return nil, err
	}
	if h.Epoch != m.Epoch || h.Since != m.Delta.Since || h.Seq != m.Delta.Seq {
		return nil, fmt.Errorf("remote: revocation delta from %d to %d of epoch %q, the manifest names %d to %d of %q", h.Since, h.Seq, h.Epoch, m.Delta.Since, m.Delta.Seq, m.Epoch)
	}
	return b, nil
}
