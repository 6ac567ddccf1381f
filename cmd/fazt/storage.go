package main

import (
	"fmt"
	"path"
	"strings"

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
	status := &cobra.Command{
		Use:   "status",
		Short: "Print /storage/status: schema, sizes, last maintenance",
		Args:  args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				b, err := readFile(c.Context(), t, "/storage/status")
				if err == nil {
					_, err = c.OutOrStdout().Write(b)
				}
				return err
			})
		},
	}
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
		ctlCmd("backup", "backup", "Back up to every replica"),
	)
	return c
}
