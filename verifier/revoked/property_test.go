package revoked_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// propToken is a token the issuer recorded.
type propToken struct {
	id  revoked.TokenID
	iat int64
	sub uint16 // subject propSubjects[sub]
	kid uint8  // key propKIDs[kid]
}

var (
	propSubjects = func() (s []string) {
		for i := range 1000 {
			s = append(s, fmt.Sprintf("sub-%d", i))
		}
		return s
	}()
	propKIDs = []string{"kid-0", "kid-1", "kid-2", "kid-3", "kid-4", "kid-5", "kid-6", "kid-7"}
)

const propTTL = 90 * 24 * 3600 // every token's lifetime, in seconds

// propLedger is an issuer's ledger and revocation list, and the snapshot
// files and deltas it serves, built as the edge contract says: a file's
// filter holds R, the jtis revoked in force when it is built (foreign ones
// too), against S, the other recorded tokens issued before its universe;
// its exact entries are the revoked tokens outside the universe, those in
// a grace period, every subject cut-off and every key.
type propLedger struct {
	epoch     string
	tokens    []propToken
	revokedAt []int64 // per token: its jti's revocation's effective time, 0 for none
	foreign   []revoked.TokenID
	subjects  map[string]int64 // subject → cut-off
	keys      map[string]bool
	log       []propChange // the change of sequence number i+1 at i
	snap      []byte       // the snapshot file
	snapSeq   int64
	built     int64
}

type propChange struct {
	token   *revoked.RevokedToken
	subject *revoked.SubjectCutoff
	key     *revoked.RevokedKey
}

func (l *propLedger) seq() int64 { return int64(len(l.log)) }

func (l *propLedger) revokeToken(i int, effective int64) {
	if l.revokedAt[i] == 0 || effective < l.revokedAt[i] {
		l.revokedAt[i] = effective
	}
	t := &l.tokens[i]
	l.log = append(l.log, propChange{token: &revoked.RevokedToken{ID: t.id, EffectiveAt: effective, ExpiresAt: t.iat + propTTL}})
}

func (l *propLedger) revokeSubject(sub string, before, exp int64) {
	l.subjects[sub] = max(l.subjects[sub], before)
	l.log = append(l.log, propChange{subject: &revoked.SubjectCutoff{Subject: sub, IssuedBefore: before, ExpiresAt: exp}})
}

func (l *propLedger) revokeKey(kid string, exp int64) {
	l.keys[kid] = true
	l.log = append(l.log, propChange{key: &revoked.RevokedKey{KID: kid, ExpiresAt: exp}})
}

// build takes a snapshot file of the list at now, of universe now − 60 s.
func (l *propLedger) build(t testing.TB, now int64) {
	t.Helper()
	universe := now - 60
	b := &feed.Snapshot{Epoch: l.epoch, Seq: l.seq(), Built: now, Universe: universe}
	r := make([]cascade.ID, 0, len(l.foreign)+len(l.tokens)/2)
	s := make([]cascade.ID, 0, len(l.tokens))
	for _, id := range l.foreign {
		r = append(r, id)
	}
	// Foreign ids expire with the list's longest-lived tokens.
	b.Expires = now + propTTL
	for i := range l.tokens {
		tok, at := &l.tokens[i], l.revokedAt[i]
		inForce := at != 0 && at <= now
		switch {
		case tok.iat >= universe:
			if at != 0 {
				b.Tokens = append(b.Tokens, revoked.RevokedToken{ID: tok.id, EffectiveAt: at, ExpiresAt: tok.iat + propTTL})
			}
		case inForce:
			r = append(r, tok.id)
			b.Expires = max(b.Expires, tok.iat+propTTL)
		default:
			s = append(s, tok.id)
			if at != 0 { // in its grace period
				b.Tokens = append(b.Tokens, revoked.RevokedToken{ID: tok.id, EffectiveAt: at, ExpiresAt: tok.iat + propTTL})
			}
		}
	}
	for sub, before := range l.subjects {
		b.Subjects = append(b.Subjects, revoked.SubjectCutoff{Subject: sub, IssuedBefore: before, ExpiresAt: now + propTTL})
	}
	for kid := range l.keys {
		b.Keys = append(b.Keys, revoked.RevokedKey{KID: kid, ExpiresAt: now + propTTL})
	}
	f, err := cascade.Build(r, s)
	if err != nil {
		t.Fatal(err)
	}
	b.Filter = f
	if l.snap, err = feed.AppendSnapshot(nil, b); err != nil {
		t.Fatal(err)
	}
	l.snapSeq, l.built = l.seq(), now
}

// Changes serves the list as a reader of snapshot files and deltas does,
// through their wire formats: the snapshot file and the delta after it for
// a reader at 0 or behind the file, the delta after since otherwise.
func (l *propLedger) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	if since > l.seq() {
		return nil, revoked.ErrAhead
	}
	b := &revoked.Batch{}
	from := since
	if since < l.snapSeq || since == 0 {
		snap, err := feed.DecodeSnapshot(l.snap)
		if err != nil {
			return nil, err
		}
		from = snap.Seq
		b.Filter, b.Universe, b.FilterExpires, b.Tokens, b.Subjects, b.Keys = snap.Filter, snap.Universe, snap.Expires, snap.Tokens, snap.Subjects, snap.Keys
	}
	var delta revoked.Batch
	for _, c := range l.log[from:] {
		switch {
		case c.token != nil:
			delta.Tokens = append(delta.Tokens, *c.token)
		case c.subject != nil:
			delta.Subjects = append(delta.Subjects, *c.subject)
		case c.key != nil:
			delta.Keys = append(delta.Keys, *c.key)
		}
	}
	h := feed.Head{Issuer: testIssuer, IssuedAt: l.built, Epoch: l.epoch, Since: from, Seq: l.seq()}
	_, d, err := feed.Decode(feed.Append(nil, &h, &delta))
	if err != nil {
		return nil, err
	}
	b.Seq, b.Epoch, b.AsOf = d.Seq, d.Epoch, d.AsOf
	b.Tokens = append(b.Tokens, d.Tokens...)
	b.Subjects = append(b.Subjects, d.Subjects...)
	b.Keys = append(b.Keys, d.Keys...)
	return b, nil
}

// TestFilterProperty proves a snapshot's zero-error claims on random
// lists: every revoked token reads revoked (no false negative, ever) and
// every token the issuer recorded that is not revoked reads valid (no false
// positive), after a snapshot file, deltas of every kind (revocations of
// recorded tokens and of tokens issued after the universe, subject and key
// cut-offs, grace periods), a newer file, a new epoch from a list that
// lost revocations, and re-reads, with the files and deltas through their
// wire formats.
//
// Sizes: n revoked and n other recorded tokens (plus some 10% more issued
// and revoked on the way, and 10,000 foreign revoked jtis): n = 250,000
// (half a million ids) in a plain go test, 20,000 with -short, 5,000 with
// -race, and the number WRIT_PROPERTY_REVOKED says when set (1000000 for
// two million ids: about half a minute on a busy machine).
func TestFilterProperty(t *testing.T) {
	n := 250_000
	switch {
	case raceEnabled: // ten times slower
		n = 5_000
	case testing.Short():
		n = 20_000
	}
	if v := os.Getenv("WRIT_PROPERTY_REVOKED"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("WRIT_PROPERTY_REVOKED=%q: want a number of at least 1000", v)
		}
	}
	seed := rand.Uint64()
	t.Logf("%d revoked and %d recorded tokens, seed %d", n, n, seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	ctx := context.Background()
	c := newClock()
	now := func() int64 { return c.now().Unix() }

	l := &propLedger{epoch: "e1", subjects: map[string]int64{}, keys: map[string]bool{}}
	issue := func(from, to int64) int {
		var tok propToken
		for i := range tok.id {
			tok.id[i] = byte(rnd.Uint32())
		}
		tok.iat = from + rnd.Int64N(to-from)
		tok.sub, tok.kid = uint16(rnd.IntN(len(propSubjects))), uint8(rnd.IntN(len(propKIDs)))
		l.tokens = append(l.tokens, tok)
		l.revokedAt = append(l.revokedAt, 0)
		return len(l.tokens) - 1
	}
	// 2n tokens issued over the last 30 days, n of them revoked.
	for range 2 * n {
		issue(now()-30*24*3600, now()-120)
	}
	for i := range n {
		l.revokeToken(i, now()-rnd.Int64N(3600))
	}
	for i := range 10_000 {
		l.foreign = append(l.foreign, revoked.TokenIDOf(fmt.Sprintf("foreign-%d", i)))
	}
	l.build(t, now())

	// model: every revocation acknowledged, whatever later epochs lost.
	ackAt := make([]int64, 0, len(l.tokens))
	ackSubjects, ackKeys := map[string]int64{}, map[string]bool{}
	acknowledge := func() {
		for i, at := range l.revokedAt {
			if i == len(ackAt) {
				ackAt = append(ackAt, 0)
			}
			if at != 0 && (ackAt[i] == 0 || at < ackAt[i]) {
				ackAt[i] = at
			}
		}
		for sub, before := range l.subjects {
			ackSubjects[sub] = max(ackSubjects[sub], before)
		}
		for kid := range l.keys {
			ackKeys[kid] = true
		}
	}

	s := snapshot(t, revoked.SnapshotConfig{Feed: l, Now: c.now})
	check := func(step string) {
		t.Helper()
		acknowledge()
		var falseNeg, falsePos, revokedN int
		claims := verifier.Claims{}
		for i := range l.tokens {
			tok := &l.tokens[i]
			sub := propSubjects[tok.sub]
			want := ackAt[i] != 0 && ackAt[i] <= now() || tok.iat < ackSubjects[sub] || ackKeys[propKIDs[tok.kid]]
			claims = verifier.Claims{ID: b64.Encode(tok.id[:]), Subject: sub, KeyID: propKIDs[tok.kid], IssuedAt: time.Unix(tok.iat, 0)}
			err := s.CheckRevocation(ctx, &claims)
			got := errors.Is(err, verifier.ErrRevoked)
			if err != nil && !got {
				t.Fatalf("%s: token %d: %v", step, i, err)
			}
			if want {
				revokedN++
			}
			if want && !got {
				if falseNeg++; falseNeg <= 5 {
					t.Errorf("%s: false negative: token %d (iat %d, revoked at %d, now %d)", step, i, tok.iat, ackAt[i], now())
				}
			}
			if !want && got {
				if falsePos++; falsePos <= 5 {
					t.Errorf("%s: false positive: token %d (iat %d): %v", step, i, tok.iat, err)
				}
			}
		}
		for i := range 10_000 {
			// A foreign jti of the list, whatever its iat before the universe.
			claims = verifier.Claims{ID: fmt.Sprintf("foreign-%d", i), Subject: "x", KeyID: "x", IssuedAt: time.Unix(now()-24*3600, 0)}
			if err := s.CheckRevocation(ctx, &claims); !errors.Is(err, verifier.ErrRevoked) {
				if falseNeg++; falseNeg <= 5 {
					t.Errorf("%s: false negative: foreign jti %d: %v", step, i, err)
				}
			}
		}
		if falseNeg > 0 || falsePos > 0 {
			t.Fatalf("%s: %d false negatives, %d false positives among %d tokens (%d revoked)", step, falseNeg, falsePos, len(l.tokens), revokedN)
		}
		t.Logf("%s: %d tokens, %d revoked, seq %d of %s", step, len(l.tokens), revokedN, s.Seq(), s.Epoch())
	}
	refresh := func(step string) {
		t.Helper()
		if err := s.Refresh(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if s.Seq() != l.seq() || s.Epoch() != l.epoch {
			t.Fatalf("%s: snapshot at %d of %s, list at %d of %s", step, s.Seq(), s.Epoch(), l.seq(), l.epoch)
		}
		check(step)
	}
	// unrevoked returns a random recorded token without a jti revocation
	// issued in [from, to).
	unrevoked := func(from, to int64) int {
		for {
			i := rnd.IntN(len(l.tokens))
			if l.revokedAt[i] == 0 && l.tokens[i].iat >= from && l.tokens[i].iat < to {
				return i
			}
		}
	}
	// deltas: tokens issued after the universe, some revoked; revocations
	// of recorded tokens, some in a grace period; subject cut-offs.
	deltas := func() {
		universe := l.built - 60
		first := len(l.tokens)
		for range n / 50 {
			issue(universe, now()+1)
		}
		for range n / 100 {
			l.revokeToken(first+rnd.IntN(len(l.tokens)-first), now())
			l.revokeToken(unrevoked(0, universe), now())
		}
		for range n/1000 + 1 {
			l.revokeToken(unrevoked(0, universe), now()+3600)
			l.revokeToken(unrevoked(universe, now()+1), now()+3600)
		}
		for range 3 {
			l.revokeSubject(propSubjects[rnd.IntN(len(propSubjects))], now()-rnd.Int64N(20*24*3600), now()+propTTL)
		}
	}

	check("a snapshot file")
	deltas()
	refresh("deltas")
	refresh("a re-read")
	c.advance(2 * time.Hour) // the grace periods end
	refresh("grace periods ended")
	l.revokeKey("kid-7", now()+propTTL)
	refresh("a key")

	c.advance(time.Minute)
	deltas()
	l.build(t, now())
	deltas()
	refresh("a newer snapshot file and deltas")

	// A new epoch: the list restored from a backup that lost a tenth of
	// its jti revocations and its key revocation. The tokens stay
	// recorded, outside R.
	c.advance(time.Minute)
	l.epoch, l.log = "e2", l.log[:len(l.log)/2]
	for i, at := range l.revokedAt {
		if at != 0 && rnd.IntN(10) == 0 {
			l.revokedAt[i] = 0
		}
	}
	l.keys = map[string]bool{}
	l.build(t, now())
	refresh("a new epoch that lost revocations")
	c.advance(time.Minute)
	deltas()
	refresh("deltas in the new epoch")
	c.advance(2 * time.Hour)
	deltas()
	l.build(t, now())
	refresh("a newer file in the new epoch")
}
