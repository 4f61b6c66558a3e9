package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestSearchLocale: TokenFilter.Search folds ASCII letters only in a
// database whose locale folds every letter, as it does under the C locale
// of the suite's databases and on SQLite.
func TestSearchLocale(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	conn, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE unicode TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'`); err != nil {
		t.Skipf("no database with a UTF-8 locale here: %v", err)
	}
	var folded string
	if err := conn.QueryRow(ctx, `SELECT lower('É' COLLATE "C.utf8")`).Scan(&folded); err != nil || folded != "é" {
		t.Fatalf("the UTF-8 locale folds É to %q, %v: this test would prove nothing", folded, err)
	}
	db, err := Open(ctx, cluster.URL("unicode"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.KeyInsert(ctx, store.KeyRow{KID: "k1", Format: "jwt", Alg: "EdDSA", State: "active", Public: []byte("pub"),
		Private: []byte("sealed"), Created: 1, Activated: store.At(1), MAC: []byte("mac")}); err != nil {
		t.Fatal(err)
	}
	rows := []store.TokenRow{
		{JTI: "s1", Format: "jwt", KID: "k1", Subject: "ÉCOLE", Name: "Billing", Scopes: "read", Audience: "api", IssuedAt: 300, ExpiresAt: 5000, IssuedBy: "test"},
		{JTI: "s2", Format: "jwt", KID: "k1", Subject: "kelvin", Name: "k", Scopes: "read", Audience: "api", IssuedAt: 301, ExpiresAt: 5000, IssuedBy: "test"},
	}
	if err := db.TokenInsertMany(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"billing", []string{"s1"}},
		{"COLE", []string{"s1"}},
		{"ÉCOLE", []string{"s1"}},
		{"école", nil},
		{"\u212a", nil}, // the Kelvin sign, which the locale folds to k
	} {
		got, err := db.TokenList(ctx, store.TokenFilter{Search: tc.search, At: 1, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.JTI)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("Search %q = %v, want %v", tc.search, ids, tc.want)
		}
	}
}
