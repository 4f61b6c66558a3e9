package keys

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
)

// Rotating the master key while replicas keep serving.
//
// Ring.RotateMasterKey, in one write transaction, seals every private half
// anew under the new key, binds anew (row MACs, key-set seal one
// generation on, check value) what the current key trusts, and nothing
// else: a row the current key does not vouch for, or a published one its
// seal does not list, stays untrusted, so that a rotation never launders
// a planted row. It also stores the new key sealed under the current one
// (meta MetaMasterKeySuccessor).
//
// A ring that holds the previous key finds, when the check value or a
// seal no longer opens under its key, the successor, opens it with its
// key, checks that it opens the check value, and from then on seals, binds
// and opens with it (Ring.MasterKeySuperseded says so); it keeps the
// previous key only to open what it reads from snapshots taken before the
// change: seals of generations below the first it found under the new
// key. A later seal under the previous key is forged by whoever holds it
// (it leaked, say), and an earlier one is a copy put back. Every write transaction of the keyring looks for the successor
// after it holds the write lock, before it computes a MAC or seals: a
// scheduled rotation that an old-key replica runs while the master key
// changes waits for the change and then writes under the new key, or
// commits first and is sealed anew by it. So no replica fails a signing or
// a rotation during the change, and no replica ever writes a row under the
// previous key after it.
//
// The successor lets whoever holds the previous key read the new one
// until Ring.FinishMasterKeyRotation deletes it; after that the previous
// key opens nothing, and a process given it is refused (ErrMasterKey) on
// its next start, even once the check value is deleted: a keyring without
// one is bound anew only by a key that opens its seal and vouches for its
// rows (see followUnchecked). A running replica that found the successor keeps it in
// memory. To tell finish whether a process still runs on the previous
// key, the rotation notes its time in meta MetaMasterKeyPreviousSeen, and
// each keyring on the previous key notes the time again at every write
// transaction (writ serve makes one every minute); finish refuses while
// the note is recent (previousSeenWindow), unless forced. A process that
// only reads (RingConfig.ReadOnly) leaves no note.

// successorAAD is the additional data of the successor, sealed under the
// previous master key.
var successorAAD = []byte("writ master key successor")

// previousSeenWindow is how recently a keyring on the previous master key
// must have been seen for FinishMasterKeyRotation to refuse: three times
// the interval at which writ serve writes to the keyring.
const previousSeenWindow = 3 * time.Minute

// key returns the master key that seals and binds now.
func (r *Ring) key() *MasterKey {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	return r.mk
}

// MasterKeySuperseded reports whether the master key this ring was given
// has been replaced by writ master-key rotate: the ring found its
// successor in the database and works with it, but the process must be
// given the new key before it restarts, and before the rotation is
// finished.
func (r *Ring) MasterKeySuperseded() bool {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	return r.superseded
}

// adopt looks for the successor of the master key from, read through x,
// and, if it opens the check value, makes it the current key. It reports
// whether the current key is no longer from: it did, or another caller
// did meanwhile.
func (r *Ring) adopt(ctx context.Context, x store.Executor, from *MasterKey) (bool, error) {
	if r.key() != from {
		return true, nil
	}
	sealed, err := x.MetaGet(ctx, store.MetaMasterKeySuccessor)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	raw, err := from.open(sealed, successorAAD)
	if err != nil {
		return false, nil // not this key's successor
	}
	next, err := newMasterKey(raw)
	if err != nil {
		return false, nil
	}
	check, err := x.MetaGet(ctx, store.MetaMasterKeyCheck)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if pt, err := next.open(check, checkAAD); err != nil || string(pt) != checkBound {
		return false, nil
	}
	// The seal now, which the rotation wrote under next or a change made
	// since did: seals of the previous key from then on are forged by
	// whoever holds it (a leaked key, the reason to rotate, say), and the
	// previous key opens none of them.
	sealed, err = x.MetaGet(ctx, store.MetaKeySeal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	var until uint64
	if s := next.openSeal(sealed); s != nil {
		until = s.gen
	}
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.mk == from {
		r.replace(next, until)
		r.superseded = true
	}
	return true, nil
}

// replace makes next the current master key, keeping the current one to
// open the seals of generations below until, read by snapshots taken
// before the change. A ring that has read next's seal of generation until
// takes any lower one for an earlier copy put back (see openSeal). Call it
// with keyMu held.
func (r *Ring) replace(next *MasterKey, until uint64) {
	r.prev, r.prevUntil, r.mk = r.mk, until, next
	r.sealMu.Lock()
	r.sealGen = max(r.sealGen, until)
	r.sealMu.Unlock()
}

// unseal opens the seal with the current master key or the previous one,
// and, when neither opens it, looks for a successor through x. It returns
// nil when no key opens it.
func (r *Ring) unseal(ctx context.Context, x store.Executor, sealed []byte) (*keySeal, error) {
	r.keyMu.Lock()
	cur, prev, until := r.mk, r.prev, r.prevUntil
	r.keyMu.Unlock()
	if s := cur.openSeal(sealed); s != nil {
		return s, nil
	}
	if prev != nil {
		if s := prev.openSeal(sealed); s != nil && s.gen < until {
			return s, nil
		}
	}
	if len(sealed) == 0 {
		return nil, nil
	}
	if adopted, err := r.adopt(ctx, x, cur); err != nil || !adopted {
		return nil, err
	}
	return r.unseal(ctx, x, sealed)
}

// begin begins a write transaction of the keyring: under the write lock,
// it makes sure that the ring seals and binds with the master key that
// opens the check value, taking up its successor if need be, and notes,
// if the ring was given a superseded key, that it was seen.
func (r *Ring) begin(ctx context.Context) (store.Tx, error) {
	tx, err := r.store.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := r.follow(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

func (r *Ring) follow(ctx context.Context, tx store.Tx) error {
	sealed, err := tx.MetaGet(ctx, store.MetaMasterKeyCheck)
	if errors.Is(err, store.ErrNotFound) {
		return r.followUnchecked(ctx, tx)
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if cur := r.key(); !cur.opens(sealed, checkAAD) {
		adopted, err := r.adopt(ctx, tx, cur)
		if err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if !adopted {
			return fmt.Errorf("keys: %w: it no longer opens this database's keys (after writ master-key rotate and finish, only the new key does)", ErrMasterKey)
		}
	}
	if !r.MasterKeySuperseded() {
		return nil
	}
	seen := strconv.AppendInt(nil, r.now().Unix(), 10)
	if err := tx.MetaPut(ctx, store.MetaMasterKeyPreviousSeen, seen); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// followUnchecked lets a keyring without a check value (a new one, or
// one whose check value was deleted) be written, and so bound anew to the
// master key, only if the master key opens its seal, if any, and vouches
// for one of its key rows, if any carries a MAC: a database writer who
// deletes the check value (and the seal) must not get a process given the
// previous master key, after a rotation, to take the keyring back to it.
func (r *Ring) followUnchecked(ctx context.Context, tx store.Tx) error {
	cur := r.key()
	seal, err := tx.MetaGet(ctx, store.MetaKeySeal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keys: %w", err)
	}
	if err == nil && cur.openSeal(seal) == nil {
		return fmt.Errorf("keys: %w: the check value is missing, and it does not open this database's key set seal", ErrMasterKey)
	}
	rows, _, err := tx.KeyRows(ctx, store.KeyFilter{})
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	bound := false
	for i := range rows {
		if rows[i].MAC == nil {
			continue
		}
		if cur.vouches(&rows[i]) {
			return nil
		}
		bound = true
	}
	if bound {
		return fmt.Errorf("keys: %w: the check value is missing, and it vouches for none of this database's key rows", ErrMasterKey)
	}
	return nil
}

// RotateMasterKey seals every private key anew under next and binds to it
// every key row the current master key trusts, in one transaction, while
// other processes that share the database keep working with the current
// key: they take up next from the database (see masterkeyrotation.go).
// Give every process next, restart them one by one, then call
// FinishMasterKeyRotation with a ring opened with next. A rotation whose
// successor is still in the database is refused: finish it first.
//
// Rows the current key does not trust stay untrusted, with their private
// halves (if they open under the current key) sealed anew. A trusted row
// whose private half does not open fails the rotation, which then changes
// nothing: compromise that key first.
func (r *Ring) RotateMasterKey(ctx context.Context, next *MasterKey) error {
	if next == nil {
		return errors.New("keys: a new master key is required")
	}
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cur := r.key()
	if subtle.ConstantTimeCompare(cur.raw, next.raw) == 1 {
		return errors.New("keys: the new master key is the current one")
	}
	switch _, err := tx.MetaGet(ctx, store.MetaMasterKeySuccessor); {
	case err == nil:
		return errors.New("keys: a master-key rotation is under way: finish it first (writ master-key finish, with the new key)")
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("keys: %w", err)
	}
	check, err := r.openCheck(ctx, tx)
	if err != nil {
		return err
	}
	if check != checkBound {
		return errors.New("keys: the key rows are not bound to the master key yet: run a writ command with write access once")
	}
	rows, seal, err := r.sealedRows(ctx, tx, store.KeyFilter{})
	if err != nil {
		return err
	}
	gen := r.knownGen()
	if seal != nil {
		gen = max(gen, seal.gen)
	}
	entries := map[string][]byte{}
	resealed := 0
	for i := range rows {
		w := &rows[i]
		trusted := r.trust(w, seal)
		if w.Private != nil {
			der, err := cur.open(w.Private, keyAAD(w.KID))
			switch {
			case err != nil && trusted:
				return fmt.Errorf("keys: the private half of %q does not open under the master key: compromise the key, then rotate the master key", w.KID)
			case err == nil:
				if err := tx.KeySetPrivate(ctx, w.KID, next.seal(der, keyAAD(w.KID))); err != nil {
					return fmt.Errorf("keys: %w", err)
				}
				resealed++
			}
		}
		if !trusted {
			continue // its MAC stays as it is: not the new key's either
		}
		w.MAC = next.rowMAC(w)
		if err := tx.KeySetMAC(ctx, w.KID, w.MAC); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if published(w) {
			entries[w.KID] = w.MAC
		}
	}
	for name, value := range map[string][]byte{
		store.MetaKeySeal:            next.appendSeal(gen+1, entries),
		store.MetaMasterKeyCheck:     next.seal([]byte(checkBound), checkAAD),
		store.MetaMasterKeySuccessor: cur.seal(next.raw, successorAAD),
	} {
		if err := tx.MetaPut(ctx, name, value); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	// Every other process holds the previous key now: finish waits for
	// them from here.
	if err := tx.MetaPut(ctx, store.MetaMasterKeyPreviousSeen, strconv.AppendInt(nil, r.now().Unix(), 10)); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	detail := fmt.Sprintf("%d private keys sealed anew, %d published", resealed, len(entries))
	if err := r.record(ctx, tx, r.now(), audit.MasterKeyRotate, "", detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	r.keyMu.Lock()
	r.replace(next, gen+1)
	r.keyMu.Unlock()
	return nil
}

// FinishOptions adjust FinishMasterKeyRotation.
type FinishOptions struct {
	// Force finishes even though a process on the previous master key
	// was seen lately: it keeps working until it restarts, and then is
	// refused.
	Force bool
}

// FinishMasterKeyRotation ends the master-key rotation under way: it
// deletes the successor, after which the previous key opens nothing. The
// ring must hold the new key. It fails with ErrPreviousMasterKeyInUse
// while a process that was given the previous key has written to the
// keyring in the last three minutes (writ serve does every minute),
// unless o.Force.
func (r *Ring) FinishMasterKeyRotation(ctx context.Context, o FinishOptions) error {
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if r.MasterKeySuperseded() {
		return fmt.Errorf("keys: %w: this process holds the previous master key; finish with the new one", ErrMasterKey)
	}
	switch _, err := tx.MetaGet(ctx, store.MetaMasterKeySuccessor); {
	case errors.Is(err, store.ErrNotFound):
		return errors.New("keys: no master-key rotation is under way")
	case err != nil:
		return fmt.Errorf("keys: %w", err)
	}
	seen, err := tx.MetaGet(ctx, store.MetaMasterKeyPreviousSeen)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keys: %w", err)
	}
	detail := ""
	if at, perr := strconv.ParseInt(string(seen), 10, 64); err == nil && perr == nil {
		last := time.Unix(at, 0)
		if ago := r.now().Sub(last); ago < previousSeenWindow {
			if !o.Force {
				return fmt.Errorf("%w: %v ago; give every process the new key and restart it, wait %v, or force it",
					ErrPreviousMasterKeyInUse, max(ago, 0).Round(time.Second), previousSeenWindow)
			}
			detail = fmt.Sprintf("forced: a process on the previous key was seen %v ago", max(ago, 0).Round(time.Second))
		}
	}
	for _, name := range []string{store.MetaMasterKeySuccessor, store.MetaMasterKeyPreviousSeen} {
		if err := tx.MetaDelete(ctx, name); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	if err := r.record(ctx, tx, r.now(), audit.MasterKeyFinish, "", detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	r.keyMu.Lock()
	r.prev, r.prevUntil = nil, 0
	r.keyMu.Unlock()
	return nil
}
