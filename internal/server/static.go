package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// PublishedFeedPath is where writ publish writes the whole revocation feed
// (a feed document from sequence 0), which the discovery document it
// writes names as revocation_list_uri: a file cannot be at /v1/revocations
// beside the directory /v1/revocations/. writ serve serves the feed there
// too, as at /v1/revocations, so that both URL spaces hold every path.
const PublishedFeedPath = "/v1/revocations/feed.jwt"

// PublishKeep is how long writ publish keeps a snapshot or delta file
// after the last manifest that named it was replaced: verifiers and caches
// that read that manifest still find its files.
const PublishKeep = time.Hour

// PublishConfig configures Publish.
type PublishConfig struct {
	// Dir is the directory to write: DIR/<path> is served at
	// ISSUER/<path>. It is created if need be.
	Dir string
	// Issuer is the issuer URL at which Dir is served.
	Issuer      string
	Ring        *keys.Ring
	Tokens      *issuer.Issuer
	Revocations *revocation.List
	// Every is how often Publish runs again: the next_update of the
	// documents it signs. Zero means one minute.
	Every time.Duration
	// NoFeed leaves the whole JSON feed out, for trees whose verifiers
	// all read the snapshot and deltas (verifier/remote's EdgeFeed and
	// FollowIssuer): at a million revoked tokens it is a 65 MB file
	// signed and written again on every run. The discovery document then
	// names no revocation_list_uri, and a feed that Dir holds from an
	// earlier run is removed: left in place it would go stale, failing
	// closed past their bound for verifiers that still read it and
	// missing every later revocation for those that set none, where a
	// missing file is an error to every reader at once.
	NoFeed bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Published says what Publish did: the paths under Dir (with a leading
// '/', as URL paths) that it wrote and removed, in order.
type Published struct {
	Written, Removed []string
	// NewSnapshot is set when it built a snapshot rather than keep the
	// one Dir's manifest named.
	NewSnapshot bool
	Manifest    feed.Manifest
}

// Publish writes into cfg.Dir the files that writ serve serves to remote
// verifiers: the well-known documents (WellKnown), the whole signed
// revocation feed at PublishedFeedPath (unless cfg.NoFeed), and the
// revocation state for verifiers at the edge: a snapshot and a delta,
// content-addressed, and the signed manifest naming them. It keeps the snapshot that Dir's
// manifest names unless a new one is due (the rules of writ serve), and
// its delta if nothing changed since. Files are written whole, to a
// temporary file renamed in place, with mode 0644 (nothing is secret); new
// snapshot and delta files come before the manifest, which comes last.
// It then removes the snapshot and delta files that no manifest named for
// PublishKeep.
//
// The manifest's iat is when Publish ran, and so is the whole feed's, which
// is written again on every run, changed or not (its iat is its freshness
// to the verifiers that read it): run it at least as often as the remote
// verifiers' staleness bound. Without the feed (cfg.NoFeed) a run reads
// the whole list only to count its entries, when more than
// SnapshotMinChanges changes came since the snapshot it keeps (fewer leave
// a new snapshot due or not whatever the count).
func Publish(ctx context.Context, cfg PublishConfig) (*Published, error) {
	switch {
	case cfg.Dir == "" || cfg.Issuer == "" || cfg.Ring == nil || cfg.Tokens == nil || cfg.Revocations == nil:
		return nil, errors.New("publish: Dir, Issuer, Ring, Tokens and Revocations are required")
	case cfg.Every < 0:
		return nil, fmt.Errorf("publish: a negative interval %v", cfg.Every)
	}
	if cfg.Every == 0 {
		cfg.Every = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer root.Close()
	p := &publisher{cfg: cfg, root: root, now: cfg.Now(), done: &Published{Written: []string{}, Removed: []string{}}}
	if err := p.run(ctx); err != nil {
		return nil, err
	}
	return p.done, nil
}

type publisher struct {
	cfg  PublishConfig
	root *os.Root
	now  time.Time
	done *Published
}

func (p *publisher) run(ctx context.Context) error {
	listPath := PublishedFeedPath
	if p.cfg.NoFeed {
		listPath = ""
	}
	wk, err := WellKnown(ctx, p.cfg.Ring, p.cfg.Issuer, listPath)
	if err != nil {
		return err
	}
	old := p.readManifest(ctx, wk.JWKS)
	if old != nil {
		// Named until now: kept PublishKeep from now.
		for _, f := range []string{old.Snapshot.Path, old.Delta.Path} {
			if err := p.root.Chtimes(rel(f), p.now, p.now); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("publish: %w", err)
			}
		}
	}
	for _, f := range []struct {
		path string
		body []byte
	}{
		{"/.well-known/jwks.json", wk.JWKS},
		{"/.well-known/paserk.json", wk.PASERK},
		{"/.well-known/oauth-authorization-server", wk.Discovery},
	} {
		if err := p.write(f.path, f.body); err != nil {
			return err
		}
	}
	// The whole list, read for the feed; nil without it.
	var whole *feed.Batch
	if p.cfg.NoFeed {
		if err := p.removeFeed(); err != nil {
			return err
		}
	} else if whole, err = p.writeFeed(ctx); err != nil {
		return err
	}

	var snap *edgeSnapshot
	if old != nil {
		snap = p.readSnapshot(old)
	}
	var b *feed.Batch
	for attempt := 0; ; attempt++ {
		var due bool
		if due, err = p.due(ctx, snap, whole); err != nil {
			return err
		}
		if due {
			if snap, err = buildSnapshot(ctx, p.cfg.Revocations); err != nil {
				return err
			}
			p.done.NewSnapshot = true
			if err := p.writeNew(snap.file); err != nil {
				return err
			}
		}
		b, err = readDelta(ctx, p.cfg.Revocations, snap)
		if errors.Is(err, errEpochChanged) && attempt == 0 {
			snap = nil // the list's epoch changed since it was read: once more
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	delta := p.sameDelta(old, snap, b)
	if delta == nil {
		if delta, err = signDelta(ctx, p.cfg.Tokens, p.cfg.Issuer, p.cfg.Every, snap, b, p.now); err != nil {
			return err
		}
		if err := p.writeNew(delta); err != nil {
			return err
		}
	}
	manifest, err := signManifest(ctx, p.cfg.Tokens, p.cfg.Issuer, p.cfg.Every, snap, delta, p.now)
	if err != nil {
		return err
	}
	if err := p.write(feed.ManifestPath, manifest); err != nil {
		return err
	}
	p.done.Manifest = feed.Manifest{Issuer: p.cfg.Issuer, IssuedAt: p.now.Unix(), NextUpdate: p.now.Add(p.cfg.Every).Unix(),
		Epoch: snap.epoch, Seq: delta.ref.Seq, Snapshot: snap.file.ref, Delta: delta.ref}
	return p.sweep(snap.file.ref.Path, delta.ref.Path)
}

// writeFeed writes the whole feed at PublishedFeedPath and returns the
// list it holds.
func (p *publisher) writeFeed(ctx context.Context) (*feed.Batch, error) {
	whole, err := p.cfg.Revocations.Changes(ctx, 0)
	if err != nil {
		return nil, err
	}
	// Signed again on every run, changed or not: its iat is how fresh it
	// is to its readers. Its payload is built in one buffer, and the
	// signed document written as SignDocument returns it: at a million
	// entries, about 50 MB and 65 MB.
	doc, err := p.cfg.Tokens.SignDocument(ctx, FeedType, feed.Append(nil, &feed.Head{Issuer: p.cfg.Issuer, IssuedAt: p.now.Unix(),
		Epoch: whole.Epoch, Seq: whole.Seq, NextUpdate: p.now.Add(p.cfg.Every).Unix()}, whole))
	if err != nil {
		return nil, err
	}
	// write only reads the document's bytes.
	return whole, p.write(PublishedFeedPath, unsafe.Slice(unsafe.StringData(doc), len(doc)))
}

// removeFeed removes the whole feed that an earlier run wrote, if any
// (see PublishConfig.NoFeed).
func (p *publisher) removeFeed() error {
	switch err := p.root.Remove(rel(PublishedFeedPath)); {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("publish: %w", err)
	}
	p.done.Removed = append(p.done.Removed, PublishedFeedPath)
	if err := p.syncDir(path.Dir(rel(PublishedFeedPath))); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// due reports whether a snapshot must be built to replace snap
// (nil when there is none), by snapshotDue, for the list that whole holds
// or, when whole is nil, that the changes after snap describe: the whole
// list is then read for its number of entries only when more than
// SnapshotMinChanges changes came, as fewer decide alike whatever it is.
func (p *publisher) due(ctx context.Context, snap *edgeSnapshot, whole *feed.Batch) (bool, error) {
	if snap == nil {
		return true, nil
	}
	list := whole
	if list == nil {
		b, err := p.cfg.Revocations.Changes(ctx, snap.seq)
		switch {
		case errors.Is(err, revoked.ErrAhead):
			return true, nil // the list is behind the snapshot: another epoch
		case err != nil:
			return false, err
		case b.Epoch != snap.epoch || b.Seq-snap.seq <= SnapshotMinChanges:
			return snapshotDue(snap, b.Epoch, b.Seq, 0, p.now), nil
		}
		if list, err = p.cfg.Revocations.Changes(ctx, 0); err != nil {
			return false, err
		}
	}
	return snapshotDue(snap, list.Epoch, list.Seq, len(list.Tokens)+len(list.Subjects)+len(list.Keys), p.now), nil
}

// rel returns the URL path p as a path under the root.
func rel(p string) string { return strings.TrimPrefix(p, "/") }

// maxManifestFile bounds the manifest file Publish reads back: a JWS of a
// payload of at most feed.MaxManifestSize, with room for its header and
// signature.
const maxManifestFile = 2*feed.MaxManifestSize + 4096

// readManifest returns the manifest in Dir, or nil if there is none that
// this issuer signed with a key of its JWT key set jwks: the files are then
// made anew. Dir holds nothing secret, so others may write it: a manifest
// is trusted only for its signature, and the files it names for their
// hashes, lest a planted snapshot be signed anew.
func (p *publisher) readManifest(ctx context.Context, jwks []byte) *feed.Manifest {
	data, ok := p.readFile(feed.ManifestPath, maxManifestFile)
	if !ok {
		return nil
	}
	set, err := verifier.ParseJWKS(jwks)
	if err != nil {
		return nil
	}
	payload, err := verifier.VerifyDocument(ctx, set, feed.ManifestType, string(data))
	if err != nil {
		return nil
	}
	m, err := feed.DecodeManifest(payload)
	if err != nil || m.Issuer != p.cfg.Issuer {
		return nil
	}
	return m
}

// readSnapshot returns the snapshot that m names, or nil if its file is
// missing or not what m says.
func (p *publisher) readSnapshot(m *feed.Manifest) *edgeSnapshot {
	data, ok := p.readRef(&m.Snapshot)
	if !ok {
		return nil
	}
	s, err := feed.DecodeSnapshot(data)
	if err != nil || s.Epoch != m.Epoch || s.Seq != m.Snapshot.Seq {
		return nil
	}
	return &edgeSnapshot{file: &edgeFile{ref: m.Snapshot, epoch: s.Epoch, body: data}, epoch: s.Epoch, seq: s.Seq, built: time.Unix(s.Built, 0)}
}

// sameDelta returns the delta that old names if it holds the changes of
// b after snap, and its file is intact; otherwise nil.
func (p *publisher) sameDelta(old *feed.Manifest, snap *edgeSnapshot, b *feed.Batch) *edgeFile {
	if old == nil || old.Epoch != b.Epoch || old.Delta.Since != snap.seq || old.Delta.Seq != b.Seq || old.Snapshot != snap.file.ref {
		return nil
	}
	data, ok := p.readRef(&old.Delta)
	if !ok {
		return nil
	}
	return &edgeFile{ref: old.Delta, epoch: old.Epoch, body: data}
}

// readRef reads the file that ref names if it is what ref says.
func (p *publisher) readRef(ref *feed.FileRef) ([]byte, bool) {
	data, ok := p.readFile(ref.Path, ref.Size)
	if !ok || int64(len(data)) != ref.Size || sha256.Sum256(data) != ref.SHA256 {
		return nil, false
	}
	return data, true
}

// readFile reads the file at the URL path name, if it is a regular file
// of at most limit bytes.
func (p *publisher) readFile(name string, limit int64) ([]byte, bool) {
	fi, err := p.root.Stat(rel(name))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, false
	}
	data, err := p.root.ReadFile(rel(name))
	return data, err == nil && int64(len(data)) <= limit
}

// writeNew writes a content-addressed file unless it is there already.
func (p *publisher) writeNew(f *edgeFile) error {
	if _, ok := p.readRef(&f.ref); ok {
		return p.root.Chtimes(rel(f.ref.Path), p.now, p.now)
	}
	return p.write(f.ref.Path, f.body)
}

// write writes body at the URL path name, whole: to a temporary file in
// the same directory, synced, then renamed over name, and the directory
// synced, so that a reader sees the old file or the new, never a part.
func (p *publisher) write(name string, body []byte) error {
	dir, base := path.Split(rel(name))
	if dir != "" {
		if err := p.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	var random [8]byte
	rand.Read(random[:])
	tmp := dir + "." + base + ".tmp-" + hex.EncodeToString(random[:])
	if err := p.writeTemp(tmp, body); err != nil {
		p.root.Remove(tmp)
		return fmt.Errorf("publish %s: %w", name, err)
	}
	if err := p.root.Rename(tmp, rel(name)); err != nil {
		p.root.Remove(tmp)
		return fmt.Errorf("publish %s: %w", name, err)
	}
	if err := p.syncDir(dir); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	p.done.Written = append(p.done.Written, name)
	return nil
}

func (p *publisher) writeTemp(tmp string, body []byte) error {
	f, err := p.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	// Whatever the umask: the files are for any static host to serve.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func (p *publisher) syncDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := p.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sweep removes the snapshot and delta files, and the temporary files
// that a failed run left, unchanged for PublishKeep, but keep.
func (p *publisher) sweep(keep ...string) error {
	for _, dir := range []struct{ prefix, ext string }{{feed.SnapshotPrefix, ".bin"}, {feed.DeltaPrefix, ".jwt"}} {
		entries, err := fs.ReadDir(p.root.FS(), rel(strings.TrimSuffix(dir.prefix, "/")))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		for _, e := range entries {
			name := dir.prefix + e.Name()
			temp := strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-")
			if !e.Type().IsRegular() || !(hexName(e.Name(), dir.ext) || temp) || slices.Contains(keep, name) {
				continue
			}
			fi, err := e.Info()
			if err != nil || p.now.Sub(fi.ModTime()) < PublishKeep {
				continue
			}
			if err := p.root.Remove(rel(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("publish: %w", err)
			}
			p.done.Removed = append(p.done.Removed, name)
		}
	}
	return nil
}
