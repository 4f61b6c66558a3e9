// Command writ issues, lists and verifies API tokens and manages the keys
// that sign them.
//
// Messages go to stderr as "writ: error: …", optionally followed by
// "writ: hint: …", and "writ: warning: …" for what does not change the
// exit status: lowercase, one line each, no final period. Output meant
// for programs (a token, claims, a key set, --output json) goes to stdout
// alone. Exit status: 0 success, 1 failure (including an invalid token),
// 2 usage error. Secrets are never taken as flag values.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "writ: error: %s\n", text.Escape(err.Error()))
	var h hintError
	if errors.As(err, &h) {
		fmt.Fprintf(stderr, "writ: hint: %s\n", h.hint)
	} else if writ.IsReadOnly(err) {
		fmt.Fprintln(stderr, "writ: hint: this command writes: it needs write access to the database and to its directory, where SQLite keeps the -wal and -shm files")
	}
	var u usageError
	if errors.As(err, &u) || errors.Is(err, issuer.ErrRequest) || errors.Is(err, text.ErrNotPlain) {
		return 2
	}
	return 1
}

// envSet reports whether the environment variable name is set and not empty.
func envSet(name string) bool { return os.Getenv(name) != "" }

// globals are the settings every command shares, from flags or WRIT_*
// environment variables.
type globals struct {
	db            string
	issuer        string
	masterKeyFile string
	output        string
	policy        keys.Policy // the key lifecycle policy, for commands that rotate

	stdin          io.Reader
	stdout, stderr io.Writer
}

// envFallbacks maps global flags to the environment variables that set them
// when the flag is absent.
var envFallbacks = map[string]string{
	"db":              "WRIT_DB",
	"issuer":          "WRIT_ISSUER",
	"master-key-file": "WRIT_MASTER_KEY_FILE",
	"output":          "WRIT_OUTPUT",
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "writ",
		Short: "Issue, verify and revoke API tokens",
		Long: `writ issues time-limited API tokens (JWT per RFC 9068, PASETO v4.public)
that carry scopes, publishes the keys that verify them, and verifies tokens
offline.

Global settings come from flags or the environment:
  --db               WRIT_DB               the SQLite database file (default writ.db),
                                           or a postgres:// URL
  --issuer           WRIT_ISSUER           the iss of issued tokens
  --master-key-file  WRIT_MASTER_KEY_FILE  the key-encryption key file (default DB.key;
                                           none for a URL)
  WRIT_MASTER_KEY                          the key-encryption key itself, base64
  --output           WRIT_OUTPUT           text or json`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				env, ok := envFallbacks[f.Name]
				if !ok || f.Changed || err != nil {
					return
				}
				if v := os.Getenv(env); v != "" {
					if e := f.Value.Set(v); e != nil {
						err = usagef("%s=%q: %v", env, v, e)
					}
				}
			})
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("db") && writ.IsURL(g.db) && urlHasPassword(g.db) {
				fmt.Fprintln(g.stderr, "writ: warning: the --db URL holds a password, which other users of this machine may see in its process list: use WRIT_DB, PGPASSWORD or ~/.pgpass")
			}
			if g.output != "text" && g.output != "json" {
				return usagef("--output must be text or json, not %q", g.output)
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVar(&g.db, "db", "writ.db", "the SQLite database `file`, or a postgres:// URL")
	pf.StringVar(&g.issuer, "issuer", "http://127.0.0.1:8080", "the issuer (iss) of tokens")
	pf.StringVar(&g.masterKeyFile, "master-key-file", "", "the key-encryption key `file` (default: the database path + .key; none for a URL)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")

	group(root)
	root.AddCommand(
		newInitCmd(g),
		newKeysCmd(g),
		newMasterKeyCmd(g),
		newTokenCmd(g),
		newPolicyCmd(g),
		newPermissionsCmd(g),
		newJWKSCmd(g),
		newVerifyCmd(g),
		newRevocationsCmd(g),
		newAuditCmd(g),
		newBackupCmd(g),
		newDBCmd(g),
		newServeCmd(g),
		newPublishCmd(g),
		newConsoleCmd(g),
	)
	// cobra's own commands, made now rather than at Execute, so that a
	// mistyped topic or shell gets a hint too: writ help tokn, writ
	// completion bsh.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion":
			group(c)
		case "help":
			c.Args = func(c *cobra.Command, a []string) error {
				found, rest, err := c.Root().Find(a)
				if err != nil || found == nil {
					found, rest = c.Root(), a
				}
				return noSubcommand(found, rest)
			}
		}
	}
	return root
}
