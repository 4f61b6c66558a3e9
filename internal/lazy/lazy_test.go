package lazy

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestGet checks that the value is built at the after-th call, once,
// however many goroutines call at once, that every call from then on
// returns it and counts nothing, and that calls before get nil.
func TestGet(t *testing.T) {
	for _, after := range []uint32{0, 1, 2, 8, 16} {
		var l Value[int]
		var builds atomic.Int32
		build := func() *int {
			builds.Add(1)
			v := 42
			return &v
		}
		for i := uint32(1); i < after; i++ {
			if l.Get(after, build) != nil {
				t.Fatalf("after=%d: a value at call %d", after, i)
			}
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 4 {
					if v := l.Get(after, build); v == nil || *v != 42 {
						t.Errorf("after=%d: Get = %v once due", after, v)
					}
				}
			})
		}
		wg.Wait()
		if n := builds.Load(); n != 1 {
			t.Fatalf("after=%d: built %d times", after, n)
		}
		uses := l.uses.Load()
		if v := l.Get(after, build); v != l.Load() || l.uses.Load() != uses || builds.Load() != 1 {
			t.Errorf("after=%d: a call once built rebuilt it or counted", after)
		}
	}
}

// TestStore checks that a stored value is what Get returns, unbuilt.
func TestStore(t *testing.T) {
	var l Value[int]
	v := 7
	l.Store(&v)
	if got := l.Get(100, func() *int { t.Fatal("built"); return nil }); got != &v {
		t.Fatalf("Get = %v, want the stored value", got)
	}
}
