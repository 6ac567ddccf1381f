package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/driver/litestream"
	"github.com/fazt-sh/fazt/proc"

	"github.com/spf13/cobra"
)

func newStorageCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "storage",
		Short: "The database: status, migrations, maintenance",
		Long: `Everything fazt keeps is in one SQLite database in the data directory. These
commands read /storage/status and /storage/migrations/, and write commands to
/storage/ctl.`,
	}
	ctlCmd := func(use, verb, short string) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short + " (writes " + verb + " to /storage/ctl)",
			Args:  args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					return writeFile(c.Context(), t, "/storage/ctl", []byte(verb+"\n"))
				})
			},
		}
	}
	status := statusCmd(g, "/storage/status", "The database at a glance (/storage/status): sizes, space, last maintenance",
		`Say whether the database is healthy, and what needs attention. --raw prints the "key value" lines of /storage/status, -o json an object of them.`,
		storageSummary)
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "List the migrations and apply any pending one",
		Long: `List the schema migrations the database has (from /storage/migrations/), then
apply pending ones (writes migrate to /storage/ctl). The kernel applies pending
migrations when it starts, so there are normally none.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				infos, err := t.ReadDir(c.Context(), "/storage/migrations")
				if err != nil {
					return err
				}
				for _, fi := range infos {
					b, err := readFile(c.Context(), t, path.Join("/storage/migrations", fi.Name()))
					if err != nil {
						return err
					}
					state := "applied"
					for _, line := range strings.Split(string(b), "\n") {
						if v, ok := strings.CutPrefix(line, "state "); ok {
							state = v
						}
					}
					fmt.Fprintf(c.OutOrStdout(), "%s %s\n", fi.Name(), state)
				}
				return writeFile(c.Context(), t, "/storage/ctl", []byte("migrate\n"))
			})
		},
	}
	c.AddCommand(status, migrate,
		ctlCmd("checkpoint", "checkpoint", "Copy the write-ahead log into the database file"),
		ctlCmd("vacuum", "vacuum", "Rewrite the database without free pages, giving space back"),
		ctlCmd("integrity-check", "integrity-check", "Check the database; fails if it is damaged"),
		ctlCmd("backup", "backup", "Back up to the replica now; returns once the backup is durable there"),
		newRestoreCmd(g),
	)
	return c
}

func newRestoreCmd(g *globals) *cobra.Command {
	var (
		to, at, from string
		txid         uint64
		replace      bool
	)
	c := &cobra.Command{
		Use:   "restore (--to PATH | --replace) [--at TIME | --txid N] [--from URL]",
		Short: "Restore the database from the replica, to a point in time",
		Long: `Restore the database from the replica (the one configured, or --from URL) as it
was at --at TIME or after transaction --txid N (default: the latest).

--to PATH writes the restored database to PATH (which must not exist) and
touches nothing else: the live database keeps running.

--replace stops the kernel if one runs, restores next to the live database,
swaps it in (the old one is kept aside as fazt.db.replaced-TIME, with its WAL),
and starts the kernel again if it was running. With no database yet (a new
machine), --replace with --from restores one into the data directory.

TIME is RFC 3339 (2026-11-26T03:00:00Z), "2026-11-26 03:00:00" (UTC), or a
duration ago (15m, 2h). A target outside what the replica holds is refused
with the window it does hold (see /storage/backups/window).

Credentials come from the data directory (fazt driver litestream credentials)
or, on a new machine, from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`,
		Example: `  fazt storage restore --to /tmp/fazt-check.db --at 2h
  fazt storage restore --replace --at '2026-11-26 02:55:00'
  fazt storage restore --replace --from 's3://backups/fazt?endpoint=https://s3.example.com'`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if (to == "") == !replace {
				return usageError{fmt.Errorf("give one of --to PATH and --replace")}
			}
			if at != "" && txid != 0 {
				return usageError{fmt.Errorf("give --at or --txid, not both")}
			}
			cfg := litestream.RestoreConfig{TXID: txid}
			if at != "" {
				t, err := parseAt(at)
				if err != nil {
					return err
				}
				cfg.At = t
			}
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			cfg.Replica = from
			if from == "" {
				if cfg.Replica, err = replicaURL(ctx, g); err != nil {
					return err
				}
			} else if err := litestream.ValidURL(from); err != nil {
				return err
			}
			cfg.DataDir = dir // its saved credentials, unless the environment has its own
			out := c.OutOrStdout()
			if !replace {
				if cfg.Output, err = absPath(to); err != nil {
					return err
				}
				if _, err := os.Stat(cfg.Output); err == nil {
					return fmt.Errorf("%s exists: restore to a new path", cfg.Output)
				}
				if err := litestream.RunRestore(ctx, cfg); err != nil {
					return err
				}
				fmt.Fprintf(out, "fazt: restored to %s\n", cfg.Output)
				return nil
			}
			return restoreReplace(c, g, dir, cfg)
		},
	}
	c.Flags().StringVar(&to, "to", "", "write the restored database here")
	c.Flags().BoolVar(&replace, "replace", false, "swap the restored database in for the live one")
	c.Flags().StringVar(&at, "at", "", "restore the database as it was at this time")
	c.Flags().Uint64Var(&txid, "txid", 0, "restore the database as it was after this transaction")
	c.Flags().StringVar(&from, "from", "", "the replica URL to restore from (default: the configured one)")
	return c
}

// restoreReplace restores next to the live database and swaps it in,
// stopping and starting the kernel around the swap.
func restoreReplace(c *cobra.Command, g *globals, dir string, cfg litestream.RestoreConfig) error {
	ctx, out := c.Context(), c.OutOrStdout()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg.Output = filepath.Join(dir, proc.DatabaseFile+".restoring")
	os.Remove(cfg.Output) // a leftover of an interrupted restore
	// Restore first, while the kernel still serves: a restore that fails
	// costs no downtime.
	if err := litestream.RunRestore(ctx, cfg); err != nil {
		os.Remove(cfg.Output)
		return err
	}
	h, running := proc.ReadHolder(dir)
	if running {
		if err := stopKernel(ctx, dir, h, time.Minute); err != nil {
			os.Remove(cfg.Output)
			return fmt.Errorf("%w; nothing was replaced", err)
		}
		fmt.Fprintf(out, "fazt: stopped the kernel (pid %d)\n", h.PID)
	}
	aside, err := proc.ReplaceDatabase(dir, cfg.Output)
	if err != nil {
		os.Remove(cfg.Output)
		return err
	}
	// Restored from that replica, the database goes on replicating to it.
	if err := litestream.Bind(dir, cfg.Replica); err != nil {
		return err
	}
	// Its history is the replica's: its term as the writer goes on from
	// the replica's lease, once that expires.
	if err := litestream.InheritLease(ctx, cfg.Replica, dir); err != nil {
		return fmt.Errorf("restored, but the replica's lease could not be read: %w", err)
	}
	if aside != "" {
		fmt.Fprintf(out, "fazt: restored; the replaced database is kept at %s\n", aside)
	} else {
		fmt.Fprintf(out, "fazt: restored into %s\n", filepath.Join(dir, proc.DatabaseFile))
	}
	if !running {
		return nil
	}
	if err := startKernel(dir, h); err != nil {
		return fmt.Errorf("restored, but the kernel did not start again: %w", err)
	}
	fmt.Fprintf(out, "fazt: started the kernel again\n")
	return nil
}
