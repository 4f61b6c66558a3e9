package cascade

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics and allocates within its input's size
// (TestParseAllocation), refuses with ErrMalformed alone, and what it
// accepts AppendBinary writes again byte for byte, and Contains reads.
func FuzzParse(f *testing.F) {
	r := newRand(7)
	for _, n := range [][2]int{{0, 0}, {5, 0}, {1, 1}, {20, 200}, {300, 100}} {
		c, _, _ := built(f, r, n[0], n[1])
		enc, _ := c.AppendBinary(nil)
		f.Add(enc)
	}
	for name, data := range malformed() {
		if name != "above MaxSize" { // 64 MB: not a seed
			f.Add(data)
		}
	}
	ids := randomIDs(r, 64)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, %v", c, err)
			}
			return
		}
		enc, _ := c.AppendBinary(nil)
		if !bytes.Equal(enc, data) || c.Size() != len(data) {
			t.Fatalf("read %x, writes %x (Size %d)", data, enc, c.Size())
		}
		for i := range ids {
			c.Contains(&ids[i])
		}
	})
}
