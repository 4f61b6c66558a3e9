package revocation

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
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
	var ledger []cascade.ID
	err = tx.TokenJTIEach(ctx, universe, alive, func(jti []byte) error {
		ledger = append(ledger, feed.TokenIDOf(unsafe.String(unsafe.SliceData(jti), len(jti))))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	slices.SortFunc(ledger, compareIDs)
	ledger = slices.Compact(ledger)

	var revoked []cascade.ID
	var expires int64
	var exact []feed.RevokedToken
	for _, t := range b.Tokens {
		_, inUniverse := slices.BinarySearchFunc(ledger, cascade.ID(t.ID), compareIDs)
		switch {
		case t.ExpiresAt < alive:
			// No verifier accepts the token any more.
		case t.EffectiveAt > built || !inUniverse:
			exact = append(exact, t)
		default:
			revoked = append(revoked, cascade.ID(t.ID))
			expires = max(expires, t.ExpiresAt)
		}
	}
	slices.SortFunc(revoked, compareIDs)
	others := without(ledger, revoked)
	f, err := cascade.Build(revoked, others)
	if err != nil {
		return nil, fmt.Errorf("revocation: snapshot filter: %w", err)
	}
	return &feed.Snapshot{Epoch: b.Epoch, Seq: b.Seq, Built: built, Universe: universe, Expires: expires, Filter: f,
		Tokens: exact, Subjects: b.Subjects, Keys: b.Keys}, nil
}

// compareIDs orders ids as bytes.Compare does, in two comparisons of 64
// bits: it sorts the million ids of a ledger.
func compareIDs(a, b cascade.ID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}

// without returns the ids of sorted that are not in remove, also sorted,
// in sorted's memory.
func without(sorted, remove []cascade.ID) []cascade.ID {
	out := sorted[:0]
	j := 0
	for _, id := range sorted {
		for j < len(remove) && compareIDs(remove[j], id) < 0 {
			j++
		}
		if j < len(remove) && remove[j] == id {
			continue
		}
		out = append(out, id)
	}
	return out
}
