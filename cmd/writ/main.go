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
	"strings"
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

// usageError marks errors in how writ was invoked: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// hintError carries a hint shown after the error.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return hintError{err, hint} }

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
  --db               WRIT_DB               the SQLite database (default writ.db)
  --issuer           WRIT_ISSUER           the iss of issued tokens
  --master-key-file  WRIT_MASTER_KEY_FILE  the key-encryption key file (default DB.key)
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
	pf.StringVar(&g.db, "db", "writ.db", "the SQLite database `file`")
	pf.StringVar(&g.issuer, "issuer", "http://127.0.0.1:8080", "the issuer (iss) of tokens")
	pf.StringVar(&g.masterKeyFile, "master-key-file", "", "the key-encryption key `file` (default: the database path + .key)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")

	group(root)
	root.AddCommand(
		newInitCmd(g),
		newKeysCmd(g),
		newTokenCmd(g),
		newJWKSCmd(g),
		newVerifyCmd(g),
		newRevocationsCmd(g),
		newAuditCmd(g),
		newBackupCmd(g),
		newServeCmd(g),
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

// group makes cmd a command that only holds subcommands: alone it prints
// its help, and an unknown subcommand is a usage error, with the nearest
// subcommand as a hint.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = noSubcommand
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// noSubcommand is the usage error for a group c given the arguments a,
// which name none of its subcommands, with the nearest one as a hint.
func noSubcommand(c *cobra.Command, a []string) error {
	if len(a) == 0 {
		return nil
	}
	err := usagef("unknown command %q for %q", a[0], c.CommandPath())
	if s := c.SuggestionsFor(a[0]); len(s) > 0 {
		return withHint(err, fmt.Sprintf("did you mean %q?", c.CommandPath()+" "+s[0]))
	}
	return withHint(err, fmt.Sprintf("run '%s --help' for its commands", c.CommandPath()))
}

// dashHint is the hint for an argument that starts with '-' but is a value:
// a jti or kid may.
const dashHint = "an argument that starts with '-' goes after --, as in: writ token revoke -- -abc"

// flagError makes an error in cmd's flags a usage error. An unknown flag
// gets the nearest flag of cmd as a hint; one that reads as a value rather
// than a mistyped flag (-n2Rk…, --X_9…) the hint about --.
func flagError(cmd *cobra.Command, err error) error {
	var unknown *pflag.NotExistError
	if !errors.As(err, &unknown) {
		return usageError{err}
	}
	// -subject is a mistyped --subject; -n2Rk-4Q a jti; -x neither.
	name := unknown.GetSpecifiedName()
	if group := unknown.GetSpecifiedShortnames(); group != "" {
		name = group
	}
	if near := nearestFlag(cmd, name); near != "" {
		return withHint(usageError{err}, fmt.Sprintf("did you mean --%s?", near))
	}
	// No flag is spelt like a jti or kid, with capitals, digits or _; and
	// a group of shorthands matches no flag of writ's.
	value := unknown.GetSpecifiedShortnames() != "" || strings.ContainsFunc(name, func(r rune) bool { return (r < 'a' || r > 'z') && r != '-' })
	if value && len(name) > 1 {
		return withHint(usageError{err}, dashHint)
	}
	return withHint(usageError{err}, fmt.Sprintf("run '%s --help' for its flags", cmd.CommandPath()))
}

// nearestFlag returns the name of cmd's flag (its own or inherited) that
// name most likely mistypes: the nearest within an edit distance of a
// third of name's length (at least 1), or one that name begins with at
// least 3 letters; else "".
func nearestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", max(1, len(name)/3)+1
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (flag names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// args checks the number of positional arguments as a usage error.
func args(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(a))
		}
		return nil
	}
}
