package store

import "errors"

var (
	// ErrTxDone: a statement, Begin or Commit on a Tx that has ended.
	ErrTxDone = errors.New("store: the transaction has ended")
	// ErrReadOnly: a write, or Begin, within a read-only transaction.
	ErrReadOnly = errors.New("store: a write within a read-only transaction")
	// ErrDoomed: a statement or Commit within a transaction that a
	// transaction joined to it rolled back.
	ErrDoomed = errors.New("store: the transaction was rolled back by a transaction joined to it")
)

// TxState keeps the life of a Tx as "Transactions" above describes it
// (joined transactions, no partial rollback, read-only ones), for every
// engine: each Tx of an engine holds one, asks Live before each statement,
// and leaves its database's own commit and rollback to Commit and Rollback.
type TxState struct {
	outer  *TxState // the transaction a joined one belongs to; nil for one's own
	read   bool     // read-only: writes and Begin are refused
	done   bool
	doomed bool // a joined transaction rolled back: Commit must not commit
	// changed: what the transaction's statements changed that a Watcher
	// announces, which the engine announces as it commits.
	changed Change
}

// NewTxState returns the state of a transaction of its own.
func NewTxState(read bool) *TxState { return &TxState{read: read} }

// Join returns the state of a transaction joined to s (Begin, or with
// read BeginRead, within it): read-only if s is or read is set.
func (s *TxState) Join(read bool) (*TxState, error) {
	if err := s.Live(!read); err != nil {
		return nil, err
	}
	return &TxState{outer: s.root(), read: s.read || read}, nil
}

// root is the transaction of its own that s is or belongs to.
func (s *TxState) root() *TxState {
	if s.outer != nil {
		return s.outer
	}
	return s
}

// Live returns an error unless the transaction may run a statement, one
// that writes if write is set.
func (s *TxState) Live(write bool) error {
	switch root := s.root(); {
	case s.done || root.done:
		return ErrTxDone
	case root.doomed:
		return ErrDoomed
	case write && s.read:
		return ErrReadOnly
	}
	return nil
}

// Commit ends the transaction. own reports that it is a transaction of its
// own, which the engine then commits, or, when err is ErrDoomed, rolls
// back. A joined one commits with the one it joined: the engine does
// nothing, and err says whether that one may still commit.
func (s *TxState) Commit() (own bool, err error) {
	if s.done {
		return false, ErrTxDone
	}
	s.done = true
	switch {
	case s.outer != nil:
		return false, s.outer.Live(false)
	case s.doomed:
		return true, ErrDoomed
	}
	return true, nil
}

// Rollback ends the transaction and reports whether the engine rolls back
// its own: a joined one dooms the one it joined instead, and one already
// ended needs nothing.
func (s *TxState) Rollback() (own bool) {
	if s.done {
		return false
	}
	s.done = true
	if s.outer != nil {
		s.outer.doomed = true
		return false
	}
	return true
}

// Changed records that the transaction changed c (see Watcher): the
// transaction of its own that s is or belongs to announces it as it
// commits.
func (s *TxState) Changed(c Change) { s.root().changed |= c }

// Announces returns what the transaction is to announce as it commits:
// what Changed recorded within it and the transactions joined to it.
func (s *TxState) Announces() Change { return s.root().changed }
