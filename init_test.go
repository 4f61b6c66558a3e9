package writ_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

const testIssuer = "https://i.example"

// Start as writ serve does on a fresh machine: the first Init creates the
// database, its master key file beside it and the first keys; later ones
// open it and add nothing.
func ExampleInit() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "writ-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := writ.InitConfig{Config: writ.Config{Path: filepath.Join(dir, "writ.db"), Issuer: "https://tokens.example"}}
	for range 2 {
		w, res, err := writ.Init(ctx, cfg)
		if res.CreatedMasterKeyFile {
			fmt.Println("created", filepath.Base(res.MasterKeyFile), "(back it up)")
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("created database:", res.CreatedDatabase, "keys added:", len(res.AddedKeys))
		w.Close()
	}
	// Output:
	// created writ.db.key (back it up)
	// created database: true keys added: 4
	// created database: false keys added: 0
}

// initDB runs Init on path with the master key file (or, for "", the
// default one beside it).
func initDB(t *testing.T, path, keyFile string) (*writ.DB, writ.InitResult, error) {
	t.Helper()
	return writ.Init(context.Background(), writ.InitConfig{
		Config:        writ.Config{Path: path, Issuer: testIssuer, Actor: "test"},
		MasterKeyFile: keyFile,
	})
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestInitNew: on a fresh path Init creates the database and its master
// key file beside it, both 0600, and for each format an active and a next
// key; the database issues at once, and the key file opens it.
func TestInitNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "writ.db")
	w, res, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if want := path + ".key"; res.MasterKeyFile != want || writ.DefaultMasterKeyFile(path) != want {
		t.Errorf("MasterKeyFile %q, DefaultMasterKeyFile %q; want %q", res.MasterKeyFile, writ.DefaultMasterKeyFile(path), want)
	}
	if !res.CreatedMasterKeyFile || !res.CreatedDatabase || len(res.AddedKeys) != 4 {
		t.Errorf("result %+v; want the key file and the database created and 4 keys added", res)
	}
	algs := map[verifier.Algorithm]int{}
	for _, k := range res.AddedKeys {
		algs[k.Algorithm()]++
	}
	if algs[verifier.EdDSA] != 2 || algs[verifier.V4Public] != 2 {
		t.Errorf("added keys of algorithms %v; want two EdDSA and two v4.public", algs)
	}
	for _, f := range []string{path, res.MasterKeyFile} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(f), m)
		}
	}
	if _, err := w.Issuer.Issue(ctx, issuer.Request{Subject: "ci", Audience: []string{"api"}}); err != nil {
		t.Errorf("issue on the new database: %v", err)
	}
	w.Close()

	mk, err := keys.ReadMasterKeyFile(res.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := writ.Open(ctx, writ.Config{Path: path, MasterKey: mk, Issuer: testIssuer})
	if err != nil {
		t.Fatalf("Open with the key file Init created: %v", err)
	}
	w2.Close()
}

// TestInitAgain: Init on a complete database creates and adds nothing.
func TestInitAgain(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "writ.db"), filepath.Join(dir, "elsewhere.key")
	w, res, err := initDB(t, path, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if res.MasterKeyFile != keyFile || !res.CreatedMasterKeyFile {
		t.Errorf("first Init: %+v; want the key file %s created", res, keyFile)
	}
	if _, err := os.Stat(path + ".key"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Init with a key file named made the default one too: %v", err)
	}
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w, res, err = initDB(t, path, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if res.CreatedMasterKeyFile || res.CreatedDatabase || len(res.AddedKeys) != 0 || res.MasterKeyFile != keyFile {
		t.Errorf("second Init: %+v; want nothing created or added", res)
	}
	if after, _ := os.ReadFile(keyFile); string(after) != string(before) {
		t.Error("second Init changed the master key file")
	}
}

// TestInitMasterKeyGiven: with the master key given, Init reads and
// creates no key file.
func TestInitMasterKeyGiven(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	mk, err := keys.ParseMasterKey("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=") // test-only
	if err != nil {
		t.Fatal(err)
	}
	w, res, err := writ.Init(context.Background(), writ.InitConfig{
		Config:        writ.Config{Path: path, MasterKey: mk, Issuer: testIssuer},
		MasterKeyFile: filepath.Join(dir, "unused.key"),
		JWTAlgorithm:  verifier.ES256,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if res.MasterKeyFile != "" || res.CreatedMasterKeyFile || !res.CreatedDatabase || len(res.AddedKeys) != 4 {
		t.Errorf("result %+v; want the database created and no key file", res)
	}
	for _, k := range res.AddedKeys {
		if k.Format() == keys.JWT && k.Algorithm() != verifier.ES256 {
			t.Errorf("JWT key %s is %s, want ES256", k.ID(), k.Algorithm())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".key") {
			t.Errorf("Init with the master key given made %s", e.Name())
		}
	}
}

// TestInitExistingDatabaseWithoutKeyFile: a database whose master key file
// is missing is refused, and no new key file is made for it.
func TestInitExistingDatabaseWithoutKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	w, res, err := initDB(t, path, "")
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Remove(res.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	w, res, err = initDB(t, path, "")
	if err == nil {
		w.Close()
	}
	if !errors.Is(err, writ.ErrNoMasterKeyFile) || w != nil {
		t.Fatalf("Init: %v, %v; want ErrNoMasterKeyFile", w, err)
	}
	if want := `database "` + path + `" exists but its master key file "` + path + `.key" does not`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if res.CreatedMasterKeyFile || res.CreatedDatabase {
		t.Errorf("result %+v; want nothing created", res)
	}
	if _, err := os.Stat(path + ".key"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a master key file was made for an existing database: %v", err)
	}
}

// TestInitRemovesKeyWithoutDatabase: when the database cannot be created
// (here a symbolic link to a missing file, or a directory that does not
// exist), the master key file Init created is removed; one that was
// there already stays.
func TestInitRemovesKeyWithoutDatabase(t *testing.T) {
	dir := t.TempDir()
	dangling := filepath.Join(dir, "dang.db")
	if err := os.Symlink(filepath.Join(dir, "nonexist.db"), dangling); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ path, keyFile string }{
		"dangling link":     {dangling, ""},
		"missing directory": {filepath.Join(dir, "none", "writ.db"), filepath.Join(dir, "missing-dir.key")},
	} {
		t.Run(name, func(t *testing.T) {
			w, res, err := initDB(t, tc.path, tc.keyFile)
			if err == nil {
				w.Close()
				t.Fatal("Init succeeded")
			}
			if res.CreatedMasterKeyFile || res.CreatedDatabase {
				t.Errorf("result %+v; want nothing left created", res)
			}
			if _, err := os.Lstat(res.MasterKeyFile); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Init left the master key file %s behind: %v", res.MasterKeyFile, err)
			}
		})
	}

	key := filepath.Join(dir, "mine.key")
	if _, err := keys.GenerateMasterKeyFile(key); err != nil {
		t.Fatal(err)
	}
	if _, res, err := initDB(t, dangling, key); err == nil || res.CreatedMasterKeyFile {
		t.Errorf("Init through a dangling link: %v, %+v; want an error and no key created", err, res)
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("Init removed a key file it did not make: %v", err)
	}
}

// TestInitRefuses: what Init is not given, or cannot use, is refused before
// it creates anything.
func TestInitRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	for name, cfg := range map[string]writ.InitConfig{
		"no path":     {Config: writ.Config{Issuer: testIssuer}},
		"no issuer":   {Config: writ.Config{Path: path}},
		"read-only":   {Config: writ.Config{Path: path, Issuer: testIssuer, ReadOnlyOK: true}},
		"PASETO alg":  {Config: writ.Config{Path: path, Issuer: testIssuer}, JWTAlgorithm: verifier.V4Public},
		"unknown alg": {Config: writ.Config{Path: path, Issuer: testIssuer}, JWTAlgorithm: "HS256"},
	} {
		t.Run(name, func(t *testing.T) {
			w, _, err := writ.Init(context.Background(), cfg)
			if err == nil {
				w.Close()
				t.Fatal("Init succeeded")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("Init made %v", entries)
			}
		})
	}
}
