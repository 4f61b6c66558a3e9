package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/revocation"
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

// Record describes a key in the keyring. It never holds private material.
type Record struct {
	ID            string
	Format        Format
	Algorithm     verifier.Algorithm
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
	// Store is writ's storage, as writ.Open opens it. Required.
	Store store.Store
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
	// MaxTTL is the longest lifetime of the tokens the keys sign
	// (issuer.Config.MaxTTL, which writ.Open passes on): Compromise
	// revokes a key's tokens for that long. Zero means
	// revocation.DefaultMaxTTL.
	MaxTTL time.Duration
}

// Ring is the keyring in writ's database. It is safe for concurrent use, and
// several processes may share one database.
type Ring struct {
	store  store.Store
	now    func() time.Time
	actor  string
	policy Policy
	maxTTL time.Duration

	mu      sync.Mutex
	signers map[Format]*Key // the opened active key of each format

	keyMu      sync.Mutex
	mk         *MasterKey // seals and binds: the configured key, or its successor (masterkeyrotation.go)
	prev       *MasterKey // the key mk replaced, which opens what was read before the change:
	prevUntil  uint64     // seals of generations below this one
	superseded bool       // mk is the successor of the configured key

	sealMu     sync.Mutex
	sealBytes  []byte   // the seal opened last
	seal       *keySeal // and what it holds
	sealGen    uint64   // the highest generation read
	rolledBack bool     // the seal read last was of a lower one
}

// OpenRing returns the keyring of cfg.Store. It fails with ErrMasterKey when
// cfg.MasterKey is not the key the keyring was sealed with: a check value
// sealed under the master key when a keyring is first opened reports a
// wrong one at once, not at the first signature. On a database from before
// key rows were bound to the master key, it binds them (see binding.go),
// which needs write access once.
func OpenRing(ctx context.Context, cfg RingConfig) (*Ring, error) {
	switch {
	case cfg.Store == nil || cfg.MasterKey == nil:
		return nil, errors.New("keys: RingConfig.Store and RingConfig.MasterKey are required")
	case cfg.MaxTTL < 0:
		return nil, errors.New("keys: RingConfig.MaxTTL must not be negative")
	}
	if err := cfg.Policy.check(); err != nil {
		return nil, err
	}
	r := &Ring{store: cfg.Store, mk: cfg.MasterKey, now: cfg.Now, actor: cfg.Actor, policy: cfg.Policy.withDefaults(),
		maxTTL: cfg.MaxTTL, signers: map[Format]*Key{}}
	if r.now == nil {
		r.now = time.Now
	}
	check, err := r.openCheck(ctx, r.store)
	if errors.Is(err, ErrMasterKey) {
		// Perhaps the previous master key, during a rotation.
		if adopted, aerr := r.adopt(ctx, r.store, r.mk); aerr != nil {
			return nil, fmt.Errorf("keyring: %w", aerr)
		} else if !adopted {
			return nil, fmt.Errorf("%w (after writ master-key rotate and finish, only the new key does)", err)
		}
		check, err = checkBound, nil
	}
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
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := r.insertKey(ctx, tx, k, state); err != nil {
		return err
	}
	return tx.Commit()
}

func (r *Ring) insert(ctx context.Context, tx store.Tx, k *Key, state State, pub, priv []byte) error {
	published, err := r.trusted(ctx, tx, store.KeyFilter{Format: string(k.Format()), States: publishedStates})
	if err != nil {
		return err
	}
	if len(published) >= verifier.MaxKeys {
		return fmt.Errorf("%w: the %s key set holds %d keys, the most a verifier accepts; retired keys leave it once their tokens have expired",
			ErrTooManyKeys, k.Format(), len(published))
	}
	now := r.now()
	w := store.KeyRow{KID: k.id, Format: string(k.Format()), Alg: string(k.alg), State: string(state), Public: pub, Created: now.Unix()}
	if state == Active {
		w.Activated = store.At(now.Unix())
	}
	mk := r.key()
	w.MAC = mk.rowMAC(&w)
	w.Private = mk.seal(priv, keyAAD(k.id))
	if err := tx.KeyInsert(ctx, w); err != nil {
		if errors.Is(err, store.ErrConflict) && state == Active {
			if _, err := tx.KeyState(ctx, k.id); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("keys: %s already has an active key", k.Format())
			}
		}
		return fmt.Errorf("keys: add %s: %w", k, err)
	}
	if err := r.reseal(ctx, tx, &w); err != nil {
		return err
	}
	return r.record(ctx, tx, now, audit.KeyAdd, k.id, fmt.Sprintf("%s %s key, %s", k.Format(), k.alg, state))
}

// record appends an event of the keyring, made by its actor, to the audit
// log within tx.
func (r *Ring) record(ctx context.Context, tx store.Tx, at time.Time, action, kid, detail string) error {
	return r.recordAs(ctx, tx, "", at, action, kid, detail)
}

// recordAs is record for the change that actor asked for; empty means the
// keyring's actor (RingConfig.Actor).
func (r *Ring) recordAs(ctx context.Context, tx store.Tx, actor string, at time.Time, action, kid, detail string) error {
	if actor == "" {
		actor = r.actor
	}
	if err := tx.AuditInsert(ctx, store.AuditRow{At: at.UnixMilli(), Actor: actor, Action: action, KID: kid, Detail: detail}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Ensure gives each format an active and a next key when it lacks them,
// using alg for new JWT keys (PASETO keys are always v4.public). It returns
// the keys it added; none when the keyring is already complete.
func (r *Ring) Ensure(ctx context.Context, jwtAlg verifier.Algorithm) ([]*Key, error) {
	if FormatOf(jwtAlg) != JWT {
		return nil, fmt.Errorf("keys: %q is not a JWT algorithm", jwtAlg)
	}
	// One transaction, so that processes starting on a new database at
	// once (writ serve and writ init, say) add one set of keys between
	// them. Keys are generated under its lock: this happens once.
	tx, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var added []*Key
	for _, f := range []struct {
		format Format
		alg    verifier.Algorithm
	}{{JWT, jwtAlg}, {PASETO, verifier.V4Public}} {
		for _, state := range []State{Active, Next} {
			have, err := r.trusted(ctx, tx, store.KeyFilter{Format: string(f.format), States: []string{string(state)}})
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
	ws, sealed, err := r.store.KeyActive(ctx, string(format))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	seal, err := r.openSeal(ctx, r.store, sealed, known)
	if err != nil {
		return nil, err
	}
	switch {
	case len(ws) == 0:
		return nil, fmt.Errorf("%w for %s tokens (run writ init)", ErrNoActiveKey, format)
	case !r.trust(&ws[0], seal):
		return nil, fmt.Errorf("%w: the active %s key %q", ErrUntrusted, format, ws[0].KID)
	}
	kid, alg, sealedKey := ws[0].KID, verifier.Algorithm(ws[0].Alg), ws[0].Private
	r.mu.Lock()
	k := r.signers[format]
	r.mu.Unlock()
	if k != nil && k.id == kid {
		return k, nil
	}
	// A new active key: open it, and let the old one's private half go.
	// The private half was sealed under the key that sealed the seal read
	// with it.
	k, err = openKey(seal.mk, kid, alg, sealedKey)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.signers[format] = k
	r.mu.Unlock()
	return k, nil
}

// openKey unseals with mk the private key of kid.
func openKey(mk *MasterKey, kid string, alg verifier.Algorithm, sealed []byte) (*Key, error) {
	if sealed == nil {
		return nil, fmt.Errorf("keys: the private half of %q was destroyed", kid)
	}
	der, err := mk.open(sealed, keyAAD(kid))
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
	all, seal, err := r.sealedRows(ctx, r.store, store.KeyFilter{})
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
	pub, err := r.trusted(ctx, r.store, store.KeyFilter{States: publishedStates})
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

func unixOrZero(n store.Unix) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Sec, 0).UTC()
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
		for name, v := range map[string]any{jwk.KeyIDKey: rec.ID, jwk.AlgorithmKey: string(rec.Algorithm), jwk.KeyUsageKey: "sig"} {
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

// Compromise takes the key kid out of service at once and revokes every
// token it signed, in one transaction, as writ keys compromise does. It
// returns the revocation (see revocation.List.RevokeKey: it lasts
// RingConfig.MaxTTL, the longest lifetime of a token). Compromising a key
// twice withdraws nothing more and returns the first revocation. A row
// written without the master key whose kid the revocation list cannot hold
// (see revocation.CheckID) is only withdrawn, and the Entry returned is
// zero: writ never trusted it, so no token of it was ever accepted.
//
// The key leaves the key sets and its private half is destroyed. If it was
// the active key, the already-published next key of its format becomes
// active, so that issuing never stops, and a fresh next key of that key's
// algorithm is published (a change of algorithm under way goes on).
// Verifiers that hold a cached key set keep trusting the key until they
// refresh it; the revocation has those that follow the revocation list
// reject its tokens at once.
//
// This is the one exception to "published before it signs": the next key
// signs at once, however recently it was published (and a key generated on
// the spot does, when there was no next key), so verifiers with an older
// key set refetch it on meeting the new kid, and gateways that cannot may
// reject new tokens until their cache expires.
//
// o.Actor, when set, names who compromises the key in the audit log too;
// empty means the keyring's actor (RingConfig.Actor).
func (r *Ring) Compromise(ctx context.Context, kid string, o revocation.Options) (revocation.Entry, error) {
	if err := o.Check(); err != nil {
		return revocation.Entry{}, err
	}
	// The keys this will probably need, generated before the transaction
	// (RSA generation is slow); withdraw makes any other it finds it needs.
	rows, _, err := r.store.KeyRows(ctx, store.KeyFilter{KID: kid})
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("keys: %w", err)
	}
	if len(rows) == 0 {
		return revocation.Entry{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	format, alg, state := rows[0].Format, verifier.Algorithm(rows[0].Alg), rows[0].State
	next, _, err := r.store.KeyRows(ctx, store.KeyFilter{Format: format, States: []string{string(Next)}})
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("keys: %w", err)
	}
	var nextAlg verifier.Algorithm
	for _, n := range next {
		if n.KID != kid {
			nextAlg = verifier.Algorithm(n.Alg)
			break
		}
	}
	var spare, fresh *Key
	switch State(state) {
	case Active: // the next key signs, a fresh one of its algorithm is published
		if nextAlg == "" {
			nextAlg = alg
			if spare, err = Generate(alg); err != nil {
				return revocation.Entry{}, err
			}
		}
		fresh, err = Generate(nextAlg)
	case Next: // replaced by one of the same algorithm
		if nextAlg == "" {
			fresh, err = Generate(alg)
		}
	}
	if err != nil {
		return revocation.Entry{}, err
	}

	tx, err := r.begin(ctx)
	if err != nil {
		return revocation.Entry{}, err
	}
	defer tx.Rollback()
	// The row, read again under the write lock: a rotation may have
	// changed it since. A row the master key does not vouch for is
	// compromised too (and so bound, as compromised): that is how an
	// admin clears it.
	target, _, err := r.sealedRows(ctx, tx, store.KeyFilter{KID: kid})
	if err != nil {
		return revocation.Entry{}, err
	}
	if len(target) == 0 {
		return revocation.Entry{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if State(target[0].State) != Compromised {
		if err := r.withdraw(ctx, tx, o.Actor, &target[0], spare, fresh); err != nil {
			return revocation.Entry{}, err
		}
	}
	e, err := r.revokeTokens(ctx, tx, kid, o)
	if err != nil {
		return revocation.Entry{}, err
	}
	if err := tx.Commit(); err != nil {
		return revocation.Entry{}, fmt.Errorf("keys: %w", err)
	}
	r.mu.Lock()
	for f, k := range r.signers {
		if k.id == kid {
			delete(r.signers, f)
		}
	}
	r.mu.Unlock()
	return e, nil
}

// revokeTokens revokes, within tx, every token of the key kid, which tx
// has withdrawn: by the revocation list's own rules, over tx.
func (r *Ring) revokeTokens(ctx context.Context, tx store.Tx, kid string, o revocation.Options) (revocation.Entry, error) {
	if revocation.CheckID("kid", kid) != nil {
		// writ makes no such kid: only a row written without the master
		// key has one. writ never published nor trusted it, so no token
		// of it was ever accepted and there is nothing to revoke;
		// withdrawing the row is the whole remedy.
		return revocation.Entry{}, o.Check()
	}
	list, err := revocation.NewList(revocation.Config{Store: tx, MaxTTL: r.maxTTL, Now: r.now})
	if err != nil {
		return revocation.Entry{}, err
	}
	return list.RevokeKey(ctx, kid, o)
}

// withdraw marks the key row w compromised within tx; if it was active,
// activates the format's next key (or a spare, when there is none); and
// publishes a next key if the format is left without one, of the algorithm
// of the key now signing in w's place, or else of w's. spare and fresh,
// when not nil, are keys generated beforehand for these roles; any other
// key withdraw needs, it generates.
func (r *Ring) withdraw(ctx context.Context, tx store.Tx, actor string, w *store.KeyRow, spare, fresh *Key) error {
	now := r.now()
	state := State(w.State)
	w.State, w.Compromised = string(Compromised), store.At(now.Unix())
	if err := r.update(ctx, tx, w, state); err != nil {
		return err
	}
	if err := r.recordAs(ctx, tx, actor, now, audit.KeyCompromise, w.KID, ""); err != nil {
		return err
	}
	alg := verifier.Algorithm(w.Alg)
	successorAlg := alg // a next key is replaced by one of its algorithm
	switch state {
	case Active:
		next, err := r.trusted(ctx, tx, store.KeyFilter{Format: w.Format, States: []string{string(Next)}})
		if err != nil {
			return err
		}
		if len(next) == 0 {
			// No published successor: sign with a fresh key at once.
			if spare == nil || spare.alg != alg {
				if spare, err = Generate(alg); err != nil {
					return err
				}
			}
			if err := r.insertKey(ctx, tx, spare, Active); err != nil {
				return err
			}
			break
		}
		n := &next[0]
		n.State, n.Activated = string(Active), store.At(now.Unix())
		if err := r.update(ctx, tx, n, Next); err != nil {
			return err
		}
		successorAlg = verifier.Algorithm(n.Alg)
	case Retired, Removed: // a next key, if one is missing, follows the signing key
		active, err := r.trusted(ctx, tx, store.KeyFilter{Format: w.Format, States: []string{string(Active)}})
		if err != nil {
			return err
		}
		if len(active) > 0 {
			successorAlg = verifier.Algorithm(active[0].Alg)
		}
	}
	next, err := r.trusted(ctx, tx, store.KeyFilter{Format: w.Format, States: []string{string(Next)}})
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

func (r *Ring) insertKey(ctx context.Context, tx store.Tx, k *Key, state State) error {
	pub, priv, err := k.marshal()
	if err != nil {
		return err
	}
	return r.insert(ctx, tx, k, state, pub, priv)
}
