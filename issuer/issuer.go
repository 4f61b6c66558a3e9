// Package issuer signs writ's access tokens and records each issuance.
//
// An [Issuer] signs JWTs in the RFC 9068 access-token profile (typ at+jwt)
// and PASETO v4.public tokens with the active key of the requested format,
// enforces a maximum lifetime, and records every token it issues (its jti,
// subject, name, scopes, audience, key and times; never the token itself) in
// writ's database, where [Issuer.List] finds them. [Issuer.Regenerate]
// replaces a token and revokes the old one in one transaction.
// [Issuer.RecordUsage] keeps a bounded summary of the uses that verifiers
// report of each token, which [Issuer.Show] tells and [Issuer.PruneUsage]
// prunes.
package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/groupcommit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// Defaults for Config.
const (
	DefaultTTL    = time.Hour
	DefaultMaxTTL = revocation.DefaultMaxTTL
)

// SignerSource hands out the active signing key of a format. *keys.Ring is one.
type SignerSource interface {
	// Signer returns the active key of format, or an error wrapping
	// keys.ErrNoActiveKey when there is none.
	Signer(ctx context.Context, format keys.Format) (*keys.Key, error)
}

var _ SignerSource = (*keys.Ring)(nil)

// Config configures an Issuer.
type Config struct {
	// Issuer is the iss claim of every token, usually the server's URL. Required.
	Issuer string
	// Keys supplies signing keys. Required. The issuer keeps the key it
	// returns for up to a second, and records a token signed with a kept
	// key only if the store says that key is still active when the record
	// commits; otherwise it asks Keys again.
	Keys SignerSource
	// Store is writ's storage, as writ.Open opens it, where issuances are
	// recorded. Required.
	Store store.Store
	// DefaultTTL is the lifetime of a token whose request names none;
	// zero means DefaultTTL.
	DefaultTTL time.Duration
	// MaxTTL caps every token's lifetime while the database holds no
	// lifetime policy (see Issuer.SetPolicy); zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// UnsafeDatabaseNow stands in for the database's clock
	// (store.Executor.Now), which the ledger holds every issuance to (see
	// MaxClockSkew): for tests whose Now is a fake clock, set to the same
	// one. Nil, as it must be outside tests, reads the database's.
	UnsafeDatabaseNow func() time.Time
}

// Issuer signs and records tokens. It is safe for concurrent use.
type Issuer struct {
	cfg     Config
	ledger  groupcommit.Committer[*ledgerEntry] // records waiting for their group commit
	signers signers                             // the signing keys last read, for the next issuances
	policy  policyCache                         // the lifetime policy last read, for normalize
	perms   catalogueCache                      // the permission catalogue last read, parsed
}

// New returns an Issuer for cfg.
func New(cfg Config) (*Issuer, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("issuer: Config.Issuer is required")
	case cfg.Keys == nil:
		return nil, errors.New("issuer: Config.Keys is required")
	case cfg.Store == nil:
		return nil, errors.New("issuer: Config.Store is required")
	case cfg.DefaultTTL < 0 || cfg.MaxTTL < 0:
		return nil, errors.New("issuer: lifetimes must not be negative")
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.DefaultTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("issuer: default lifetime %v exceeds the maximum %v", cfg.DefaultTTL, cfg.MaxTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	i := &Issuer{cfg: cfg}
	i.ledger.Commit = i.commit
	return i, nil
}

// MaxTTL returns the longest lifetime this issuer grants while the
// database holds no lifetime policy (Config.MaxTTL); Policy returns the
// one in force.
func (i *Issuer) MaxTTL() time.Duration { return i.cfg.MaxTTL }

// Request describes a token to issue.
type Request struct {
	Subject  string        // sub: who the token acts for. Required.
	Audience []string      // aud: the APIs that accept it. At least one.
	Scopes   []string      // scope: what it may do
	TTL      time.Duration // lifetime; zero means the issuer's default
	// Expires, instead of TTL, is when the token expires (whole seconds:
	// a fraction is dropped); it must be in the future, within MaxTTL.
	Expires  time.Time
	Format   keys.Format // JWT when empty
	Name     string      // client_id: the token's name; the subject when empty
	IssuedBy string      // who asked, for the record; "unknown" when empty
	// Description is free text for the people who manage the token; it
	// is recorded, never put in the token.
	Description string
	// AllowedIPs, when set, binds the token to these networks: its claim
	// allowed_ips, which writ's verifiers check against the client address.
	AllowedIPs []netip.Prefix
	// Parent is the jti of the token that asked for this one (delegated
	// issuing); revoking the parent revokes it. It is recorded only while
	// the parent is recorded and not revoked.
	Parent string
	// Delegator, when set, is the verified claims of the token, carrying
	// IssueScope, that asks for this one: the request must stay within
	// its grants (subject, scopes, audiences, expiry, networks), else
	// Issue returns an error wrapping ErrDelegation that names the rule
	// broken. Parent becomes its jti. Without it, the caller is trusted
	// as an admin.
	Delegator *verifier.Claims

	action, detail string // for the audit log: issue, or regenerate
	replaces       string // the jti a regeneration replaces, whose name the new token may share
}

// Token is an issued token. Its Token string is shown once: writ keeps only
// the record.
type Token struct {
	Token     string
	ID        string // jti
	Format    keys.Format
	KeyID     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// limits on request fields. Together they still allow tokens above the
// verifiers' limit: Issue checks the size of the token itself.
const (
	maxField  = 256
	maxScopes = 64
	maxAuds   = 16
)

func (i *Issuer) normalize(ctx context.Context, req Request) (Request, error) {
	if req.Format == "" {
		req.Format = keys.JWT
	}
	if _, err := keys.ParseFormat(string(req.Format)); err != nil {
		return req, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if err := checkText("subject", req.Subject); err != nil {
		return req, err
	}
	if req.Name == "" {
		req.Name = req.Subject
	}
	if err := checkText("name", req.Name); err != nil {
		return req, err
	}
	if err := checkDescription(req.Description); err != nil {
		return req, err
	}
	if req.IssuedBy == "" {
		req.IssuedBy = "unknown"
	}
	if err := audit.CheckActor(req.IssuedBy); err != nil {
		return req, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if req.action == "" {
		req.action = audit.Issue
	}
	if len(req.Audience) == 0 || len(req.Audience) > maxAuds {
		return req, fmt.Errorf("%w: want 1 to %d audiences", ErrRequest, maxAuds)
	}
	if req.Format == keys.PASETO && len(req.Audience) > 1 {
		// PASETO registers aud as a single string, and its libraries
		// reject an array.
		return req, fmt.Errorf("%w: a PASETO token has one audience", ErrRequest)
	}
	for _, a := range req.Audience {
		if err := checkText("audience", a); err != nil {
			return req, err
		}
		if strings.ContainsRune(a, ' ') {
			return req, fmt.Errorf("%w: audience %q contains a space", ErrRequest, a)
		}
	}
	if len(req.Scopes) > maxScopes {
		return req, fmt.Errorf("%w: more than %d scopes", ErrRequest, maxScopes)
	}
	var scopes []string
	for _, s := range req.Scopes {
		if err := checkScope(s); err != nil {
			return req, err
		}
		if !contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	req.Scopes = scopes
	if err := checkWritScopes(req.Scopes); err != nil {
		return req, err
	}
	nets, err := normalizeNetworks(req.AllowedIPs)
	if err != nil {
		return req, err
	}
	req.AllowedIPs = nets
	if !req.Expires.IsZero() {
		if req.TTL != 0 {
			return req, fmt.Errorf("%w: a lifetime and an expiry time exclude each other", ErrRequest)
		}
		req.Expires = req.Expires.Truncate(time.Second)
		if req.TTL = req.Expires.Sub(i.cfg.Now().Truncate(time.Second)); req.TTL <= 0 {
			return req, fmt.Errorf("%w: expiry %s is not in the future", ErrRequest, req.Expires.UTC().Format(time.RFC3339))
		}
	}
	if err := i.delegate(&req); err != nil {
		return req, err
	}
	if req.TTL != 0 && req.TTL < time.Second {
		return req, fmt.Errorf("%w: lifetime %v is shorter than a second", ErrRequest, req.TTL)
	}
	req.TTL, err = i.checkLifetime(ctx, req.TTL)
	return req, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkText requires s and checks that it is plain text of at most
// maxField bytes, without white space at either end: "alice " and
// "alice" would read alike in every listing while naming two subjects
// (or two names, which must be unique).
func checkText(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is required", ErrRequest, what)
	}
	if err := text.Plain(what, s, maxField); err != nil {
		return fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%w: %s %q begins or ends with white space", ErrRequest, what, s)
	}
	return nil
}

// checkScope enforces RFC 6749 §3.3: a scope token is printable ASCII
// without space, double quote or backslash.
func checkScope(s string) error {
	if s == "" || len(s) > maxField {
		return fmt.Errorf("%w: scope %q must have 1 to %d characters", ErrRequest, s, maxField)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("%w: scope %q: only printable ASCII without space, '\"' or '\\'", ErrRequest, s)
		}
	}
	return nil
}

// Issue signs a token for req with the active key of its format and records
// it. The record is committed before the token is returned.
//
// The rules that the record checks within its transaction hold however
// many issuers race on the database: the lifetime is within the policy
// in force (see Policy), and a name is unique among the live tokens of a
// subject (active, and not scheduled for revocation) unless it is the
// default name, the subject: a second is refused with an error wrapping
// ErrNameTaken that names the first. A token that
// would be longer than verifier.MaxTokenSize is neither recorded nor
// returned: the error wraps ErrTooLarge.
func (i *Issuer) Issue(ctx context.Context, req Request) (*Token, error) {
	req, err := i.normalize(ctx, req)
	if err != nil {
		return nil, err
	}
	return i.issue(ctx, req, i.record)
}

// issue signs the token that req, normalized, asks for and records it with
// record. The first attempt may sign with the key Signer returned to an
// earlier issuance (see signers): record then refuses the token unless that
// key is still active (errKeyStale), and it is signed again with the key
// read now. record also refuses a token whose key was withdrawn
// (compromised) after it was read (errKeyWithdrawn): it is then signed
// again, once, with the key active now.
func (i *Issuer) issue(ctx context.Context, req Request, record func(context.Context, Request, *Token, bool) error) (*Token, error) {
	fresh, withdrawn := false, false
	for {
		// A caller gone already gets nothing signed: its token would be
		// recorded and never shown. (Once queued, the record is committed
		// whatever the caller does: see record.)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key, cached, err := i.signers.get(ctx, i.cfg.Keys, req.Format, fresh, i.cfg.Now())
		if err != nil {
			return nil, err
		}
		t, err := i.sign(key, req)
		if err != nil {
			return nil, err
		}
		err = record(ctx, req, t, cached)
		switch {
		case err == nil:
			return t, nil
		case errors.Is(err, errKeyStale):
		case !errors.Is(err, errKeyWithdrawn):
			return nil, err
		case withdrawn:
			return nil, fmt.Errorf("%w twice during one issuance; try again", errKeyWithdrawn)
		default:
			withdrawn = true
		}
		fresh = true
	}
}

// newTokenID returns a new jti: 128 random bits in base64url, drawn again
// when the first character would be '-', which on a command line reads as
// a flag (writ token revoke -abc…). That costs log2(64/63), 0.023 bits.
func newTokenID() string {
	var id [16]byte
	for {
		rand.Read(id[:])
		if id[0]>>2 != 62 { // 62 is '-' in the base64url alphabet
			return b64.Encode(id[:])
		}
	}
}

// sign makes the token that req asks for with key, its times from now.
func (i *Issuer) sign(key *keys.Key, req Request) (*Token, error) {
	// Whole seconds: NumericDate and RFC 3339 both carry them exactly.
	now := i.cfg.Now().Truncate(time.Second)
	t := &Token{
		ID:        newTokenID(),
		Format:    req.Format,
		KeyID:     key.ID(),
		IssuedAt:  now,
		ExpiresAt: now.Add(req.TTL),
	}
	if !req.Expires.IsZero() {
		if !req.Expires.After(now) { // the second turned since normalize
			return nil, fmt.Errorf("%w: expiry %s is not in the future", ErrRequest, req.Expires.UTC().Format(time.RFC3339))
		}
		t.ExpiresAt = req.Expires
	}
	var err error
	c := &accesstoken.Claims{
		Issuer: i.cfg.Issuer, Subject: req.Subject, Audience: req.Audience,
		Scope: strings.Join(req.Scopes, " "), ClientID: req.Name, ID: t.ID,
		IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt,
	}
	for _, p := range req.AllowedIPs {
		c.AllowedIPs = append(c.AllowedIPs, p.String())
	}
	if req.Format == keys.PASETO {
		t.Token, err = signPASETO(key, c)
	} else {
		t.Token, err = signJWT(key, c)
	}
	if err != nil {
		return nil, err
	}
	if len(t.Token) > verifier.MaxTokenSize {
		return nil, fmt.Errorf("%w: %w: the %s token would be %d bytes, over the verifiers' limit of %d bytes: fewer or shorter scopes or audiences",
			ErrRequest, ErrTooLarge, req.Format, len(t.Token), verifier.MaxTokenSize)
	}
	return t, nil
}

// signJWT returns the JWT of c signed by key.
func signJWT(key *keys.Key, c *accesstoken.Claims) (string, error) {
	var buf [1024]byte // room on the stack for the claims of a usual token
	return signJWS(key, accesstoken.Typ, accesstoken.AppendJWTClaims(buf[:0], c))
}

// signPASETO returns the v4.public token of c signed by key.
func signPASETO(key *keys.Key, c *accesstoken.Claims) (string, error) {
	priv, ok := key.Signer().(ed25519.PrivateKey)
	if !ok {
		return "", fmt.Errorf("issuer: %s is not an Ed25519 key", key)
	}
	return accesstoken.SignPASETO(priv, key.ID(), c), nil
}

// SignDocument signs payload, a JSON object, as a compact JWS with the
// active JWT key and the header typ, for documents the server publishes
// (the revocation feed). Verifiers check it against the same key set as
// tokens; typ keeps it from ever being taken for an access token.
func (i *Issuer) SignDocument(ctx context.Context, typ string, payload []byte) (string, error) {
	if typ == "" || strings.EqualFold(typ, accesstoken.Typ) || strings.EqualFold(typ, "application/"+accesstoken.Typ) {
		return "", fmt.Errorf("issuer: a document's typ must be set and must not be at+jwt")
	}
	key, err := i.cfg.Keys.Signer(ctx, keys.JWT)
	if err != nil {
		return "", err
	}
	return signJWS(key, typ, payload)
}

// signJWS signs payload with key as a compact JWS whose header carries typ.
func signJWS(key *keys.Key, typ string, payload []byte) (string, error) {
	tok, err := accesstoken.SignJWT(key.Algorithm(), key.ID(), typ, key.Signer(), payload)
	if err != nil {
		return "", fmt.Errorf("issuer: sign with %s: %w", key, err)
	}
	return tok, nil
}
