package writ_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// followed is a revocation feed that a test points elsewhere, as a
// verifier is when its database is replaced, and that counts the full
// reads it serves.
type followed struct {
	feed    revoked.Feed
	rereads int
}

func (f *followed) Changes(ctx context.Context, since int64) (*revoked.Batch, error) {
	if since == 0 {
		f.rereads++
	}
	return f.feed.Changes(ctx, since)
}

// TestCopyDatabase moves a database from SQLite to PostgreSQL and back:
// each copy opens with the same master key, trusts the same keys and
// signs with them, holds the same tokens, revocations and audit log, and
// has a new revocation epoch, so that a verifier that followed the
// original reads the whole list again.
func TestCopyDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	w, res, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mk, err := keys.ReadMasterKeyFile(res.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	req := issuer.Request{Subject: "svc", Audience: []string{"https://api"}}
	var toks []*issuer.Token
	for _, f := range []keys.Format{keys.JWT, keys.JWT, keys.PASETO, keys.JWT} {
		req.Format = f
		tok, err := w.Issuer.Issue(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if _, err := w.Keys.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Revocations.RevokeToken(ctx, toks[0].ID, revocation.Options{Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	feed := &followed{feed: w.Revocations}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	// Revoked after the snapshot's first read: it follows the list.
	if _, err := w.Revocations.RevokeToken(ctx, toks[1].ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	sourceEpoch := snap.Epoch()
	want := contentsOf(t, w)
	if len(want.tokens) != 4 || len(want.revocations) != 2 || len(want.keys) != 5 || len(want.audit) < 8 {
		t.Fatalf("the original is not what the test means: %+v", want)
	}

	url := pgtest.Start(t)
	c, err := writ.CopyDatabase(ctx, path, url)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := writ.CopyCounts{Meta: c.Meta, Keys: int64(len(want.keys)), Tokens: 4, Revocations: 2, PackedChunks: 1, Audit: int64(len(want.audit))}
	if c != wantCounts || c.Meta < 2 {
		t.Errorf("counts %+v, want %+v and the check value and seal", c, wantCounts)
	}
	back := filepath.Join(dir, "back.db")
	if _, err := writ.CopyDatabase(ctx, url, back); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(back); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the copy to a file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	ks, err := w.Keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}

	for _, cfg := range []writ.Config{{URL: url}, {Path: back}} {
		cfg.MasterKey, cfg.Issuer = mk, testIssuer
		cp, err := writ.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cp.Close()
		what := cfg.Path + writ.RedactURL(cfg.URL)
		got := contentsOf(t, cp)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s holds\n%+v\nwant\n%+v", what, got, want)
		}
		for _, k := range got.keys {
			if k.Untrusted {
				t.Errorf("%s: key %s is not trusted", what, k.ID)
			}
		}
		// It signs with the same keys: the original's key set verifies.
		tok, err := cp.Issuer.Issue(ctx, issuer.Request{Subject: "new", Audience: []string{"https://api"}})
		if err != nil {
			t.Fatalf("%s: issue: %v", what, err)
		}
		v, err := verifier.New(verifier.Config{Issuer: testIssuer, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, Revocation: snap})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok.Token); err != nil {
			t.Errorf("%s: a token the copy issued: %v", what, err)
		}

		// A verifier that followed the original, pointed at the copy,
		// reads its whole list again.
		feed.feed, feed.rereads = cp.Revocations, 0
		if err := snap.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if feed.rereads != 1 || snap.Epoch() == sourceEpoch {
			t.Errorf("%s: the snapshot read the whole list %d times and follows epoch %s (the original's is %s)", what, feed.rereads, snap.Epoch(), sourceEpoch)
		}
		sourceEpoch = snap.Epoch()
		// A verifier that follows only the copy refuses the tokens
		// revoked in the original.
		fresh, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: cp.Revocations})
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		v, err = verifier.New(verifier.Config{Issuer: testIssuer, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks, Revocation: fresh})
		if err != nil {
			t.Fatal(err)
		}
		for i, tok := range toks {
			if _, err := v.Verify(ctx, tok.Token); (i < 2) != errors.Is(err, verifier.ErrRevoked) || i == 3 && err != nil {
				t.Errorf("%s: token %d (revoked in the original: %v): %v", what, i, i < 2, err)
			}
		}
	}
}

// contents is what a test compares of two databases.
type contents struct {
	keys        []keys.Record
	tokens      []issuer.Record
	revocations []revocation.Entry
	audit       []audit.Event // without IDs
}

func contentsOf(t *testing.T, w *writ.DB) contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	var err error
	if c.keys, err = w.Keys.List(ctx); err != nil {
		t.Fatal(err)
	}
	if c.tokens, err = w.Issuer.List(ctx, issuer.Filter{}); err != nil {
		t.Fatal(err)
	}
	if c.revocations, err = w.Revocations.Entries(ctx, revocation.Filter{}); err != nil {
		t.Fatal(err)
	}
	if c.audit, err = w.Audit.List(ctx, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	for i := range c.audit {
		c.audit[i].ID = 0
	}
	return c
}

// TestCopyDatabaseRefuses: the same database, an existing destination, a
// missing source; a copy that fails leaves no file, and a PostgreSQL
// database empty; passwords stay out of errors.
func TestCopyDatabaseRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	w, _, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.Issuer.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	cluster := pgtest.StartCluster(t)
	full := cluster.NewDatabase(t)
	if _, err := writ.CopyDatabase(ctx, path, full); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.db")
	foreign := cluster.NewDatabase(t)
	conn, err := pgx.Connect(ctx, foreign)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `CREATE TABLE orders (id int)`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	notWrit := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notWrit, []byte("notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to string
		want     error
	}{
		{path, path, writ.ErrSameDatabase},
		{path, link, writ.ErrSameDatabase},
		{full, full, writ.ErrSameDatabase},
		{path, full, writ.ErrNotEmpty},
		{full, path, fs.ErrExist},
		{path, foreign, writ.ErrNotWritDatabase},
		{path, notWrit, fs.ErrExist},
		{notWrit, filepath.Join(dir, "to.db"), writ.ErrNotWritDatabase},
		{missing, filepath.Join(dir, "to.db"), writ.ErrNoDatabase},
		{cluster.NewDatabase(t), filepath.Join(dir, "to.db"), writ.ErrNoDatabase}, // no writ schema
	} {
		if _, err := writ.CopyDatabase(ctx, tc.from, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("copy %s to %s: %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "to.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused copy made a file: %v", err)
	}

	// A database whose token names a key it does not hold (written with
	// SQLite's foreign keys off): every copy fails, and leaves nothing.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`PRAGMA foreign_keys = OFF; UPDATE tokens SET kid = 'ghost' WHERE jti = ?`, tok.ID)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	empty := cluster.NewDatabase(t)
	for _, to := range []string{filepath.Join(dir, "to.db"), empty} {
		if _, err := writ.CopyDatabase(ctx, path, to); err == nil {
			t.Fatalf("a copy to %s of a token of a missing key succeeded", to)
		}
	}
	if names, err := filepath.Glob(filepath.Join(dir, "to.db*")); err != nil || len(names) != 0 {
		t.Errorf("a failed copy left %q, %v", names, err)
	}
	if _, err := writ.CopyDatabase(ctx, full, empty); err != nil {
		t.Errorf("a copy into the database of a failed one: %v", err)
	}

	secret := "postgres://writ:hunter2@127.0.0.1:1/writ?sslmode=disable&connect_timeout=5"
	for _, pair := range [][2]string{{path, secret}, {secret, filepath.Join(dir, "to.db")}} {
		if _, err := writ.CopyDatabase(ctx, pair[0], pair[1]); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("a copy with a password in a URL: %v", err)
		}
	}
}

// TestCopyKeepsUntrusted: a key row that the master key does not vouch
// for (its MAC altered in the source) is copied as it is, and stays
// untrusted in the copy, of either engine; the others stay trusted.
func TestCopyKeepsUntrusted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	w, res, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	rot, err := w.Keys.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	mk, err := keys.ReadMasterKeyFile(res.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`UPDATE keys SET mac = zeroblob(32) WHERE kid = ?`, rot.Retired)
	if err := errors.Join(err, raw.Close()); err != nil {
		t.Fatal(err)
	}
	url := pgtest.Start(t)
	back := filepath.Join(dir, "back.db")
	for _, step := range [][2]string{{path, url}, {url, back}} {
		if _, err := writ.CopyDatabase(ctx, step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, cfg := range []writ.Config{{Path: path}, {URL: url}, {Path: back}} {
		cfg.MasterKey, cfg.Issuer = mk, testIssuer
		cp, err := writ.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := cp.Keys.List(ctx)
		cp.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Untrusted != (r.ID == rot.Retired) {
				t.Errorf("%s: key %s (%s): untrusted %v", cfg.Path+writ.RedactURL(cfg.URL), r.ID, r.State, r.Untrusted)
			}
		}
	}
}
