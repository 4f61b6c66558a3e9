// Package session keeps the web console's sessions in writ's database, so
// that several writ serve replicas share them.
//
// A session starts when a writ token signs in ([Store.Start]), or when a
// one-time sign-in link made for a token ([Store.Link]) is taken
// ([Store.TakeLink]). Its id, and a link's code, are 256 random bits that
// only the browser (or the link) holds: the database keeps their SHA-256,
// and what the console needs of the token to check it again at every
// request ([Session.Claims]), never the token itself. A session ends no
// later than its token, after at most [MaxAge], and after [Config.Idle]
// without a request ([Store.Get]).
//
// A session can hold a secret for one display ([Store.Hold],
// [Store.TakeHeld]): the console's new token, between the form that
// issues it and the page that shows it. The database keeps it sealed
// under a key derived from the session id, which it does not hold.
package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
)

// MaxAge is the longest a session lasts, whatever its token's expiry.
const MaxAge = 12 * time.Hour

// DefaultIdle is how long a session lasts without a request unless
// Config.Idle says otherwise; MinIdle is the shortest Config.Idle.
const (
	DefaultIdle = 30 * time.Minute
	MinIdle     = time.Minute
)

// maxSeenEvery bounds how often Get records a session's request (a tenth
// of Config.Idle, at most a minute): a session's idle time is counted
// from its last recorded request, so a session ends within that of Idle
// after its last request, with one write per that time at most for a
// busy one.
const maxSeenEvery = time.Minute

// LinkTTL is how long a sign-in link may be taken.
const LinkTTL = 15 * time.Minute

// secretLen is the length of session ids and link codes, in bytes.
const secretLen = 32

// Config configures a Store.
type Config struct {
	// Store is writ's storage, as writ.Open opens it. Required.
	Store store.Executor
	// Issuer is the iss of the tokens that sign in. Required.
	Issuer string
	// Idle is how long a session lasts without a request: Get refuses
	// it then, and ends it. Zero means DefaultIdle; New refuses one
	// below MinIdle or above MaxAge. Replicas sharing the sessions should
	// agree on it: each applies its own.
	Idle time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Store keeps sessions and sign-in links. It is safe for concurrent use.
type Store struct {
	cfg       Config
	seenEvery time.Duration // see maxSeenEvery
}

// New returns a Store for cfg.
func New(cfg Config) (*Store, error) {
	if cfg.Store == nil || cfg.Issuer == "" {
		return nil, errors.New("session: Store and Issuer are required")
	}
	if cfg.Idle == 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Idle < MinIdle || cfg.Idle > MaxAge {
		return nil, fmt.Errorf("session: Idle %v is not between %v and %v", cfg.Idle, MinIdle, MaxAge)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg, seenEvery: min(cfg.Idle/10, maxSeenEvery)}, nil
}

// Session is a signed-in session of the console.
type Session struct {
	// Claims are those of the token that signed in, as far as the
	// console uses them (no name, algorithm or nbf): its subject, scopes,
	// audiences, networks, key, issuance, expiry and jti, and the issuer.
	Claims *verifier.Claims
	// Created and Expires bound the session; Expires is no later than
	// the token's expiry.
	Created, Expires time.Time

	id []byte // the secret id, for CSRF
}

// CSRF returns the value that the session's forms carry to prove that
// they come from its pages: a MAC of a fixed label under the session id,
// which a page of another site cannot read or compute.
func (s *Session) CSRF() string {
	m := hmac.New(sha256.New, s.id)
	m.Write([]byte("writ console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether v is the session's CSRF value, in constant
// time.
func (s *Session) CheckCSRF(v string) bool {
	return hmac.Equal([]byte(v), []byte(s.CSRF()))
}

// Start starts a session for the verified token c, ending at its expiry or
// after maxAge (at most MaxAge; zero means MaxAge), and returns the
// session id that the browser presents.
func (st *Store) Start(ctx context.Context, c *verifier.Claims, maxAge time.Duration) (string, *Session, error) {
	if maxAge <= 0 || maxAge > MaxAge {
		maxAge = MaxAge
	}
	now := st.cfg.Now()
	row := rowOf(c)
	row.CreatedAt, row.SeenAt = now.Unix(), now.Unix()
	row.ExpiresAt = min(c.ExpiresAt.Unix(), now.Add(maxAge).Unix())
	return st.insert(ctx, st.cfg.Store, row)
}

// insert stores row under a new id within x and returns the session.
func (st *Store) insert(ctx context.Context, x store.Executor, row store.SessionRow) (string, *Session, error) {
	if row.ExpiresAt <= st.cfg.Now().Unix() {
		return "", nil, fmt.Errorf("%w: the token expires now", ErrNoSession)
	}
	id, hash := secret()
	row.ID = hash
	if err := x.SessionInsert(ctx, row); err != nil {
		return "", nil, fmt.Errorf("session: %w", err)
	}
	s := st.sessionOf(row)
	s.id = []byte(id)
	return id, s, nil
}

// Get returns the live session id, or an error wrapping ErrNoSession,
// and counts the call as a request of the session: a session without one
// for Config.Idle is ended.
func (st *Store) Get(ctx context.Context, id string) (*Session, error) {
	hash, ok := hashOf(id)
	if !ok {
		return nil, ErrNoSession
	}
	now := st.cfg.Now().Unix()
	row, err := st.cfg.Store.SessionGet(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	} else if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	switch idle := time.Duration(now-row.SeenAt) * time.Second; {
	case idle >= st.cfg.Idle:
		if err := st.cfg.Store.SessionDelete(ctx, hash); err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
		return nil, fmt.Errorf("%w: idle for %v", ErrNoSession, idle)
	case idle >= st.seenEvery:
		if err := st.cfg.Store.SessionSeen(ctx, hash, now); err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
	}
	s := st.sessionOf(row)
	s.id = []byte(id)
	return s, nil
}

// Hold keeps secret on the session s under name (a token's jti, say) for
// one TakeHeld, in place of what s held before: sealed (AES-256-GCM)
// under a key derived from the session id, which only the browser holds,
// and forgotten when taken or when the session ends.
func (st *Store) Hold(ctx context.Context, s *Session, name string, secret []byte) error {
	aead := s.sealer()
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	rand.Read(nonce)
	if err := st.cfg.Store.SessionHold(ctx, s.hash(), name, aead.Seal(nonce, nonce, secret, []byte(name))); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNoSession, err)
		}
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// TakeHeld returns the secret that s holds under name, once: it returns
// an error wrapping ErrNothingHeld when s holds nothing under name (taken
// already, or never held).
func (st *Store) TakeHeld(ctx context.Context, s *Session, name string) ([]byte, error) {
	sealed, err := st.cfg.Store.SessionTakeHeld(ctx, s.hash(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNothingHeld
	} else if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	aead := s.sealer()
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("%w: sealed value too short", ErrNothingHeld)
	}
	secret, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNothingHeld, err)
	}
	return secret, nil
}

// sealer returns the AEAD that seals what s holds, under a key derived
// from its id.
func (s *Session) sealer() cipher.AEAD {
	m := hmac.New(sha256.New, s.id)
	m.Write([]byte("writ console held secret"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // AES's block size
	}
	return aead
}

// hash is the SHA-256 of s's id, as the database finds it.
func (s *Session) hash() []byte {
	h := sha256.Sum256(s.id)
	return h[:]
}

// End ends the session id, if there is one.
func (st *Store) End(ctx context.Context, id string) error {
	hash, ok := hashOf(id)
	if !ok {
		return nil
	}
	if err := st.cfg.Store.SessionDelete(ctx, hash); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// Link stores a one-time sign-in link for the token that t records (as
// the issuer recorded it, so with the claims the token carries: the
// request's scopes deduplicated, its networks canonical), good for
// LinkTTL, and returns its code: taken, it starts a session of that
// token, as Start would. The code is not the token, which the link never
// carries.
func (st *Store) Link(ctx context.Context, t *issuer.Record) (string, error) {
	now := st.cfg.Now()
	row := rowOf(&verifier.Claims{Subject: t.Subject, Audience: t.Audience, Scope: strings.Join(t.Scopes, " "),
		AllowedIPs: t.AllowedIPs, ID: t.ID, KeyID: t.KeyID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt})
	code, hash := secret()
	row.ID, row.CreatedAt, row.ExpiresAt = hash, now.Unix(), now.Add(LinkTTL).Unix()
	if err := st.cfg.Store.SessionLinkInsert(ctx, row); err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	return code, nil
}

// TakeLink takes the sign-in link code, which no one can take again, and
// starts its session; it returns an error wrapping ErrNoLink for a code
// that is unknown, used or expired. The caller checks the session's token
// (revoked since?) as it checks every session's.
func (st *Store) TakeLink(ctx context.Context, code string) (string, *Session, error) {
	hash, ok := hashOf(code)
	if !ok {
		return "", nil, ErrNoLink
	}
	tx, err := st.cfg.Store.Begin(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("session: %w", err)
	}
	defer tx.Rollback()
	now := st.cfg.Now()
	row, err := tx.SessionLinkTake(ctx, hash, now.Unix())
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, ErrNoLink
	} else if err != nil {
		return "", nil, fmt.Errorf("session: %w", err)
	}
	row.CreatedAt, row.SeenAt = now.Unix(), now.Unix()
	row.ExpiresAt = min(row.TokenExpAt, now.Add(MaxAge).Unix())
	id, s, err := st.insert(ctx, tx, row)
	if err != nil {
		return "", nil, err
	}
	if err := tx.Commit(); err != nil {
		return "", nil, fmt.Errorf("session: %w", err)
	}
	return id, s, nil
}

// Prune deletes the sessions and links that have expired, and returns how
// many.
func (st *Store) Prune(ctx context.Context) (int64, error) {
	n, err := st.cfg.Store.SessionPrune(ctx, st.cfg.Now().Unix())
	if err != nil {
		return 0, fmt.Errorf("session: %w", err)
	}
	return n, nil
}

// secret returns a new random secret, as the browser holds it, and its
// SHA-256, as the database does.
func secret() (string, []byte) {
	b := make([]byte, secretLen)
	rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(s))
	return s, h[:]
}

// hashOf returns the SHA-256 of s, a secret as secret returns it, or false
// when s is not one (so that no lookup is made for junk).
func hashOf(s string) ([]byte, bool) {
	if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err != nil || len(b) != secretLen {
		return nil, false
	}
	h := sha256.Sum256([]byte(s))
	return h[:], true
}

func rowOf(c *verifier.Claims) store.SessionRow {
	ips := make([]string, len(c.AllowedIPs))
	for i, p := range c.AllowedIPs {
		ips[i] = p.String()
	}
	return store.SessionRow{JTI: c.ID, Subject: c.Subject, KID: c.KeyID, Scopes: c.Scope,
		Audience: strings.Join(c.Audience, " "), AllowedIPs: strings.Join(ips, " "),
		IssuedAt: c.IssuedAt.Unix(), TokenExpAt: c.ExpiresAt.Unix()}
}

func (st *Store) sessionOf(r store.SessionRow) *Session {
	c := &verifier.Claims{Issuer: st.cfg.Issuer, Subject: r.Subject, Audience: strings.Fields(r.Audience),
		ExpiresAt: time.Unix(r.TokenExpAt, 0), IssuedAt: time.Unix(r.IssuedAt, 0), ID: r.JTI,
		Scope: r.Scopes, KeyID: r.KID}
	for _, s := range strings.Fields(r.AllowedIPs) {
		// Rows hold what rowOf wrote from verified claims: canonical
		// prefixes. One that does not parse binds the session to nothing
		// it could match.
		p, err := netip.ParsePrefix(s)
		if err != nil {
			p = netip.PrefixFrom(netip.IPv6Unspecified(), 128)
		}
		c.AllowedIPs = append(c.AllowedIPs, p)
	}
	return &Session{Claims: c, Created: time.Unix(r.CreatedAt, 0), Expires: time.Unix(r.ExpiresAt, 0)}
}
