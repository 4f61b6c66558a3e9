package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/text"
)

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
		d := text.Distance(name, f.Name)
		if len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
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
