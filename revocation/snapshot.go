package revocation

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"time"
	"unsafe"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier"
)

// UniverseMargin is how long before a snapshot's read, by the database's
// clock, its universe ends: the issuer's ledger refuses a token whose iat
// is more than half of it behind that clock (issuer.MaxClockSkew), so a
// token recorded after the read, however slow its issuer's clock or its
// commit, is outside the universe, and its revocation, if any, is read
// exactly.
const UniverseMargin = time.Minute

// Snapshot returns the list's whole state for verifiers at the edge, read
// in one consistent snapshot of the database with the issuer's ledger of
// tokens: a filter (internal/cascade) that holds, among the tokens issued
// before its universe time U (UniverseMargin before the read), every token
// revoked by its own entry in force and none of the others still unexpired
// (but for a verifier's leeway), and, exactly, the token entries the filter
// does not answer for (tokens outside the universe, revocations taking
// effect after the read), and every subject and key entry. Token entries
// of tokens expired beyond any verifier's leeway are left out.
//
// A verifier reads a token issued before U as revoked when the filter holds
// it, and every token by the exact entries, as the Changes after the
// snapshot's Seq add them.
func (l *List) Snapshot(ctx context.Context) (*feed.Snapshot, error) {
	tx, err := l.store.BeginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	defer tx.Rollback()
	// The database's clock, which the issuer's ledger holds every token
	// to (issuer.MaxClockSkew), first: the transaction's snapshot starts
	// at its first read, which the universe is taken before.
	now, err := store.DatabaseNow(ctx, tx, l.databaseNow)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	b, err := l.read(ctx, tx, 0)
	if err != nil {
		return nil, err
	}
	built := now.Unix()
	universe := now.Add(-UniverseMargin).Unix()
	alive := now.Add(-verifier.MaxLeeway).Unix()
	// The token entries the filter may answer for, by id: those of the
	// ledger among them go to revoked, the other ids of the ledger to
	// others, in one pass without sorting; the rest are exact.
	candidates := newTokenIndex(b.Tokens)
	for i, t := range b.Tokens {
		if t.ExpiresAt >= alive && t.EffectiveAt <= built {
			candidates.add(i)
		}
	}
	inUniverse := make([]bool, len(b.Tokens))
	// Sized as the last snapshot's, and a little more: the ledger changes
	// little between two.
	n := l.others.Load()
	others := make([]cascade.ID, 0, n+n/16)
	err = tx.TokenJTIEach(ctx, universe, alive, func(jti []byte) error {
		id := feed.TokenIDOf(unsafe.String(unsafe.SliceData(jti), len(jti)))
		if i := candidates.find(id); i >= 0 {
			inUniverse[i] = true
			return nil
		}
		others = append(others, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	l.others.Store(int64(len(others)))
	var expires int64
	var exact []feed.RevokedToken
	revoked := make([]cascade.ID, 0, candidates.n)
	for i, t := range b.Tokens {
		switch {
		case t.ExpiresAt < alive:
			// No verifier accepts the token any more.
		case inUniverse[i]:
			revoked = append(revoked, cascade.ID(t.ID))
			expires = max(expires, t.ExpiresAt)
		default:
			exact = append(exact, t)
		}
	}
	f, err := cascade.Build(revoked, others)
	if err != nil {
		return nil, fmt.Errorf("revocation: snapshot filter: %w", err)
	}
	return &feed.Snapshot{Epoch: b.Epoch, Seq: b.Seq, Built: built, Universe: universe, Expires: expires, Filter: f,
		Tokens: exact, Subjects: b.Subjects, Keys: b.Keys}, nil
}

// tokenIndex finds token entries by id: open addressing over the entries
// positions, in 4 bytes a slot, at most half full, hashed with a seed of
// its own (ids may be chosen: anyone may revoke a jti).
type tokenIndex struct {
	seed   maphash.Seed
	tokens []feed.RevokedToken
	slots  []int32 // a position in tokens, plus 1; 0 when free
	n      int     // the entries added
}

func newTokenIndex(tokens []feed.RevokedToken) *tokenIndex {
	size := 1 << bits.Len(uint(2*len(tokens)))
	return &tokenIndex{seed: maphash.MakeSeed(), tokens: tokens, slots: make([]int32, size)}
}

// add adds the entry at position i, unless an entry of its id is there.
func (x *tokenIndex) add(i int) {
	if x.find(x.tokens[i].ID) >= 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	h := maphash.Bytes(x.seed, x.tokens[i].ID[:]) & mask
	for x.slots[h] != 0 {
		h = (h + 1) & mask
	}
	x.slots[h] = int32(i + 1)
	x.n++
}

// find returns the position of the entry added of id, or -1.
func (x *tokenIndex) find(id feed.TokenID) int {
	mask := uint64(len(x.slots) - 1)
	for h := maphash.Bytes(x.seed, id[:]) & mask; x.slots[h] != 0; h = (h + 1) & mask {
		if i := int(x.slots[h] - 1); x.tokens[i].ID == id {
			return i
		}
	}
	return -1
}
