package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// TestSearchLocale: TokenFilter.Search folds ASCII letters only in a
// database whose locale folds every letter (É to é, the Kelvin sign to k),
// as it does under the C locale of the suite's databases and on SQLite.
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
	storetest.TokenSearch(t, db)
}
