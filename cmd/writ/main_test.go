package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"writ": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script, each in a fresh
// directory with writ run in-process.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			// Keep the caller's WRIT_* settings out of the scripts.
			for _, v := range []string{"WRIT_DB", "WRIT_ISSUER", "WRIT_MASTER_KEY", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT"} {
				e.Setenv(v, "")
			}
			return nil
		},
	})
}
