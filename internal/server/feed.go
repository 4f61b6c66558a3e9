package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier/revoked"
)

// FeedType is the typ of the signed revocation feed document.
const FeedType = feed.Type

// revocationFeed serves the revocation list as a JWS signed by the active
// JWT key: everything in force, or with ?since=SEQ the changes after SEQ.
// The payload is internal/feed's. With ?wait=SECONDS, a read that finds
// nothing after SEQ (and whose If-None-Match, if any, still matches) is
// held until the list changes, and answered then; if the wait ends
// first, it is answered as it would have been at once: 304 to a
// conditional read, the document signed anew to a plain one, so that a
// remote verifier, which counts its staleness from the signature, learns
// that the list is current without trusting an unsigned answer.
func (s *Server) revocationFeed(w http.ResponseWriter, r *http.Request) {
	since, wait, epoch, seq, ok := s.listRead(w, r, "since", 0)
	if !ok {
		return
	}
	if inm := r.Header.Get("If-None-Match"); wait > 0 && since == seq &&
		(inm == "" || etagMatch(inm, feedETag(epoch, since-since%FeedSinceStep, seq))) {
		if epoch, seq = s.awaitChange(w, r, epoch, seq, wait); r.Context().Err() != nil {
			return // the client left
		}
	}
	switch {
	case since > seq:
		writeError(w, http.StatusConflict, "since_ahead", fmt.Sprintf("%v: asked for changes after %d, the list is at %d: read it from 0", revoked.ErrAhead, since, seq))
		return
	case since > 0 && seq-since > FeedMaxChanges:
		// Told, like a reader ahead, to read the whole list, which is built
		// once per (epoch, seq).
		writeError(w, http.StatusConflict, "since_too_old", fmt.Sprintf("more than %d changes after %d: read it from 0", FeedMaxChanges, since))
		return
	}
	// Readers a few changes apart share one document, which starts at
	// or before what they asked: entries they hold already change
	// nothing.
	since -= since % FeedSinceStep
	if tag := feedETag(epoch, since, seq); etagMatch(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	doc, tag, err := s.feed.get(r.Context(), s, since, epoch, seq)
	if errors.Is(err, revoked.ErrAhead) {
		writeError(w, http.StatusConflict, "since_ahead", err.Error()+": read it from 0")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwt")
	w.Header().Set("ETag", tag)
	w.Write(doc)
}

func feedETag(epoch string, since, seq int64) string {
	return fmt.Sprintf(`"rev-%s-%d-%d"`, epoch, since, seq)
}

// FeedMaxChanges bounds the changes an incremental document may cover: a
// reader further behind is answered 409 and reads the whole list, which is
// built once per (epoch, seq). Without it, readers asking for many since
// values far behind would each have a document nearly the size of the
// list built, and the one full document evicted.
const FeedMaxChanges = 4096

// FeedSinceStep: an incremental document starts at a multiple of it, the
// one at or before the since asked for, so that however many since values
// readers send, at most FeedMaxChanges/FeedSinceStep+1 documents are built
// for each state of the list.
const FeedSinceStep = 256

// Bounds of feedCache: the documents kept besides the one just built, room
// for every incremental document of one state of the list and the whole.
const (
	feedCacheDocs  = FeedMaxChanges/FeedSinceStep + 8
	feedCacheBytes = 256 << 20
)

// feedCache holds the feed's documents, one per since, so that each is
// built once per (epoch, since, seq) however many read it: readers of a
// document being built wait for that build. Its entries are kept, and the
// document is signed again with a fresh iat once it is older than the
// server's refresh interval, since remote verifiers count their staleness
// from iat. One whole document (since 0) and one incremental document
// (at most FeedMaxChanges entries) are built or signed at a time, so that
// readers asking for many since values cannot multiply the memory, and an
// incremental read never waits for a whole list to be built.
type feedCache struct {
	mu   sync.Mutex
	docs map[int64]*feedDoc // by since
	// held while building or signing the whole list, or a change set
	whole, changes sync.Mutex

	builds, signatures prometheus.Counter
}

func newFeedCache(reg prometheus.Registerer) *feedCache {
	c := &feedCache{
		docs: map[int64]*feedDoc{},
		builds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_feed_builds_total", Help: "Revocation feed documents built from the list, one per (epoch, since, seq) read.",
		}),
		signatures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_feed_signatures_total", Help: "Revocation feed documents signed: each build, and again with a fresh iat once older than the refresh interval.",
		}),
	}
	reg.MustRegister(c.builds, c.signatures)
	return c
}

// feedDoc is the feed after one since.
type feedDoc struct {
	since int64
	used  time.Time // guarded by feedCache.mu, as are size and gone
	size  int       // bytes of body and signed
	gone  bool      // evicted

	mu       sync.Mutex // held by its builder or signer; readers wait on it
	epoch    string
	seq      int64
	body     []byte    // the payload after its head: the entries
	signed   []byte    // the signed document
	signedAt time.Time // when signed was done
}

// get returns the document after since, built for (epoch, seq) or later,
// and its ETag.
func (c *feedCache) get(ctx context.Context, s *Server, since int64, epoch string, seq int64) ([]byte, string, error) {
	arrived := time.Now()
	d := c.doc(since)
	d.mu.Lock()
	defer d.mu.Unlock()
	// A build or signature serves every reader waiting for it: it goes on
	// if the reader who started it leaves.
	ctx = context.WithoutCancel(ctx)
	work := &c.changes
	if since == 0 {
		work = &c.whole
	}
	if d.body == nil || d.epoch != epoch || d.seq < seq {
		work.Lock()
		err := c.build(ctx, s, d)
		work.Unlock()
		if err != nil {
			c.forget(d)
			return nil, "", err
		}
	}
	// A document signed while this reader waited, or within the refresh
	// interval before it came, will do.
	if d.signed == nil || arrived.Sub(d.signedAt) >= s.cfg.Refresh {
		work.Lock()
		err := c.sign(ctx, s, d)
		work.Unlock()
		if err != nil {
			return nil, "", err
		}
	}
	c.kept(d, len(d.body)+len(d.signed))
	return d.signed, feedETag(d.epoch, since, d.seq), nil
}

// doc returns the entry for since, made if need be.
func (c *feedCache) doc(since int64) *feedDoc {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs[since]
	if d == nil {
		d = &feedDoc{since: since}
		c.docs[since] = d
	}
	d.used = time.Now()
	return d
}

// forget drops d, which holds nothing usable.
func (c *feedCache) forget(d *feedDoc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !d.gone {
		delete(c.docs, d.since)
		d.gone = true
	}
}

// kept records d's size and evicts the least recently used other
// documents beyond the cache's bounds.
func (c *feedCache) kept(d *feedDoc, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.gone {
		return
	}
	d.size = size
	for {
		var total int
		var oldest *feedDoc
		for _, o := range c.docs {
			total += o.size
			if o != d && (oldest == nil || o.used.Before(oldest.used)) {
				oldest = o
			}
		}
		if oldest == nil || len(c.docs) <= feedCacheDocs+1 && total <= feedCacheBytes+d.size {
			return
		}
		delete(c.docs, oldest.since)
		oldest.gone = true
	}
}

// build reads the changes after d.since and encodes their entries.
func (c *feedCache) build(ctx context.Context, s *Server, d *feedDoc) error {
	b, err := s.cfg.Revocations.Changes(ctx, d.since)
	if err != nil {
		return err
	}
	d.epoch, d.seq, d.body, d.signed = b.Epoch, b.Seq, feed.AppendEntries(nil, b), nil
	c.builds.Inc()
	return nil
}

// sign signs the document anew, with the current time as its iat.
func (c *feedCache) sign(ctx context.Context, s *Server, d *feedDoc) error {
	now := time.Now()
	head := feed.Head{
		Issuer: s.cfg.Issuer, IssuedAt: now.Unix(), Epoch: d.epoch, Since: d.since, Seq: d.seq,
		NextUpdate: now.Add(s.cfg.Refresh).Unix(),
	}
	doc, err := signFeed(ctx, s.cfg.Tokens, &head, d.body)
	if err != nil {
		return err
	}
	d.signed, d.signedAt = doc, time.Now()
	c.signatures.Inc()
	return nil
}

// signFeed signs, with the active JWT key of tokens, the feed document of
// the head h and the entries body (feed.AppendEntries').
func signFeed(ctx context.Context, tokens *issuer.Issuer, h *feed.Head, body []byte) ([]byte, error) {
	payload := feed.AppendHead(make([]byte, 0, 256+len(h.Issuer)+len(h.Epoch)+len(body)), h)
	doc, err := tokens.SignDocument(ctx, FeedType, append(payload, body...))
	if err != nil {
		return nil, err
	}
	return []byte(doc), nil
}
