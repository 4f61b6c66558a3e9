package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier/revoked"
)

// The revocation state for verifiers at the edge (package internal/feed):
// a binary snapshot of the whole list, a delta of the changes since (a
// signed feed document), both content-addressed and immutable, and a small
// signed manifest naming the two, signed again at least every refresh
// interval. writ serve serves them from memory (edge); writ publish writes
// them as files (Publish). Both decide alike when to build a new snapshot
// (snapshotDue) and make the files alike (buildSnapshot, signDelta,
// signManifest).

// When a new snapshot is built: when there is none, the list's epoch
// changed, more than max(SnapshotMinChanges, the list's entries/8) changes
// came since it (so that a delta stays small beside it), or it is older
// than SnapshotMaxAge (so that the tokens expired since leave it).
const (
	SnapshotMinChanges = 4096
	SnapshotMaxAge     = time.Hour
)

// edgeFile is a content-addressed file of the edge: a snapshot or a delta.
type edgeFile struct {
	ref   feed.FileRef
	epoch string // of the list whose changes it holds
	body  []byte
}

func newEdgeFile(path func([32]byte) string, body []byte, epoch string, since, seq int64) *edgeFile {
	sum := sha256.Sum256(body)
	return &edgeFile{ref: feed.FileRef{Path: path(sum), SHA256: sum, Size: int64(len(body)), Since: since, Seq: seq}, epoch: epoch, body: body}
}

// edgeSnapshot is a snapshot file and the state it holds.
type edgeSnapshot struct {
	file  *edgeFile
	epoch string
	seq   int64
	built time.Time
}

// snapshotDue reports whether a snapshot must be built to replace cur (nil
// when there is none) for the list at (epoch, seq) with entries entries:
// one is due as well for a snapshot built after now, by a clock ahead.
func snapshotDue(cur *edgeSnapshot, epoch string, seq int64, entries int, now time.Time) bool {
	return cur == nil || cur.epoch != epoch || seq < cur.seq || cur.built.After(now) ||
		seq-cur.seq > int64(max(SnapshotMinChanges, entries/8)) || now.Sub(cur.built) >= SnapshotMaxAge
}

// buildSnapshot reads the list's snapshot and encodes it.
func buildSnapshot(ctx context.Context, list *revocation.List) (*edgeSnapshot, error) {
	s, err := list.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	body, err := feed.AppendSnapshot(nil, s)
	if err != nil {
		return nil, fmt.Errorf("server: snapshot: %w", err)
	}
	return &edgeSnapshot{file: newEdgeFile(feed.SnapshotPath, body, s.Epoch, 0, s.Seq), epoch: s.Epoch, seq: s.Seq, built: time.Unix(s.Built, 0)}, nil
}

// errEpochChanged: the list's epoch changed while the files were made.
var errEpochChanged = errors.New("the revocation list's epoch changed")

// readDelta reads the changes after snap's sequence number.
func readDelta(ctx context.Context, list *revocation.List, snap *edgeSnapshot) (*feed.Batch, error) {
	b, err := list.Changes(ctx, snap.seq)
	if errors.Is(err, revoked.ErrAhead) || err == nil && b.Epoch != snap.epoch {
		return nil, errEpochChanged
	}
	return b, err
}

// signDelta signs b, the changes after snap's, as a delta file: a feed
// document of typ FeedType signed at now.
func signDelta(ctx context.Context, tokens *issuer.Issuer, iss string, next time.Duration, snap *edgeSnapshot, b *feed.Batch, now time.Time) (*edgeFile, error) {
	h := feed.Head{Issuer: iss, IssuedAt: now.Unix(), Epoch: b.Epoch, Since: snap.seq, Seq: b.Seq, NextUpdate: now.Add(next).Unix()}
	doc, err := tokens.SignDocument(ctx, FeedType, feed.Append(nil, &h, b))
	if err != nil {
		return nil, err
	}
	return newEdgeFile(feed.DeltaPath, []byte(doc), b.Epoch, snap.seq, b.Seq), nil
}

// signManifest signs the manifest that names snap and delta, at now, to be
// signed again within next.
func signManifest(ctx context.Context, tokens *issuer.Issuer, iss string, next time.Duration, snap *edgeSnapshot, delta *edgeFile, now time.Time) ([]byte, error) {
	m := feed.Manifest{Issuer: iss, IssuedAt: now.Unix(), NextUpdate: now.Add(next).Unix(), Epoch: snap.epoch, Seq: delta.ref.Seq,
		Snapshot: snap.file.ref, Delta: delta.ref}
	doc, err := tokens.SignDocument(ctx, feed.ManifestType, feed.AppendManifest(nil, &m))
	if err != nil {
		return nil, err
	}
	return []byte(doc), nil
}

// edgeDeltas is how many deltas writ serve keeps, the newest: a verifier
// that read a manifest just before a change still finds its delta.
const edgeDeltas = 4

// edgeManifest is a signed manifest and the files it names.
type edgeManifest struct {
	doc             *docVersion
	snapshot, delta feed.FileRef
	signed          time.Time
}

// EdgeBuildWait bounds how long a request for the manifest waits for a
// snapshot build when there is no snapshot of the list's epoch to serve:
// past it the answer is a 503 with Retry-After (errSnapshotPending), well
// within a remote verifier's client timeout (verifier/remote's 30 s).
const EdgeBuildWait = 10 * time.Second

// errSnapshotPending: the snapshot to serve is still being built.
var errSnapshotPending = errors.New("the revocation snapshot is being built")

// edge holds what writ serve serves to verifiers at the edge: the current
// and the previous snapshot, the newest deltas and the signed manifest.
// The first snapshot is built when the server starts, the next on demand;
// each in the background, one at a time. While one is built, the one
// before is served with a growing delta. Only a request finding no
// snapshot of the list's epoch waits for a build, for at most wait.
type edge struct {
	wait      time.Duration
	mu        sync.Mutex
	cur, prev *edgeSnapshot
	deltas    []*edgeFile   // the newest last
	manifest  *edgeManifest // the last manifest signed
	building  chan struct{} // closed when the build under way ends; nil when none
	buildErr  error         // the last build's failure
	failed    time.Time     // when it failed
	closed    bool          // the server is closing: no build starts

	work sync.Mutex // held while a delta or the manifest is signed

	builds       *prometheus.CounterVec
	buildSeconds prometheus.Histogram
	size         prometheus.Gauge
	// deltas and manifests signed: one per change of the list and per
	// refresh interval, however many readers wait for them
	deltaSignatures, manifestSignatures prometheus.Counter
}

func newEdge(reg prometheus.Registerer) *edge {
	e := &edge{wait: EdgeBuildWait,
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_revocation_snapshot_builds_total", Help: "Revocation snapshots built for verifiers at the edge, by result (ok or error).",
		}, []string{"result"}),
		buildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "writ_revocation_snapshot_build_seconds", Help: "Time to build a revocation snapshot: read the list and the ledger, build the filter, encode.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "writ_revocation_snapshot_bytes", Help: "Size of the current revocation snapshot file.",
		}),
		deltaSignatures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_deltas_signed_total", Help: "Revocation deltas built and signed for verifiers at the edge.",
		}),
		manifestSignatures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_manifests_signed_total", Help: "Revocation manifests signed for verifiers at the edge.",
		}),
	}
	reg.MustRegister(e.builds, e.buildSeconds, e.size, e.deltaSignatures, e.manifestSignatures)
	return e
}

// close keeps builds from starting; the server's loops wait for the one
// under way.
func (e *edge) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// snapshot returns the current snapshot for the list at (epoch, seq),
// starting a build when one is due, and waiting for it when the current one
// is of another epoch or there is none. A snapshot just built is taken
// whatever its epoch: the database's, which the delta is read against.
func (e *edge) snapshot(ctx context.Context, s *Server, epoch string, seq int64) (*edgeSnapshot, error) {
	e.mu.Lock()
	cur := e.cur
	var wait chan struct{}
	if snapshotDue(cur, epoch, seq, s.snap.Len(), time.Now()) {
		wait = e.build(s)
	}
	failure, bound := e.buildErr, e.wait
	e.mu.Unlock()
	switch {
	case cur != nil && cur.epoch == epoch:
		return cur, nil
	case wait == nil && failure != nil:
		return nil, fmt.Errorf("server: no revocation snapshot: %w", failure)
	case wait == nil:
		return nil, errors.New("server: shutting down")
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-wait:
	case <-timer.C:
		return nil, errSnapshotPending
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || e.cur == cur {
		return nil, fmt.Errorf("server: no revocation snapshot: %w", e.buildErr)
	}
	return e.cur, nil
}

// start starts building the first snapshot, so that the first request for
// the manifest finds it built, or under way.
func (e *edge) start(s *Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.build(s)
}

// edgeRetry is how long after a failed build the next may start: a
// failure that repeats (a list too large for a snapshot file) must not
// have every request rebuild.
const edgeRetry = time.Minute

// build starts a snapshot build unless one is under way, and returns the
// channel closed when it ends; nil once the server closes, or within
// edgeRetry of a failed build. e.mu is held.
func (e *edge) build(s *Server) chan struct{} {
	if e.building != nil || e.closed || e.buildErr != nil && time.Since(e.failed) < edgeRetry {
		return e.building
	}
	done := make(chan struct{})
	e.building = done
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		start := time.Now()
		snap, err := buildSnapshot(ctx, s.cfg.Revocations)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.building, e.buildErr = nil, err
		close(done)
		if err != nil {
			e.failed = time.Now()
			e.builds.WithLabelValues("error").Inc()
			s.log.Error("revocation snapshot build failed", "err", err)
			return
		}
		e.builds.WithLabelValues("ok").Inc()
		e.buildSeconds.Observe(time.Since(start).Seconds())
		e.size.Set(float64(len(snap.file.body)))
		e.prev, e.cur = e.cur, snap
		s.log.Info("built a revocation snapshot", "seq", snap.seq, "bytes", len(snap.file.body), "seconds", time.Since(start).Seconds())
	}()
	return done
}

// signed returns the manifest for the list at (epoch, seq), signed within
// the refresh interval.
func (e *edge) signed(ctx context.Context, s *Server, epoch string, seq int64) (*docVersion, error) {
	snap, err := e.snapshot(ctx, s, epoch, seq)
	if err != nil {
		return nil, err
	}
	arrived := time.Now()
	e.work.Lock()
	defer e.work.Unlock()
	// A build or signature serves every reader waiting for it.
	ctx = context.WithoutCancel(ctx)
	e.mu.Lock()
	var delta *edgeFile
	if n := len(e.deltas); n > 0 {
		if d := e.deltas[n-1]; d.epoch == snap.epoch && d.ref.Since == snap.seq && d.ref.Seq >= seq {
			delta = d
		}
	}
	m := e.manifest
	e.mu.Unlock()
	if delta == nil {
		b, err := readDelta(ctx, s.cfg.Revocations, snap)
		if err != nil {
			return nil, err
		}
		if delta, err = signDelta(ctx, s.cfg.Tokens, s.cfg.Issuer, s.cfg.Refresh, snap, b, time.Now()); err != nil {
			return nil, err
		}
		e.deltaSignatures.Inc()
		e.mu.Lock()
		e.deltas = append(e.deltas, delta)
		if len(e.deltas) > edgeDeltas {
			e.deltas = append(e.deltas[:0:0], e.deltas[len(e.deltas)-edgeDeltas:]...)
		}
		e.mu.Unlock()
	}
	// A manifest of these files signed while this reader waited, or
	// within the refresh interval before it came, will do.
	if m != nil && m.snapshot == snap.file.ref && m.delta == delta.ref && arrived.Sub(m.signed) < s.cfg.Refresh {
		return m.doc, nil
	}
	now := time.Now()
	body, err := signManifest(ctx, s.cfg.Tokens, s.cfg.Issuer, s.cfg.Refresh, snap, delta, now)
	if err != nil {
		return nil, err
	}
	e.manifestSignatures.Inc()
	m = &edgeManifest{doc: newDocVersion(body, "application/jwt", ""), snapshot: snap.file.ref, delta: delta.ref, signed: now}
	e.mu.Lock()
	e.manifest = m
	e.mu.Unlock()
	return m.doc, nil
}

// file returns the snapshot or delta named name under prefix, or nil.
func (e *edge) file(prefix, name string) *edgeFile {
	e.mu.Lock()
	defer e.mu.Unlock()
	path := prefix + name
	for _, s := range []*edgeSnapshot{e.cur, e.prev} {
		if s != nil && s.file.ref.Path == path {
			return s.file
		}
	}
	for _, d := range e.deltas {
		if d.ref.Path == path {
			return d
		}
	}
	return nil
}

// revocationManifest serves the signed manifest of the revocation state
// for verifiers at the edge. A read with ?epoch=EPOCH&seq=SEQ&wait=SECONDS,
// from a reader holding the manifest of the list at (EPOCH, SEQ), is held
// as a read of the feed is (awaitChange: the same cap, broadcast and
// shutdown) while the list is still there, and answered when it moves
// on, with a manifest whose delta covers the change (one build and one
// signature for every reader woken by it); if the wait ends first, it is
// answered as it would have been at once, with the manifest signed within
// the refresh interval: 304 to a conditional read of that manifest. Any
// other read is answered at once; a static host ignores the query.
func (s *Server) revocationManifest(w http.ResponseWriter, r *http.Request) {
	held, wait, epoch, seq, ok := s.listRead(w, r, "seq", -1)
	if !ok {
		return
	}
	if wait > 0 && held == seq && r.URL.Query().Get("epoch") == epoch {
		if epoch, seq = s.awaitChange(w, r, epoch, seq, wait); r.Context().Err() != nil {
			return // the client left
		}
	}
	m, err := s.edge.signed(r.Context(), s, epoch, seq)
	if errors.Is(err, errSnapshotPending) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error()+": retry")
		return
	}
	if errors.Is(err, errEpochChanged) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error()+": retry")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", m.etag)
	if etagMatch(r.Header.Get("If-None-Match"), m.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", m.contentType)
	w.Write(m.body)
}

// edgeFileHandler serves the content-addressed files under prefix, named
// by the hex SHA-256 of their bytes and ext, with contentType.
func (s *Server) edgeFileHandler(prefix, ext, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		f := (*edgeFile)(nil)
		if hexName(name, ext) {
			f = s.edge.file(prefix, name)
		}
		if f == nil {
			writeError(w, http.StatusNotFound, "not_found", "no such file")
			return
		}
		tag := `"` + strings.TrimSuffix(name, ext) + `"`
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", tag)
		if etagMatch(r.Header.Get("If-None-Match"), tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", contentType)
		w.Write(f.body)
	}
}

// hexName reports whether name is 64 lowercase hex digits and then ext.
func hexName(name, ext string) bool {
	h, ok := strings.CutSuffix(name, ext)
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
