package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
)

func TestMain(m *testing.M) {
	// The end-to-end tests run this binary as a real writ process.
	if os.Getenv("WRIT_TEST_AS_WRIT") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"writ": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script, each in a fresh
// directory with writ run in-process. $DB names the database (writ.db).
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(nil, "testdata/script"))
}

// TestScriptsPostgres runs the scenarios that are not about files on
// PostgreSQL, each on a new database of one throwaway cluster named by
// WRIT_DB and $DB, with the master key file that WRIT_MASTER_KEY_FILE
// names.
func TestScriptsPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	cluster := pgtest.StartCluster(t)
	p := scriptParams(func(e *testscript.Env) {
		url := cluster.NewDatabase(t)
		e.Setenv("DB", url)
		e.Setenv("WRIT_DB", url)
		e.Setenv("WRIT_MASTER_KEY_FILE", filepath.Join(e.WorkDir, "master.key"))
	}, "testdata/script")
	for _, name := range []string{"auditpage", "console", "manage", "masterkey", "permissions", "revoke", "rotate", "status", "used"} {
		p.Files = append(p.Files, filepath.Join(p.Dir, name+".txtar"))
	}
	p.Dir = ""
	testscript.Run(t, p)
}

// scriptParams are the scripts' settings in dir; engine, when not nil,
// points them at another database than writ.db.
func scriptParams(engine func(*testscript.Env), dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			// Keep the caller's WRIT_* settings out of the scripts.
			for _, v := range []string{"WRIT_DB", "WRIT_ISSUER", "WRIT_MASTER_KEY", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT", "WRIT_FEED_TOKEN"} {
				e.Setenv(v, "")
			}
			e.Setenv("DB", "writ.db")
			if engine != nil {
				engine(e)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"writf":     writf,
			"extract":   extract,
			"hintvalue": hintValue,
			"activekid": activeKID,
			"perm":      perm,
			"report":    report,
		},
	}
}

// writf runs writ with every argument "@file" replaced by that file's
// contents, trimmed: the scripts' way to pass a token or jti along.
func writf(ts *testscript.TestScript, neg bool, args []string) {
	for i, a := range args {
		if name, ok := strings.CutPrefix(a, "@"); ok {
			args[i] = strings.TrimSpace(ts.ReadFile(name))
		}
	}
	err := ts.Exec("writ", args...)
	switch {
	case err != nil && !neg:
		ts.Fatalf("writ %s: %v", strings.Join(args, " "), err)
	case err == nil && neg:
		ts.Fatalf("writ %s: unexpected success", strings.Join(args, " "))
	}
}

// hintvalue IN OUT writes to OUT the value that ends the hint in IN (the
// stderr of a listing: "writ: hint: … list them with --before 42"), to
// page on with writf.
func hintValue(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hintvalue IN OUT")
	}
	for line := range strings.Lines(ts.ReadFile(args[0])) {
		if hint, ok := strings.CutPrefix(line, "writ: hint: "); ok {
			words := strings.Fields(hint)
			ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(words[len(words)-1]), 0o600))
			return
		}
	}
	ts.Fatalf("%s has no hint", args[0])
}

// extract IN FIELD OUT writes the string FIELD of the JSON object in IN to OUT.
func extract(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: extract IN FIELD OUT")
	}
	var obj map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &obj))
	v, ok := obj[args[1]].(string)
	if !ok {
		ts.Fatalf("%s has no string %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(v), 0o600))
}

// activekid IN OUT writes the kid of the active JWT key in the
// "writ keys list --output json" output IN to OUT.
func activeKID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: activekid IN OUT")
	}
	var keys []struct{ KID, Format, State string }
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &keys))
	for _, k := range keys {
		if k.Format == "jwt" && k.State == "active" {
			ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(k.KID), 0o600))
			return
		}
	}
	ts.Fatalf("no active JWT key in %s", args[0])
}

// perm FILE MODE checks FILE's permission bits against MODE, in octal.
func perm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	if got := fi.Mode().Perm(); (got == os.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o", args[0], got)
	}
}

// report JTI OUTCOME CLIENT records in $DB a use of the token JTI
// ("@file": that file's contents) now from the address CLIENT ("-":
// unknown) with OUTCOME, as writ serve records the reports of verifiers
// (issuer.RecordUsage), and prints what it did.
func report(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: report JTI OUTCOME CLIENT")
	}
	ctx := context.Background()
	jti := args[0]
	if name, ok := strings.CutPrefix(jti, "@"); ok {
		jti = strings.TrimSpace(ts.ReadFile(name))
	}
	u := issuer.Use{JTI: jti, At: time.Now(), Outcome: args[1]}
	var err error
	if args[2] != "-" {
		u.Client, err = netip.ParseAddr(args[2])
		ts.Check(err)
	}
	var s store.Store
	if db := ts.Getenv("DB"); writ.IsURL(db) {
		s, err = postgres.Open(ctx, db, false)
	} else {
		s, err = sqlite.Open(ctx, ts.MkAbs(db), false)
	}
	ts.Check(err)
	defer s.Close()
	// Recording signs nothing: no keys.
	iss, err := issuer.New(issuer.Config{Issuer: "http://127.0.0.1:8080", Keys: noKeys{}, Store: s})
	ts.Check(err)
	rep, err := iss.RecordUsage(ctx, []issuer.Use{u}, "api:verifier")
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%+v\n", rep)
}

// noKeys is a key source without keys.
type noKeys struct{}

func (noKeys) Signer(context.Context, keys.Format) (*keys.Key, error) {
	return nil, keys.ErrNoActiveKey
}
