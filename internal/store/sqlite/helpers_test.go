package sqlite

import "database/sql"

// Exec and QueryRow run statements on the database, for tests that look
// under the contract.
func (d *DB) Exec(query string, args ...any) (sql.Result, error) { return d.db.Exec(query, args...) }

func (d *DB) QueryRow(query string, args ...any) *sql.Row { return d.db.QueryRow(query, args...) }
