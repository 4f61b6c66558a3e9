package cascade_test

import (
	"fmt"

	"github.com/writ-dev/writ/internal/cascade"
)

// A publisher builds the filter from the revoked ids and the other ids of
// its universe and writes it; a verifier parses it and asks about ids of
// that universe.
func Example() {
	revoked := []cascade.ID{{1}, {2}, {3}}
	others := []cascade.ID{{4}, {5}, {6}, {7}}
	f, err := cascade.Build(revoked, others)
	if err != nil {
		panic(err)
	}
	data, _ := f.AppendBinary(nil)

	g, err := cascade.Parse(data)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(data), "bytes")
	for _, id := range []cascade.ID{{2}, {5}} {
		fmt.Printf("%x… revoked: %v\n", id[:1], g.Contains(&id))
	}
	// Output:
	// 51 bytes
	// 02… revoked: true
	// 05… revoked: false
}
