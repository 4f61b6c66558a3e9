// Package lazy builds a value only once it has been asked for often enough
// to pay for itself: a public key's table of multiples (internal/eddsa,
// internal/p256), which costs a few verifications to build and which a key
// that verifies a token or two, as in a function's cold start, never needs.
package lazy

import (
	"sync"
	"sync/atomic"
)

// Value is a *T built at its after-th counted use. The zero Value holds
// nothing. It is safe for concurrent use.
type Value[T any] struct {
	uses atomic.Uint32     // uses counted while v is nil
	once sync.Once         // builds v
	v    atomic.Pointer[T] // the value, once built
}

// Count counts a use and, at the after-th, builds the value with build
// (once, however many goroutines count at once: they wait for it). Uses
// counted once it is built count nothing. The caller decides what counts:
// a key's table is worth building for verifications that succeeded, not
// for any signature a client makes up.
func (l *Value[T]) Count(after uint32, build func() *T) {
	if l.v.Load() != nil || l.uses.Add(1) < after {
		return
	}
	l.once.Do(func() { l.v.Store(build()) })
}

// Load returns the value, or nil if it is not built.
func (l *Value[T]) Load() *T { return l.v.Load() }

// Store sets the value, as if built: for tests that need it at once.
func (l *Value[T]) Store(v *T) { l.v.Store(v) }
