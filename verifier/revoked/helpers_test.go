package revoked_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// clock is a settable test clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// change is one entry of memFeed, at its sequence number.
type change struct {
	seq     int64
	token   *revoked.RevokedToken
	subject *revoked.SubjectCutoff
	key     *revoked.RevokedKey
}

// memFeed is a revocation list in memory: a Feed whose changes a test
// makes. It is safe for concurrent use.
type memFeed struct {
	mu      sync.Mutex
	epoch   string
	changes []change
	fail    bool          // Changes fails
	asOf    time.Time     // set as each batch's AsOf
	reads   []int64       // the since of each call
	grew    chan struct{} // closed, and replaced, at each change and set
}

func newMemFeed() *memFeed { return &memFeed{epoch: "e1", grew: make(chan struct{})} }

func (f *memFeed) add(c change) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.seq = int64(len(f.changes)) + 1
	f.changes = append(f.changes, c)
	close(f.grew)
	f.grew = make(chan struct{})
	return c.seq
}

func (f *memFeed) revokeToken(jti string, effective, exp time.Time) int64 {
	return f.add(change{token: &revoked.RevokedToken{ID: revoked.TokenIDOf(jti), EffectiveAt: effective.Unix(), ExpiresAt: exp.Unix()}})
}

func (f *memFeed) revokeSubject(subject string, before, exp time.Time) int64 {
	return f.add(change{subject: &revoked.SubjectCutoff{Subject: subject, IssuedBefore: before.Unix(), ExpiresAt: exp.Unix()}})
}

func (f *memFeed) revokeKey(kid string, exp time.Time) int64 {
	return f.add(change{key: &revoked.RevokedKey{KID: kid, ExpiresAt: exp.Unix()}})
}

func (f *memFeed) set(fn func(f *memFeed)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	close(f.grew)
	f.grew = make(chan struct{})
}

func (f *memFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, since)
	if f.fail {
		return nil, errors.New("feed unavailable")
	}
	seq := int64(len(f.changes))
	if since > seq {
		return nil, fmt.Errorf("%w: asked for changes after %d, the list is at %d", revoked.ErrAhead, since, seq)
	}
	b := &revoked.Batch{Seq: seq, Epoch: f.epoch, AsOf: f.asOf}
	for _, c := range f.changes[since:] {
		switch {
		case c.token != nil:
			b.Tokens = append(b.Tokens, *c.token)
		case c.subject != nil:
			b.Subjects = append(b.Subjects, *c.subject)
		case c.key != nil:
			b.Keys = append(b.Keys, *c.key)
		}
	}
	return b, nil
}

var _ revoked.Feed = (*memFeed)(nil)

// waitingFeed is a memFeed that holds reads, as a writ server's feed does
// for remote.Feed with a Wait: WaitChanges waits up to wait for a change
// after since, unless early is set (a server holding no more reads).
type waitingFeed struct {
	*memFeed
	wait  time.Duration
	early bool
	cut   bool          // every held read fails at the end of its wait, as behind a proxy that cuts it off
	held  chan struct{} // receives a value as each read is held, if set and not full
	waits atomic.Int64  // WaitChanges calls
}

var _ revoked.WaitingFeed = (*waitingFeed)(nil)

func (f *waitingFeed) Wait() time.Duration { return f.wait }

func (f *waitingFeed) WaitChanges(ctx context.Context, since int64) (*revoked.Batch, error) {
	f.waits.Add(1)
	if f.cut {
		time.Sleep(f.wait)
		return nil, errors.New("502 Bad Gateway")
	}
	f.mu.Lock()
	grew, n, fail := f.grew, int64(len(f.changes)), f.fail
	f.mu.Unlock()
	if n == since && !fail && !f.early {
		select {
		case f.held <- struct{}{}:
		default:
		}
		t := time.NewTimer(f.wait)
		defer t.Stop()
		select {
		case <-grew:
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.Changes(ctx, since)
}

func snapshot(t testing.TB, cfg revoked.SnapshotConfig) *revoked.Snapshot {
	t.Helper()
	s, err := revoked.NewSnapshot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newJTI returns a jti as writ makes them: 128 random bits.
func newJTI() string {
	var id [16]byte
	rand.Read(id[:])
	return b64.Encode(id[:])
}

const testIssuer = "https://issuer.test"

// tokenMaker signs access tokens with one Ed25519 key and builds verifiers
// of them.
type tokenMaker struct {
	kid  string
	priv ed25519.PrivateKey
	keys *verifier.KeySet
}

func newTokenMaker(t testing.TB) *tokenMaker {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := verifier.NewKey("kid-1", verifier.EdDSA, pub)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verifier.NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	return &tokenMaker{kid: "kid-1", priv: priv, keys: ks}
}

// token is an issued token: its string and claims.
type token struct {
	Token string
	accesstoken.Claims
}

func (m *tokenMaker) issue(t testing.TB, subject string, iat time.Time, ttl time.Duration) *token {
	t.Helper()
	c := accesstoken.Claims{Issuer: testIssuer, Subject: subject, Audience: []string{"api"}, ClientID: subject, ID: newJTI(),
		IssuedAt: iat, ExpiresAt: iat.Add(ttl)}
	tok, err := accesstoken.SignJWT(verifier.EdDSA, m.kid, accesstoken.Typ, m.priv, accesstoken.AppendJWTClaims(nil, &c))
	if err != nil {
		t.Fatal(err)
	}
	return &token{tok, c}
}

func (m *tokenMaker) verifier(t testing.TB, now func() time.Time, rc verifier.RevocationChecker) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{Issuer: testIssuer, Audience: "api", Algorithms: []verifier.Algorithm{verifier.EdDSA},
		Keys: m.keys, Now: now, Revocation: rc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
