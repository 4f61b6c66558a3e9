package revocation

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/writ-dev/writ/internal/feed"
)

// TestTokenIndex: every entry added is found at its position, a second
// entry of the same id is not added, and ids not added (random, or one
// bit from an added one) are not found, in tables from empty to full.
func TestTokenIndex(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000, 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			tokens := make([]feed.RevokedToken, n)
			for i := range tokens {
				rand.Read(tokens[i].ID[:])
			}
			if n > 2 {
				tokens[n-1].ID = tokens[0].ID // a second entry of one id
			}
			x := newTokenIndex(tokens)
			// Every other entry but the last, then the last, a duplicate.
			for i := 0; i < n-1; i += 2 {
				x.add(i)
			}
			if n > 2 {
				x.add(n - 1)
			}
			if want := n / 2; x.n != want {
				t.Errorf("%d entries added, want %d", x.n, want)
			}
			for i, tok := range tokens[:max(0, n-1)] {
				want := -1
				if i%2 == 0 {
					want = i
				}
				if got := x.find(tok.ID); got != want {
					t.Fatalf("entry %d: found at %d, want %d", i, got, want)
				}
				near := tok.ID
				near[i%16] ^= 1 << (i % 8)
				if got := x.find(near); got != -1 {
					t.Fatalf("an id one bit from entry %d found at %d", i, got)
				}
			}
			var absent feed.TokenID
			rand.Read(absent[:])
			if got := x.find(absent); got != -1 {
				t.Errorf("a random id found at %d", got)
			}
		})
	}
}
