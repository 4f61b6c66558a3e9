// Package lazy builds a value only once it has been asked for often enough
// to pay for itself: a public key's table of multiples (internal/eddsa,
// internal/p256), which costs a few verifications to build and which a key
// that verifies a token or two, as in a function's cold start, never needs.
package lazy

import (
	"sync"
	"sync/atomic"
)

// Value is a *T built at its after-th use. The zero Value holds nothing.
// It is safe for concurrent use.
type Value[T any] struct {
	uses atomic.Uint32     // uses while v is nil
	once sync.Once         // builds v
	v    atomic.Pointer[T] // the value, once built
}

// Get returns the value, or nil before the after-th call, which builds it
// with build (once, however many goroutines call at once: they wait for
// it) and returns it. Calls once it is built count nothing.
func (l *Value[T]) Get(after uint32, build func() *T) *T {
	if v := l.v.Load(); v != nil {
		return v
	}
	if l.uses.Add(1) < after {
		return nil
	}
	l.once.Do(func() { l.v.Store(build()) })
	return l.v.Load()
}

// Load returns the value, or nil if it is not built.
func (l *Value[T]) Load() *T { return l.v.Load() }

// Store sets the value, as if built: for tests that need it at once.
func (l *Value[T]) Store(v *T) { l.v.Store(v) }
