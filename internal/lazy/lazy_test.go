package lazy

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestCount checks that the value is built at the after-th counted use,
// once, however many goroutines count at once, that it is there when
// Count returns, and that uses counted once it is built count nothing.
func TestCount(t *testing.T) {
	for _, after := range []uint32{0, 1, 2, 8, 16} {
		var l Value[int]
		var builds atomic.Int32
		build := func() *int {
			builds.Add(1)
			v := 42
			return &v
		}
		for i := uint32(1); i < after; i++ {
			if l.Count(after, build); l.Load() != nil {
				t.Fatalf("after=%d: a value after use %d", after, i)
			}
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 4 {
					if l.Count(after, build); l.Load() == nil || *l.Load() != 42 {
						t.Errorf("after=%d: Load = %v once due", after, l.Load())
					}
				}
			})
		}
		wg.Wait()
		if n := builds.Load(); n != 1 {
			t.Fatalf("after=%d: built %d times", after, n)
		}
		uses, v := l.uses.Load(), l.Load()
		if l.Count(after, build); l.Load() != v || l.uses.Load() != uses || builds.Load() != 1 {
			t.Errorf("after=%d: a use once built rebuilt it or counted", after)
		}
	}
}

// TestStore checks that a stored value is what Load returns, and that
// counting builds nothing over it.
func TestStore(t *testing.T) {
	var l Value[int]
	v := 7
	l.Store(&v)
	if l.Count(1, func() *int { t.Fatal("built"); return nil }); l.Load() != &v {
		t.Fatalf("Load = %v, want the stored value", l.Load())
	}
}
