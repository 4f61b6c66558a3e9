package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier"
)

// Key rows are bound to the master key: each carries an HMAC-SHA256, under
// a key derived from the master key, of everything a process that may write
// the database but lacks the master key could change to have a key trusted
// or kept in service: its kid, format, algorithm, public key, state and
// lifecycle times. A row without a valid MAC is never published, never
// signs and never verifies; List marks it (Record.Untrusted).
//
// Databases from before the binding (schema version 3) hold rows without a
// MAC, and only a process holding the master key can compute them. OpenRing
// does it once, in one transaction, while the database's master-key check
// value is of the kind written before the binding (checkUnbound); it then
// writes the other kind (checkBound), which nobody can write back without
// the master key. So a tamperer cannot have a row of theirs bound by making
// the database look unbound again, except with a check value of the old
// kind copied from this database before it was bound (a backup made before
// the upgrade, say): keep such copies as secret as the master key.
//
// The binding vouches for what the database held before it, which nothing
// authenticated: it leaves unbound the rows that cannot be genuine (see
// genuine), but a row planted before the upgrade as a retired or removed
// key, whose private half writ would have destroyed anyway, cannot be told
// from a real one. writ keys list shows every key the binding kept.

// A row's MAC proves that the master key wrote the row once, not that the
// row is current: an earlier version of a row, with its earlier MAC, could
// be put back (a compromised key restored as next, a removed one as
// retired). So the master key also seals the published set: meta
// 'key_set_seal' lists the kid and row MAC of every published row (next,
// active, retired) it trusts, with a generation, under an HMAC, and every
// write of a key row writes it anew, one generation on (reseal). A
// published row is trusted only if the seal lists it with its MAC: a row
// put back is not, and stays out of every later seal. Putting back every
// key row and the seal together, as an earlier copy had them, brings back
// an older seal: a ring that has read a later one (writ serve rereads the
// keys every second) trusts no published key then (Rolledback), but a
// process started on the restored file cannot tell it from a backup
// restored on purpose. What would tell them apart is a generation kept
// outside the database, which writ does not keep.

// The plaintexts of the master-key check value, sealed under the master key
// in meta 'master_key_check'.
const (
	checkUnbound = "writ master key check"                    // written before key rows were bound
	checkBound   = "writ master key check, key rows bound v1" // every key row carries its MAC
)

// checkAAD is the additional data of the check value.
var checkAAD = []byte("meta")

// rowMAC returns the MAC of w under m: HMAC-SHA256 of a canonical
// encoding, each string length-prefixed and each time marked present or
// absent, so that no two rows encode alike.
func (m *MasterKey) rowMAC(w *store.KeyRow) []byte {
	b := []byte("writ key row\x00")
	for _, f := range [][]byte{[]byte(w.KID), []byte(w.Format), []byte(w.Alg), []byte(w.State), w.Public} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	for _, t := range []store.Unix{store.At(w.Created), w.Activated, w.Retired, w.Unpublish, w.Removed, w.Compromised} {
		if !t.Valid {
			b = append(b, 0)
			continue
		}
		b = binary.BigEndian.AppendUint64(append(b, 1), uint64(t.Sec))
	}
	h := hmac.New(sha256.New, m.rowKey)
	h.Write(b)
	return h.Sum(nil)
}

// vouches reports whether w carries its MAC under m, comparing in constant
// time.
func (m *MasterKey) vouches(w *store.KeyRow) bool {
	return hmac.Equal(w.MAC, m.rowMAC(w))
}

// trusted returns the rows that f selects that the master key vouches
// for and, if published, lists in its seal, oldest first.
func (r *Ring) trusted(ctx context.Context, x store.Executor, f store.KeyFilter) ([]store.KeyRow, error) {
	all, seal, err := r.sealedRows(ctx, x, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, w := range all {
		if r.trust(&w, seal) {
			out = append(out, w)
		}
	}
	return out, nil
}

// trust reports whether the master key vouches for w and, if w is
// published, seal lists it. The master key is the one that sealed seal,
// read with w (see masterkeyrotation.go); without a seal, the current one.
func (r *Ring) trust(w *store.KeyRow, seal *keySeal) bool {
	mk := r.key()
	if seal != nil {
		mk = seal.mk
	}
	if !mk.vouches(w) {
		return false
	}
	if published(w) {
		return seal != nil && hmac.Equal(seal.entries[w.KID], w.MAC)
	}
	return true
}

// publishedStates are the states of the keys in the key sets.
var publishedStates = []string{string(Next), string(Active), string(Retired)}

// published reports whether w is in the key sets: next, active or retired.
func published(w *store.KeyRow) bool {
	switch State(w.State) {
	case Next, Active, Retired:
		return true
	}
	return false
}

// update writes w, changed from a row in state from, with its new MAC, and
// destroys its private half unless w is next or active. It is a
// compare-and-swap on the row's state: it fails unless exactly that row
// changed.
func (r *Ring) update(ctx context.Context, tx store.Tx, w *store.KeyRow, from State) error {
	w.MAC = r.key().rowMAC(w)
	keepPrivate := State(w.State) == Next || State(w.State) == Active
	if err := tx.KeyUpdate(ctx, *w, string(from), keepPrivate); errors.Is(err, store.ErrConflict) {
		return errors.New("keys: the keys changed during the rotation; try again")
	} else if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return r.reseal(ctx, tx, w)
}

// keySeal is an opened seal: its generation, one more at every change,
// the kids and row MACs it lists, and the master key that sealed it.
type keySeal struct {
	gen     uint64
	entries map[string][]byte
	mk      *MasterKey
}

// appendSeal returns the seal of generation gen listing the kids and row
// MACs of entries, in the order of their kids, then an HMAC of all that.
func (m *MasterKey) appendSeal(gen uint64, entries map[string][]byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, gen)
	for _, kid := range slices.Sorted(maps.Keys(entries)) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(kid)))
		b = append(append(b, kid...), entries[kid]...)
	}
	return append(b, m.sealMAC(b)...)
}

func (m *MasterKey) sealMAC(body []byte) []byte {
	h := hmac.New(sha256.New, m.rowKey)
	h.Write([]byte("writ published key set\x00"))
	h.Write(body)
	return h.Sum(nil)
}

// openSeal returns the seal, nil when it is missing or not the master
// key's.
func (m *MasterKey) openSeal(seal []byte) *keySeal {
	if len(seal) < 8+sha256.Size {
		return nil
	}
	body, sum := seal[:len(seal)-sha256.Size], seal[len(seal)-sha256.Size:]
	if !hmac.Equal(sum, m.sealMAC(body)) {
		return nil
	}
	s := &keySeal{gen: binary.BigEndian.Uint64(body), entries: map[string][]byte{}, mk: m}
	for entries := body[8:]; len(entries) > 0; {
		if len(entries) < 4 {
			return nil
		}
		n := int(binary.BigEndian.Uint32(entries))
		if len(entries) < 4+n+sha256.Size {
			return nil
		}
		s.entries[string(entries[4:4+n])] = entries[4+n : 4+n+sha256.Size]
		entries = entries[4+n+sha256.Size:]
	}
	return s
}

// sealedRows returns the key rows that f selects, oldest first, and the
// opened seal, which the storage reads in the same statement as the rows,
// so that a change committed meanwhile by another process never looks like
// a row put back.
func (r *Ring) sealedRows(ctx context.Context, x store.Executor, f store.KeyFilter) (ws []store.KeyRow, seal *keySeal, err error) {
	known := r.knownGen()
	ws, sealed, err := x.KeyRows(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	if _, inTx := x.(store.Tx); inTx {
		// A transaction's seal may never be committed: it is opened
		// without being remembered.
		s, err := r.unseal(ctx, x, sealed)
		if err != nil || s == nil || s.gen < known {
			return ws, nil, err
		}
		return ws, s, nil
	}
	seal, err = r.openSeal(ctx, x, sealed, known)
	return ws, seal, err
}

// knownGen is the highest seal generation read so far. Taken before a read
// starts, it is one the read's snapshot holds or passes (what was
// committed before a statement starts is visible to it); taken after, it
// could be one committed meanwhile, which the read's older snapshot does
// not hold without anything having been put back.
func (r *Ring) knownGen() uint64 {
	r.sealMu.Lock()
	defer r.sealMu.Unlock()
	return r.sealGen
}

// openSeal returns what the seal lists, remembering the last seal it
// opened (Signer reads the seal at every issuance, and it seldom changes)
// and the highest generation it has read. A seal of a generation below
// known, read by a statement that started after that generation was read,
// is an earlier copy of the keyring put back, rows and seal together:
// nothing it lists is trusted, and Rolledback says so, until a change made
// with the master key seals the keys anew. The seal it returns is shared:
// read it only. x reads the successor of the master key, when the seal is
// the successor's (see masterkeyrotation.go).
func (r *Ring) openSeal(ctx context.Context, x store.Executor, sealed []byte, known uint64) (*keySeal, error) {
	r.sealMu.Lock()
	if r.seal != nil && bytes.Equal(sealed, r.sealBytes) {
		defer r.sealMu.Unlock()
		return r.seal, nil
	}
	r.sealMu.Unlock()
	s, err := r.unseal(ctx, x, sealed)
	if err != nil {
		return nil, err
	}
	r.sealMu.Lock()
	defer r.sealMu.Unlock()
	switch {
	case s == nil:
		r.rolledBack = false
		return nil, nil
	case s.gen < known:
		r.rolledBack = true
		return nil, nil
	case s.gen < r.sealGen:
		// Read from a snapshot taken before a later seal was read by
		// another caller: right for that snapshot, and not remembered.
		return s, nil
	}
	r.seal, r.sealBytes, r.sealGen, r.rolledBack = s, sealed, s.gen, false
	return s, nil
}

// Rolledback reports whether the key set seal last read is of an earlier
// generation than one this ring has read before: the keyring was put back
// as an earlier copy had it (a compromised key with it, say). No published
// key is then trusted, and List marks them all.
func (r *Ring) Rolledback() bool {
	r.sealMu.Lock()
	defer r.sealMu.Unlock()
	return r.rolledBack
}

// reseal records in the seal, within tx, the row w as written: listed
// with its MAC while published, not listed otherwise, at the next
// generation. A seal that is missing, not the master key's or put back
// from an earlier copy lists nothing else afterwards.
func (r *Ring) reseal(ctx context.Context, tx store.Tx, w *store.KeyRow) error {
	sealed, err := tx.MetaGet(ctx, store.MetaKeySeal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keys: %w", err)
	}
	r.sealMu.Lock()
	gen := r.sealGen
	r.sealMu.Unlock()
	entries := map[string][]byte{}
	if s := r.key().openSeal(sealed); s != nil && s.gen >= gen {
		gen, entries = s.gen, maps.Clone(s.entries)
	}
	if published(w) {
		entries[w.KID] = w.MAC
	} else {
		delete(entries, w.KID)
	}
	return r.writeSeal(ctx, tx, gen+1, entries)
}

// writeSeal writes the seal of generation gen listing entries.
func (r *Ring) writeSeal(ctx context.Context, tx store.Tx, gen uint64, entries map[string][]byte) error {
	if err := tx.MetaPut(ctx, store.MetaKeySeal, r.key().appendSeal(gen, entries)); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// openCheck reads the master-key check value of the database: the
// plaintext it opens to under the master key, "" when there is none.
func (r *Ring) openCheck(ctx context.Context, x store.Executor) (string, error) {
	sealed, err := x.MetaGet(ctx, store.MetaMasterKeyCheck)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	pt, err := r.key().open(sealed, checkAAD)
	if err != nil || (string(pt) != checkUnbound && string(pt) != checkBound) {
		return "", fmt.Errorf("keyring: %w: it does not open this database's keys", ErrMasterKey)
	}
	return string(pt), nil
}

// bind, for a new keyring, writes the check value; for one from before the
// binding, binds its rows to the master key. Both happen once, in one
// transaction.
func (r *Ring) bind(ctx context.Context) error {
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	check, err := r.openCheck(ctx, tx)
	switch {
	case err != nil:
		return err
	case check == checkBound: // another process did it
		return nil
	case check == checkUnbound:
		all, _, err := r.sealedRows(ctx, tx, store.KeyFilter{Unbound: true})
		if err != nil {
			return err
		}
		entries := map[string][]byte{}
		for _, w := range all {
			if !r.genuine(&w) {
				continue // left without a MAC: untrusted, and List says so
			}
			w.MAC = r.key().rowMAC(&w)
			if err := tx.KeySetMAC(ctx, w.KID, w.MAC); err != nil {
				return err
			}
			if published(&w) {
				entries[w.KID] = w.MAC
			}
		}
		if err := r.writeSeal(ctx, tx, 1, entries); err != nil {
			return err
		}
	}
	if err := tx.MetaPut(ctx, store.MetaMasterKeyCheck, r.key().seal([]byte(checkBound), checkAAD)); err != nil {
		return err
	}
	// Without a check value (a new keyring, or one whose check value was
	// deleted) nothing is bound: a missing check value vouches for nothing,
	// and the seal, if any, stands.
	return tx.Commit()
}

// genuine reports whether w, an unbound row, is consistent with the keys
// writ makes: its kid is its public key's, and its private half, which a
// next or active key must have, opens under the master key to that public
// key. It cannot prove more of a row whose private half is destroyed.
func (r *Ring) genuine(w *store.KeyRow) bool {
	pub, err := x509.ParsePKIXPublicKey(w.Public)
	alg := verifier.Algorithm(w.Alg)
	if err != nil || string(FormatOf(alg)) != w.Format {
		return false
	}
	if id, err := KeyID(alg, pub); err != nil || id != w.KID {
		return false
	}
	if w.Private == nil {
		return State(w.State) != Next && State(w.State) != Active
	}
	// openKey checks that the private half's kid is w.KID.
	_, err = openKey(r.key(), w.KID, alg, w.Private)
	return err == nil
}

// record returns w as a Record, Untrusted unless trusted.
func record(w *store.KeyRow, trusted bool) (Record, error) {
	rec := Record{
		ID: w.KID, Format: Format(w.Format), Algorithm: verifier.Algorithm(w.Alg), State: State(w.State),
		CreatedAt:     time.Unix(w.Created, 0).UTC(),
		ActivatedAt:   unixOrZero(w.Activated),
		RetiredAt:     unixOrZero(w.Retired),
		UnpublishAt:   unixOrZero(w.Unpublish),
		RemovedAt:     unixOrZero(w.Removed),
		CompromisedAt: unixOrZero(w.Compromised),
		Untrusted:     !trusted,
	}
	var err error
	if rec.Public, err = x509.ParsePKIXPublicKey(w.Public); err != nil {
		return Record{}, fmt.Errorf("keys: decode %q: %w", w.KID, err)
	}
	return rec, nil
}
