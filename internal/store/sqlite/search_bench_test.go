package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// BenchmarkTokenSearch: a search of 20,000 tokens by a part of their name
// or subject (a scan of them all, case folded), beside the same page
// listed without a search and with an exact subject (the floor: what an
// index finds).
func BenchmarkTokenSearch(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "writ.db"), true)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.KeyInsert(ctx, store.KeyRow{KID: "k1", Format: "jwt", Alg: "EdDSA", State: "active", Public: []byte("pub"),
		Private: []byte("sealed"), Created: 1, Activated: store.At(1), MAC: []byte("mac")}); err != nil {
		b.Fatal(err)
	}
	const n = 20_000
	rows := make([]store.TokenRow, n)
	for i := range rows {
		rows[i] = store.TokenRow{JTI: fmt.Sprint("jti-", i), Format: "jwt", KID: "k1", Subject: fmt.Sprint("svc-", i%500),
			Name: fmt.Sprintf("Deploy-Bot %d", i), Scopes: "read", Audience: "api", IssuedAt: int64(100 + i), ExpiresAt: 1 << 40, IssuedBy: "bench"}
	}
	if err := db.TokenInsertMany(ctx, rows, nil); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    store.TokenFilter
		want int
	}{
		{"subject", store.TokenFilter{Subject: "svc-7"}, 40},
		{"search-subject", store.TokenFilter{Search: "SVC-7"}, 50},
		{"search-few", store.TokenFilter{Search: "Bot 1999"}, 11},
		{"search-none", store.TokenFilter{Search: "nothing"}, 0},
	} {
		bc.f.At, bc.f.Limit = 1, 50
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := db.TokenList(ctx, bc.f)
				if err != nil || len(got) != bc.want {
					b.Fatalf("%d tokens, %v; want %d", len(got), err, bc.want)
				}
			}
		})
	}
}
