package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/verifier"
)

// State is a key's place in its lifecycle.
type State string

// The key states. A key is published (in the key sets) while next, active or
// retired; only the active key of a format signs.
const (
	Next        State = "next"        // published, not yet signing
	Active      State = "active"      // the one signing key of its format
	Retired     State = "retired"     // published until its tokens expire
	Removed     State = "removed"     // out of the key sets: its tokens have expired
	Compromised State = "compromised" // out of the key sets at once
)

var (
	// ErrNoActiveKey is returned when a format has no active key.
	ErrNoActiveKey = errors.New("no active key")
	// ErrKeyNotFound is returned for a kid the keyring does not hold.
	ErrKeyNotFound = errors.New("key not found")
	// ErrUntrusted is returned for a key row that the master key does not
	// vouch for: written or changed by someone without the master key.
	ErrUntrusted = errors.New("key row not bound to the master key")
	// ErrTooManyKeys is returned when a new key would make a key set
	// larger than writ's verifier accepts (verifier.MaxKeys).
	ErrTooManyKeys = errors.New("key set full")
)

// Record describes a key in the keyring. It never holds private material.
type Record struct {
	ID            string
	Format        Format
	Algorithm     string
	State         State
	CreatedAt     time.Time
	ActivatedAt   time.Time // zero until the key signs
	RetiredAt     time.Time // zero until it stops signing
	UnpublishAt   time.Time // retired keys: when the last token it signed expires
	RemovedAt     time.Time // zero until it leaves the key sets
	CompromisedAt time.Time // zero unless compromised
	Public        crypto.PublicKey
	// Untrusted marks a row that the master key does not vouch for: it
	// was written or changed without the master key. It is never
	// published, never signs and never verifies; compromise it to retire
	// it for good. Only List returns such rows.
	Untrusted bool
}

// RingConfig configures OpenRing.
type RingConfig struct {
	// DB is writ's database, as writ.Open opens it. Required.
	DB *sql.DB
	// MasterKey seals and opens private keys. Required.
	MasterKey *MasterKey
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Actor names who makes changes, for the audit log.
	Actor string
	// ReadOnly, for a process that only reads, opens the ring without
	// writing: a database whose key rows are not bound to the master key
	// yet (see binding.go) is refused until a process that may write
	// opens it.
	ReadOnly bool
	// Policy is the rotation policy; its zero value means the defaults.
	Policy Policy
}

// Ring is the keyring in writ's database. It is safe for concurrent use, and
// several processes may share one database.
type Ring struct {
	db     *sql.DB
	mk     *MasterKey
	now    func() time.Time
	actor  string
	policy Policy

	mu      sync.Mutex
	signers map[Format]*Key // the opened active key of each format

	sealMu     sync.Mutex
	sealBytes  []byte   // the seal opened last
	seal       *keySeal // and what it holds
	sealGen    uint64   // the highest generation read
	rolledBack bool     // the seal read last was of a lower one

	activeKey *sql.Stmt // sealedQuery of the active key of a format
}

// OpenRing returns the keyring of cfg.DB. It fails with ErrMasterKey when
// cfg.MasterKey is not the key the keyring was sealed with: a check value
// sealed under the master key when a keyring is first opened reports a
// wrong one at once, not at the first signature. On a database from before
// key rows were bound to the master key, it binds them (see binding.go),
// which needs write access once.
func OpenRing(ctx context.Context, cfg RingConfig) (*Ring, error) {
	if cfg.DB == nil || cfg.MasterKey == nil {
		return nil, errors.New("keys: RingConfig.DB and RingConfig.MasterKey are required")
	}
	if err := cfg.Policy.check(); err != nil {
		return nil, err
	}
	r := &Ring{db: cfg.DB, mk: cfg.MasterKey, now: cfg.Now, actor: cfg.Actor, policy: cfg.Policy.withDefaults(), signers: map[Format]*Key{}}
	if r.now == nil {
		r.now = time.Now
	}
	check, err := r.openCheck(ctx, r.db)
	if err != nil {
		return nil, err
	}
	if check != checkBound && cfg.ReadOnly {
		return nil, errors.New("keyring: the key rows are not bound to the master key yet: run a writ command with write access once")
	}
	if check != checkBound {
		if err := r.bind(ctx); errors.Is(err, ErrMasterKey) {
			return nil, err
		} else if err != nil && check == checkUnbound {
			return nil, fmt.Errorf("keyring: binding the key rows to the master key, which needs write access to the database once: %w", err)
		} else if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
	}
	// Prepared once: Signer runs on every issuance, and parsing the SQL
	// each time cost as much as running it.
	r.activeKey, err = r.db.PrepareContext(ctx, sealedQuery(`format = ? AND state = 'active'`))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return r, nil
}

// marshal encodes the public half as PKIX and the private half as PKCS #8.
func (k *Key) marshal() (pub, priv []byte, err error) {
	if priv, err = x509.MarshalPKCS8PrivateKey(k.signer); err != nil {
		return nil, nil, fmt.Errorf("keys: encode %s: %w", k, err)
	}
	if pub, err = x509.MarshalPKIXPublicKey(k.Public()); err != nil {
		return nil, nil, fmt.Errorf("keys: encode %s: %w", k, err)
	}
	return pub, priv, nil
}

func keyAAD(kid string) []byte { return []byte("writ private key\x00" + kid) }

// Add stores k in state Next or Active. Adding an active key while its
// format has one fails.
func (r *Ring) Add(ctx context.Context, k *Key, state State) error {
	if state != Next && state != Active {
		return fmt.Errorf("keys: a new key must be next or active, not %s", state)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keys: add %s: %w", k, err)
	}
	defer tx.Rollback()
	if err := r.insertKey(ctx, tx, k, state); err != nil {
		return err
	}
	return tx.Commit()
}

func (r *Ring) insert(ctx context.Context, tx *sql.Tx, k *Key, state State, pub, priv []byte) error {
	published, err := r.trusted(ctx, tx, `format = ? AND `+publishedWhere, string(k.Format()))
	if err != nil {
		return err
	}
	if len(published) >= verifier.MaxKeys {
		return fmt.Errorf("%w: the %s key set holds %d keys, the most a verifier accepts; retired keys leave it once their tokens have expired",
			ErrTooManyKeys, k.Format(), len(published))
	}
	now := r.now()
	w := row{kid: k.id, format: string(k.Format()), alg: k.alg, state: string(state), pub: pub, created: now.Unix()}
	if state == Active {
		w.activated = sql.NullInt64{Int64: now.Unix(), Valid: true}
	}
	w.mac = r.mk.rowMAC(&w)
	_, err = tx.ExecContext(ctx, `INSERT INTO keys (kid, format, alg, state, public_key, private_key, created_at, activated_at, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.kid, w.format, w.alg, w.state, w.pub, r.mk.seal(priv, keyAAD(k.id)), w.created, w.activated, w.mac)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed: keys.format") {
			return fmt.Errorf("keys: %s already has an active key", k.Format())
		}
		return fmt.Errorf("keys: add %s: %w", k, err)
	}
	if err := r.reseal(ctx, tx, &w); err != nil {
		return err
	}
	return audit.Record(ctx, tx, audit.Event{At: now, Actor: r.actor, Action: audit.KeyAdd, KID: k.id,
		Detail: fmt.Sprintf("%s %s key, %s", k.Format(), k.alg, state)})
}

// Ensure gives each format an active and a next key when it lacks them,
// using alg for new JWT keys (PASETO keys are always v4.public). It returns
// the keys it added; none when the keyring is already complete.
func (r *Ring) Ensure(ctx context.Context, jwtAlg string) ([]*Key, error) {
	if FormatOf(jwtAlg) != JWT {
		return nil, fmt.Errorf("keys: %q is not a JWT algorithm", jwtAlg)
	}
	// One transaction, so that processes starting on a new database at
	// once (writ serve and writ init, say) add one set of keys between
	// them. Keys are generated under its lock: this happens once.
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer tx.Rollback()
	var added []*Key
	for _, f := range []struct {
		format Format
		alg    string
	}{{JWT, jwtAlg}, {PASETO, verifier.V4Public}} {
		for _, state := range []State{Active, Next} {
			have, err := r.trusted(ctx, tx, `format = ? AND state = ?`, string(f.format), string(state))
			if err != nil {
				return nil, err
			}
			if len(have) > 0 {
				continue
			}
			k, err := Generate(f.alg)
			if err != nil {
				return nil, err
			}
			if err := r.insertKey(ctx, tx, k, state); err != nil {
				return nil, err
			}
			added = append(added, k)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return added, nil
}

// Signer returns the active key of format, private half opened.
func (r *Ring) Signer(ctx context.Context, format Format) (*Key, error) {
	// One read of the active row and the seal: a rotation in another
	// process between two reads could otherwise destroy the private half
	// in between, or look like a row put back.
	known := r.knownGen()
	rs, err := r.activeKey.QueryContext(ctx, string(format))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	ws, private, seal, err := r.readSealed(rs, known, false)
	switch {
	case err != nil:
		return nil, err
	case len(ws) == 0:
		return nil, fmt.Errorf("%w for %s tokens (run writ init)", ErrNoActiveKey, format)
	case !r.trust(&ws[0], seal):
		return nil, fmt.Errorf("%w: the active %s key %q", ErrUntrusted, format, ws[0].kid)
	}
	w, sealedKey := ws[0], private[0]
	kid, alg := w.kid, w.alg
	r.mu.Lock()
	k := r.signers[format]
	r.mu.Unlock()
	if k != nil && k.id == kid {
		return k, nil
	}
	// A new active key: open it, and let the old one's private half go.
	k, err = r.openKey(kid, alg, sealedKey)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.signers[format] = k
	r.mu.Unlock()
	return k, nil
}

// openKey unseals the private key of kid.
func (r *Ring) openKey(kid, alg string, sealed []byte) (*Key, error) {
	if sealed == nil {
		return nil, fmt.Errorf("keys: the private half of %q was destroyed", kid)
	}
	der, err := r.mk.open(sealed, keyAAD(kid))
	if err != nil {
		return nil, fmt.Errorf("keys: open %q: %w", kid, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: decode %q: %w", kid, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: %q is not a signing key", kid)
	}
	k, err := NewKey(alg, s)
	if err != nil {
		return nil, err
	}
	if k.id != kid {
		return nil, fmt.Errorf("keys: stored key %q has kid %q", kid, k.id)
	}
	return k, nil
}

// List returns every key in the keyring, oldest first, including rows that
// the master key does not vouch for (Record.Untrusted).
func (r *Ring) List(ctx context.Context) ([]Record, error) {
	all, _, seal, err := r.sealedRows(ctx, r.db, `true`)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(all))
	for i := range all {
		rec, err := record(&all[i], r.trust(&all[i], seal))
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Published returns the keys that belong in the key sets: next, active and
// retired, oldest first, each vouched for by the master key.
func (r *Ring) Published(ctx context.Context) ([]Record, error) {
	pub, err := r.trusted(ctx, r.db, publishedWhere)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(pub))
	for i := range pub {
		rec, err := record(&pub[i], true)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func unixOrZero(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Int64, 0).UTC()
}

// JWKS returns the published JWT keys as a JSON Web Key Set: each key with
// its kid, alg and use "sig", and no private member.
func (r *Ring) JWKS(ctx context.Context) ([]byte, error) {
	recs, err := r.Published(ctx)
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	for _, rec := range recs {
		if rec.Format != JWT {
			continue
		}
		k, err := jwk.Import(rec.Public)
		if err != nil {
			return nil, fmt.Errorf("keys: %q: %w", rec.ID, err)
		}
		for name, v := range map[string]any{jwk.KeyIDKey: rec.ID, jwk.AlgorithmKey: rec.Algorithm, jwk.KeyUsageKey: "sig"} {
			if err := k.Set(name, v); err != nil {
				return nil, fmt.Errorf("keys: %q: %w", rec.ID, err)
			}
		}
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("keys: %q: %w", rec.ID, err)
		}
	}
	if set.Len() == 0 {
		return []byte(`{"keys":[]}`), nil
	}
	return json.Marshal(set)
}

// PASERKSet returns the published PASETO keys as writ's PASERK set:
// {"keys":[{"kid":"k4.pid.…","paserk":"k4.public.…"}]}.
func (r *Ring) PASERKSet(ctx context.Context) ([]byte, error) {
	recs, err := r.Published(ctx)
	if err != nil {
		return nil, err
	}
	var set []paserk.SetEntry
	for _, rec := range recs {
		if rec.Format != PASETO {
			continue
		}
		set = append(set, paserk.SetEntry{KID: rec.ID, PASERK: paserk.Public(rec.Public.(ed25519.PublicKey))})
	}
	return paserk.AppendSet(nil, set), nil
}

// KeySet returns the published keys of both formats as a verifier key set,
// for verifying next to the database.
func (r *Ring) KeySet(ctx context.Context) (*verifier.KeySet, error) {
	recs, err := r.Published(ctx)
	if err != nil {
		return nil, err
	}
	ks := make([]*verifier.Key, 0, len(recs))
	for _, rec := range recs {
		k, err := verifier.NewKey(rec.ID, rec.Algorithm, rec.Public)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return verifier.NewKeySet(ks...)
}

// CompromiseOptions adjust Compromise.
type CompromiseOptions struct {
	// InTx, when set, runs in Compromise's transaction once the key is
	// withdrawn (also when it already was), so that both are committed or
	// neither: writ revokes the key's tokens there
	// (revocation.List.RevokeKeyTx).
	InTx func(ctx context.Context, tx *sql.Tx) error
}

// Compromise takes the key kid out of the key sets at once and destroys its
// private half. If it was the active key, the already-published next key of
// its format becomes active, so that issuing never stops, and a fresh next
// key of that key's algorithm is published (a change of algorithm under
// way goes on). Compromising a compromised key changes nothing.
//
// Verifiers that hold a cached key set keep trusting the key until they
// refresh it; to have them reject its tokens at once, also revoke the key
// (revocation.List.RevokeKeyTx in o.InTx), as writ keys compromise does.
//
// This is the one exception to "published before it signs": the next key
// signs at once, however recently it was published (and a key generated on
// the spot does, when there was no next key), so verifiers with an older
// key set refetch it on meeting the new kid, and gateways that cannot may
// reject new tokens until their cache expires.
func (r *Ring) Compromise(ctx context.Context, kid string, o CompromiseOptions) error {
	// The keys this will probably need, generated before the transaction
	// (RSA generation is slow); withdraw makes any other it finds it needs.
	var format, alg, state, nextAlg string
	err := r.db.QueryRowContext(ctx, `SELECT format, alg, state,
		coalesce((SELECT alg FROM keys n WHERE n.format = k.format AND n.state = 'next' AND n.kid != k.kid
			ORDER BY created_at, rowid LIMIT 1), '')
		FROM keys k WHERE kid = ?`, kid).Scan(&format, &alg, &state, &nextAlg)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	var spare, fresh *Key
	switch State(state) {
	case Active: // the next key signs, a fresh one of its algorithm is published
		if nextAlg == "" {
			nextAlg = alg
			if spare, err = Generate(alg); err != nil {
				return err
			}
		}
		fresh, err = Generate(nextAlg)
	case Next: // replaced by one of the same algorithm
		if nextAlg == "" {
			fresh, err = Generate(alg)
		}
	}
	if err != nil {
		return err
	}

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer tx.Rollback()
	// The row, read again under the write lock: a rotation may have
	// changed it since. A row the master key does not vouch for is
	// compromised too (and so bound, as compromised): that is how an
	// admin clears it.
	target, _, _, err := r.sealedRows(ctx, tx, `kid = ?`, kid)
	if err != nil {
		return err
	}
	if len(target) == 0 {
		return fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
	}
	if State(target[0].state) != Compromised {
		if err := r.withdraw(ctx, tx, &target[0], spare, fresh); err != nil {
			return err
		}
	}
	if o.InTx != nil {
		if err := o.InTx(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	r.mu.Lock()
	for f, k := range r.signers {
		if k.id == kid {
			delete(r.signers, f)
		}
	}
	r.mu.Unlock()
	return nil
}

// withdraw marks the key row w compromised within tx; if it was active,
// activates the format's next key (or a spare, when there is none); and
// publishes a next key if the format is left without one, of the algorithm
// of the key now signing in w's place, or else of w's. spare and fresh,
// when not nil, are keys generated beforehand for these roles; any other
// key withdraw needs, it generates.
func (r *Ring) withdraw(ctx context.Context, tx *sql.Tx, w *row, spare, fresh *Key) error {
	now := r.now()
	state := State(w.state)
	w.state, w.compromised = string(Compromised), sql.NullInt64{Int64: now.Unix(), Valid: true}
	if err := r.update(ctx, tx, w, state); err != nil {
		return err
	}
	if err := audit.Record(ctx, tx, audit.Event{At: now, Actor: r.actor, Action: audit.KeyCompromise, KID: w.kid}); err != nil {
		return err
	}
	successorAlg := w.alg // a next key is replaced by one of its algorithm
	switch state {
	case Active:
		next, err := r.trusted(ctx, tx, `format = ? AND state = 'next'`, w.format)
		if err != nil {
			return err
		}
		if len(next) == 0 {
			// No published successor: sign with a fresh key at once.
			if spare == nil || spare.alg != w.alg {
				if spare, err = Generate(w.alg); err != nil {
					return err
				}
			}
			if err := r.insertKey(ctx, tx, spare, Active); err != nil {
				return err
			}
			break
		}
		n := &next[0]
		n.state, n.activated = string(Active), sql.NullInt64{Int64: now.Unix(), Valid: true}
		if err := r.update(ctx, tx, n, Next); err != nil {
			return err
		}
		successorAlg = n.alg
	case Retired, Removed: // a next key, if one is missing, follows the signing key
		active, err := r.trusted(ctx, tx, `format = ? AND state = 'active'`, w.format)
		if err != nil {
			return err
		}
		if len(active) > 0 {
			successorAlg = active[0].alg
		}
	}
	next, err := r.trusted(ctx, tx, `format = ? AND state = 'next'`, w.format)
	if err != nil {
		return err
	}
	if len(next) > 0 {
		return nil
	}
	if fresh == nil || fresh.alg != successorAlg {
		if fresh, err = Generate(successorAlg); err != nil {
			return err
		}
	}
	return r.insertKey(ctx, tx, fresh, Next)
}

func (r *Ring) insertKey(ctx context.Context, tx *sql.Tx, k *Key, state State) error {
	pub, priv, err := k.marshal()
	if err != nil {
		return err
	}
	return r.insert(ctx, tx, k, state, pub, priv)
}
