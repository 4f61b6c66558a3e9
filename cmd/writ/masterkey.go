package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/keys"
)

func newMasterKeyCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "master-key",
		Short: "Rotate the key-encryption key",
	})
	var newKeyFile string
	rotate := &cobra.Command{
		Use:   "rotate --new-key-file FILE",
		Short: "Seal every private key under a new master key",
		Long: `rotate seals every private key anew under a new master key, in one
transaction, while every writ process keeps serving: a process still given
the old key (WRIT_MASTER_KEY or --master-key-file) takes up the new one from
the database and keeps signing, publishing and rotating keys until it is
given the new key and restarted.

The current key comes from WRIT_MASTER_KEY or --master-key-file, as for
every command. The new key is read from FILE, which rotate creates (mode
0600) with a fresh key when it does not exist. The new key never appears
on the command line or in the output.

Until writ master-key finish, whoever holds the old key and can read the
database can read the new key: finish once every process has the new key.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newKeyFile == "" {
				return usagef("--new-key-file is required")
			}
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			next, err := keys.ReadMasterKeyFile(newKeyFile)
			created := false
			if errors.Is(err, os.ErrNotExist) {
				next, err = keys.GenerateMasterKeyFile(newKeyFile)
				created = err == nil
			}
			if err != nil {
				return err
			}
			if err := s.Keys.RotateMasterKey(cmd.Context(), next); err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, struct {
					NewKeyFile string `json:"new_key_file"`
					Created    bool   `json:"created"`
				}{newKeyFile, created})
			}
			if created {
				fmt.Fprintf(g.stderr, "writ: created master key %s (mode 0600): back it up; without it the keys cannot be used\n", newKeyFile)
			}
			fmt.Fprintf(g.stdout, `sealed every private key under the master key in %s
next: give every writ process the new key (WRIT_MASTER_KEY, or --master-key-file %s)
      and restart them one by one; those still on the old key keep working meanwhile
then: writ master-key finish, with the new key
`, newKeyFile, newKeyFile)
			return nil
		},
	}
	rotate.Flags().StringVar(&newKeyFile, "new-key-file", "", "the new master key `file`, created (mode 0600) if missing")

	var force bool
	finish := &cobra.Command{
		Use:   "finish [--force]",
		Short: "End a master-key rotation: the old key opens nothing after it",
		Long: `finish ends the master-key rotation under way, run with the new key: it
deletes the new key sealed under the old one, after which the old key opens
nothing and a process started with it is refused.

A process still given the old key notes in the database that it is (writ
serve does every minute), and rotate notes it for every process at once.
finish refuses while such a note is less than three minutes old, unless
--force: a process on the old key keeps working until it restarts, and is
refused from then on.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			err = s.Keys.FinishMasterKeyRotation(cmd.Context(), keys.FinishOptions{Force: force})
			if errors.Is(err, keys.ErrPreviousMasterKeyInUse) {
				return withHint(err, "give every writ process the new key and restart it, then wait three minutes, or use --force")
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, struct {
					Finished bool `json:"finished"`
				}{true})
			}
			fmt.Fprintln(g.stdout, "the master-key rotation is finished: the old key opens nothing")
			return nil
		},
	}
	finish.Flags().BoolVar(&force, "force", false, "finish even though a process on the old key was seen lately")
	cmd.AddCommand(rotate, finish)
	return cmd
}
