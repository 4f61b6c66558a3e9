package revoked

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
)

// WaitMargin is what a Snapshot's MaxStaleness must exceed a waiting
// feed's Wait by: the age of the data a held read brings at the end of its
// wait, signed up to the server's refresh interval (writ serve's default,
// 1 s) before, in whole seconds. Allow more for a server with a longer
// --refresh.
const WaitMargin = 3 * time.Second

// SnapshotConfig configures a Snapshot.
type SnapshotConfig struct {
	// Feed supplies the entries. Required.
	Feed Feed
	// Refresh is the interval of background refreshes; zero means none
	// (call Refresh yourself). With a Feed that holds reads (a
	// WaitingFeed whose Wait is set), the background loop reads back to
	// back instead, each read held until the list changes or the wait
	// ends; Refresh (or the feed's Wait, if shorter) is then the least
	// time between the starts of two reads when the first brought
	// nothing new (a server that holds no more reads is polled at this
	// pace), and Refresh the first pause after a failed read, doubled at
	// each failure in a row.
	Refresh time.Duration
	// MaxStaleness, when set, makes CheckRevocation fail closed with
	// ErrStale once the snapshot's data is older than this (see
	// Staleness). With a Feed that holds reads, it must be at least the
	// feed's Wait and WaitMargin, since a read that brings nothing new
	// ends only then, with data the server signed up to its own refresh
	// interval before, in whole seconds.
	MaxStaleness time.Duration
	// OnError, when set, receives background refresh errors.
	OnError func(error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Snapshot is an in-memory copy of the revocation list that a verifier
// consults on every token. It is safe for concurrent use.
type Snapshot struct {
	feed     Feed
	maxStale time.Duration
	onError  func(error)
	now      func() time.Time

	refreshMu sync.Mutex // one refresh at a time
	// changed is closed, and replaced, when seq or epoch changes; it is
	// guarded by mu.
	changed chan struct{}

	mu        sync.RWMutex
	seq       int64
	epoch     string
	refreshed time.Time // when the data was current (Batch.AsOf)
	pruned    time.Time
	tokens    jtiSet
	delayed   map[TokenID]delayed   // token entries still in their grace period
	subjects  map[string]subjectCut // subject → cut-off
	keys      map[string]int64      // kid → expiry (unix s)
	// filter holds the revoked tokens of the universe of the current
	// epoch's latest snapshot file; older holds the latest of each epoch
	// before, kept for the tokens that the new epoch's list may not know
	// until every token they hold revoked has expired.
	filter universeFilter
	older  []universeFilter

	stop      context.CancelFunc // ends the background refreshes, and one in flight
	done      chan struct{}
	closeOnce sync.Once
}

type delayed struct{ effective, exp int64 }

// universeFilter is a snapshot's filter: it answers for the tokens issued
// before universe (unix s).
type universeFilter struct {
	f        *cascade.Filter
	universe int64
	epoch    string
	seq      int64 // the Batch.Seq it came with
	expires  int64 // Batch.FilterExpires
}

// revoked reports whether the filter holds the token id issued at iat.
func (u *universeFilter) revoked(id *TokenID, iat int64) bool {
	return u.f != nil && iat < u.universe && u.f.Contains((*cascade.ID)(id))
}

type subjectCut struct {
	before int64 // tokens with iat below this are revoked
	exp    int64
}

var _ verifier.RevocationChecker = (*Snapshot)(nil)

// NewSnapshot loads the whole list from cfg.Feed and, if cfg.Refresh is set,
// keeps it fresh in the background until Close.
func NewSnapshot(ctx context.Context, cfg SnapshotConfig) (*Snapshot, error) {
	if cfg.Feed == nil {
		return nil, errors.New("revoked: SnapshotConfig.Feed is required")
	}
	if cfg.Refresh < 0 || cfg.MaxStaleness < 0 {
		return nil, errors.New("revoked: negative refresh interval or staleness bound")
	}
	if w, ok := cfg.Feed.(WaitingFeed); ok && cfg.Refresh > 0 && cfg.MaxStaleness > 0 && cfg.MaxStaleness < w.Wait()+WaitMargin {
		return nil, fmt.Errorf("revoked: MaxStaleness %v is not the feed's wait %v and %v more: the snapshot would fail closed while it waits for a change", cfg.MaxStaleness, w.Wait(), WaitMargin)
	}
	s := &Snapshot{
		feed:     cfg.Feed,
		maxStale: cfg.MaxStaleness,
		onError:  cfg.OnError,
		now:      cfg.Now,
		delayed:  map[TokenID]delayed{},
		subjects: map[string]subjectCut{},
		keys:     map[string]int64{},
		changed:  make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	if cfg.Refresh > 0 {
		var loopCtx context.Context
		loopCtx, s.stop = context.WithCancel(context.Background())
		s.done = make(chan struct{})
		go s.loop(loopCtx, cfg.Refresh)
	}
	return s, nil
}

func (s *Snapshot) loop(ctx context.Context, every time.Duration) {
	defer close(s.done)
	if w, ok := s.feed.(WaitingFeed); ok && w.Wait() > 0 {
		s.follow(ctx, w, every)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, every)
			err := s.Refresh(rctx)
			cancel()
			if err != nil && ctx.Err() == nil && s.onError != nil {
				s.onError(err)
			}
		}
	}
}

// follow reads w back to back, each read held until the list moves on or
// w's wait ends, so that a change is applied as soon as the feed has it.
// A read that brings nothing new is followed by the next one every (or
// w's wait, if shorter) after it began: at once after a read held for the
// whole wait, and as polling would after one answered at once (a feed
// that holds no more reads); a failed held read by a plain one at once
// (Refresh), and if that fails too by a pause of every, doubled at each
// failure in a row up to a ceiling, and jittered, so that a feed that is
// down is not hammered by every verifier at once.
func (s *Snapshot) follow(ctx context.Context, w WaitingFeed, every time.Duration) {
	// However long the pauses, a verifier still tries several times
	// within its staleness bound, and comes back within a minute of a
	// feed's return.
	ceiling := max(every, time.Minute)
	if s.maxStale > 0 {
		ceiling = max(every, min(ceiling, s.maxStale/4))
	}
	pace := min(every, w.Wait())
	pause := time.NewTimer(0)
	defer pause.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		began := time.Now()
		since, epoch := s.Seq(), s.Epoch()
		// A read may be held for the wait, and then take as long as a
		// read that is not held.
		rctx, cancel := context.WithTimeout(ctx, w.Wait()+max(every, 30*time.Second))
		b, err := w.WaitChanges(rctx, since)
		cancel()
		if ctx.Err() != nil {
			return
		}
		// The read was made without refreshMu, so that Refresh is not
		// held up by a wait: it is applied if the snapshot is still
		// where the read began, and read again otherwise.
		err = s.refresh(ctx, func(ctx context.Context, from int64) (*Batch, error) {
			if from == since {
				return b, err
			}
			return s.feed.Changes(ctx, from)
		})
		if err != nil && ctx.Err() == nil && s.Refresh(ctx) == nil {
			// A held read that failed (a proxy that cuts off requests
			// unanswered for as long as the wait, say) is followed by a
			// plain one: the feed is polled rather than given up on.
			if s.onError != nil {
				s.onError(err)
			}
			err = nil
		}
		next := time.Duration(0)
		switch {
		case err != nil:
			failures++
			if s.onError != nil {
				s.onError(err)
			}
			d := backoff(every, ceiling, failures)
			next = d/2 + rand.N(d/2+1)
		case s.Seq() == since && s.Epoch() == epoch:
			failures = 0
			next = pace - time.Since(began)
		default:
			failures = 0
		}
		pause.Reset(max(next, 0))
	}
}

// backoff is the pause after failures reads failed in a row, before its
// jitter: every, doubled at each failure after the first, up to ceiling.
func backoff(every, ceiling time.Duration, failures int) time.Duration {
	d := every
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Close stops background refreshes, cancelling one in flight, and waits
// for the refresh goroutine to end. The snapshot still answers afterwards,
// from its last state. Close may be called more than once.
func (s *Snapshot) Close() {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
	})
}

// Refresh fetches the changes since the snapshot's sequence number and
// applies them. If the list is another than the one followed so far (a new
// epoch, or a sequence behind the snapshot's: a database restored from a
// backup), it reads the whole list again and adds it to what it holds,
// since every revocation it held was acknowledged; a batch with a filter
// (a snapshot file) is the whole list already. On error the snapshot
// keeps its state and its age.
func (s *Snapshot) Refresh(ctx context.Context) error {
	return s.refresh(ctx, s.feed.Changes)
}

// refresh is Refresh, reading the feed with read.
func (s *Snapshot) refresh(ctx context.Context, read func(context.Context, int64) (*Batch, error)) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.RLock()
	since, epoch := s.seq, s.epoch
	s.mu.RUnlock()
	b, err := read(ctx, since)
	// A batch with a filter is the whole list already: a snapshot file.
	reread := errors.Is(err, ErrAhead) || err == nil && since > 0 && b.Epoch != epoch && b.Filter == nil
	if reread {
		b, err = read(ctx, 0)
	}
	if err != nil {
		return fmt.Errorf("revoked: refresh: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(b, now, reread)
	if b.Seq > s.seq || reread || b.Epoch != s.epoch {
		s.seq = b.Seq
	}
	s.epoch = b.Epoch
	if s.seq != since || s.epoch != epoch {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	// A replayed feed brings old data: the snapshot is as fresh as its
	// data, not as its last fetch.
	asOf := now
	if !b.AsOf.IsZero() && b.AsOf.Before(now) {
		asOf = b.AsOf
	}
	if asOf.After(s.refreshed) {
		s.refreshed = asOf
	}
	for id, d := range s.delayed {
		if d.effective <= now.Unix() {
			delete(s.delayed, id)
			s.tokens.add(id, feed.Time32(d.exp))
		}
	}
	// Pruning scans the whole set: once a minute is plenty.
	if now.Sub(s.pruned) > time.Minute {
		s.pruneLocked(now)
		s.pruned = now
	}
	return nil
}

func (s *Snapshot) apply(b *Batch, now time.Time, reread bool) {
	if b.Filter != nil {
		s.setFilter(b, reread)
	}
	s.tokens.reserve(len(b.Tokens))
	for _, t := range b.Tokens {
		if t.EffectiveAt > now.Unix() && !s.tokens.contains(t.ID) {
			// In a grace period. Of two revocations of one token, the sooner wins.
			if d, ok := s.delayed[t.ID]; !ok || t.EffectiveAt < d.effective {
				s.delayed[t.ID] = delayed{effective: t.EffectiveAt, exp: t.ExpiresAt}
			}
			continue
		}
		delete(s.delayed, t.ID)
		s.tokens.add(t.ID, feed.Time32(t.ExpiresAt))
	}
	for _, c := range b.Subjects {
		old := s.subjects[c.Subject]
		s.subjects[c.Subject] = subjectCut{before: max(old.before, c.IssuedBefore), exp: max(old.exp, c.ExpiresAt)}
	}
	for _, k := range b.Keys {
		s.keys[k.KID] = max(s.keys[k.KID], k.ExpiresAt)
	}
}

// setFilter takes b's filter: it replaces the one of b's epoch, and the
// first filter of a new epoch keeps the previous epoch's beside it, whose
// list the new one may not hold entirely (a database restored from a
// backup misses the revocations made after it), until every token it
// holds revoked has expired (pruneLocked).
//
// Within an epoch, a filter that came with an older sequence number than
// the one held (an old copy of a snapshot file) is ignored, but for one
// read again because the list is behind the snapshot (reread: a list
// restored by other means than a backup, which keeps its epoch), which
// keeps the one held beside it as a new epoch's does. One of a later
// sequence replaces it whatever its universe: each file holds its list's
// whole state, and a file built on a server whose clock runs behind has an
// earlier universe, not less of the list.
func (s *Snapshot) setFilter(b *Batch, reread bool) {
	cur := s.filter
	switch {
	case cur.f == nil:
	case cur.epoch != b.Epoch || reread && b.Seq < cur.seq:
		s.older = append(s.older, cur)
	case b.Seq < cur.seq:
		return
	}
	s.filter = universeFilter{f: b.Filter, universe: b.Universe, epoch: b.Epoch, seq: b.Seq, expires: b.FilterExpires}
}

// pruneLocked drops entries whose tokens have all expired, by more than
// any verifier's leeway.
func (s *Snapshot) pruneLocked(now time.Time) {
	cutoff := now.Add(-verifier.MaxLeeway).Unix()
	s.tokens.prune(feed.Time32(cutoff))
	for k, c := range s.subjects {
		if c.exp < cutoff {
			delete(s.subjects, k)
		}
	}
	for k, exp := range s.keys {
		if exp < cutoff {
			delete(s.keys, k)
		}
	}
	s.older = slices.DeleteFunc(s.older, func(u universeFilter) bool { return u.expires < cutoff })
}

// CheckRevocation implements verifier.RevocationChecker: an error wrapping
// verifier.ErrRevoked when the token's jti, its subject (for tokens issued
// before the cut-off) or its key is revoked, or when the filter of a
// snapshot file holds its jti and it was issued before the file's universe
// time; ErrStale when the snapshot must fail closed; nil otherwise.
func (s *Snapshot) CheckRevocation(_ context.Context, c *verifier.Claims) error {
	id := TokenIDOf(c.ID)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.maxStale > 0 {
		if age := s.now().Sub(s.refreshed); age > s.maxStale {
			return fmt.Errorf("%w: last refreshed %s ago, bound %s", ErrStale, age.Round(time.Second), s.maxStale)
		}
	}
	if s.tokens.contains(id) {
		return fmt.Errorf("%w: token %q", verifier.ErrRevoked, c.ID)
	}
	if len(s.delayed) > 0 {
		if d, ok := s.delayed[id]; ok && s.now().Unix() >= d.effective {
			return fmt.Errorf("%w: token %q", verifier.ErrRevoked, c.ID)
		}
	}
	if len(s.subjects) > 0 {
		if cut, ok := s.subjects[c.Subject]; ok && c.IssuedAt.Unix() < cut.before {
			return fmt.Errorf("%w: every token of %q issued before %s", verifier.ErrRevoked, c.Subject, time.Unix(cut.before, 0).UTC().Format(time.RFC3339))
		}
	}
	if len(s.keys) > 0 {
		if _, ok := s.keys[c.KeyID]; ok {
			return fmt.Errorf("%w: signing key %q", verifier.ErrRevoked, c.KeyID)
		}
	}
	// A snapshot file's filter answers for the tokens of its universe
	// only (issued before it); a token without iat is in none.
	if s.filter.f != nil && !c.IssuedAt.IsZero() {
		iat := c.IssuedAt.Unix()
		if s.filter.revoked(&id, iat) {
			return fmt.Errorf("%w: token %q", verifier.ErrRevoked, c.ID)
		}
		for i := range s.older {
			if s.older[i].revoked(&id, iat) {
				return fmt.Errorf("%w: token %q", verifier.ErrRevoked, c.ID)
			}
		}
	}
	return nil
}

// Changed returns a channel that is closed once the snapshot's sequence
// number or epoch moves on from what they are when it is called: one
// broadcast to any number of waiters (writ serve holds long-polls of its
// feed on it). Read Seq and Epoch after taking the channel, so that no
// change falls between them.
func (s *Snapshot) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Seq returns the sequence number the snapshot has reached.
func (s *Snapshot) Seq() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// Epoch returns the epoch of the list the snapshot follows (Batch.Epoch).
func (s *Snapshot) Epoch() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.epoch
}

// Staleness returns the age of the snapshot's data: the time since the
// last successful refresh, or, for a feed that says when its data was
// current (Batch.AsOf: a server's signing time, in whole seconds), since
// then; a verifier whose clock runs ahead of the server's counts the
// difference too.
func (s *Snapshot) Staleness() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now().Sub(s.refreshed)
}

// Len returns the number of revoked tokens, subjects and keys held as
// entries; a snapshot file's filter (see Universe) holds its tokens besides.
func (s *Snapshot) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens.n + len(s.delayed) + len(s.subjects) + len(s.keys)
}

// Universe returns the universe time of the filter held, the one of the
// last snapshot file read (Batch.Filter): the filter answers for the tokens
// issued before it. It is the zero time when the snapshot holds no filter.
func (s *Snapshot) Universe() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.filter.f == nil {
		return time.Time{}
	}
	return time.Unix(s.filter.universe, 0)
}
