package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"
)

func newNetCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "net",
		Short: "Routes: which site answers for which host name",
		Long: `Routes live in /net/routes/: one file per host name, whose value is the target:
  SITE            the site in /fs/SITE
  redirect URL    a redirect to URL
  proxy URL       a reverse proxy to URL
These commands read and write those files.`,
	}
	route := &cobra.Command{Use: "route", Short: "Add, remove and list routes"}
	route.AddCommand(
		&cobra.Command{
			Use:   "add HOST TARGET",
			Short: "Route HOST to TARGET (writes /net/routes/HOST)",
			Example: "  fazt net route add blog.example.com blog\n" +
				"  fazt net route add www.example.com redirect https://example.com/\n" +
				"  fazt net route add app.example.com proxy http://127.0.0.1:3000",
			Args: args(2, 3),
			RunE: func(c *cobra.Command, a []string) error {
				return eachPath(c.Context(), g, []string{path.Join("/net/routes", a[0])}, func(t tree, p string) error {
					return writeFile(c.Context(), t, p, []byte(strings.Join(a[1:], " ")+"\n"))
				})
			},
		},
		&cobra.Command{
			Use:   "rm HOST...",
			Short: "Remove routes (removes /net/routes/HOST)",
			Args:  args(1, -1),
			RunE: func(c *cobra.Command, a []string) error {
				paths := make([]string, len(a))
				for i, h := range a {
					paths[i] = path.Join("/net/routes", h)
				}
				return eachPath(c.Context(), g, paths, func(t tree, p string) error {
					return t.Remove(c.Context(), p, false)
				})
			},
		},
		&cobra.Command{
			Use:   "ls",
			Short: "List routes: HOST TARGET, one per line",
			Args:  args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					infos, err := t.ReadDir(c.Context(), "/net/routes")
					if err != nil {
						return err
					}
					for _, fi := range infos {
						b, err := readFile(c.Context(), t, path.Join("/net/routes", fi.Name()))
						if errors.Is(err, fs.ErrNotExist) {
							continue // removed meanwhile
						}
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "%s %s", fi.Name(), b)
					}
					return nil
				})
			},
		},
	)
	c.AddCommand(route)
	return c
}
