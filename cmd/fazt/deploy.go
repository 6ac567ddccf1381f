package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/kernel"
)

// syncFlags are the options of fazt fs sync and fazt deploy.
type syncFlags struct {
	delete, dryRun, verbose, copyUnsafe bool
	keep                                int
}

func (f *syncFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&f.delete, "delete", false, "remove files the source does not have")
	c.Flags().BoolVarP(&f.dryRun, "dry-run", "n", false, "say what would change, change nothing")
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "a line per file sent or removed")
	c.Flags().BoolVar(&f.copyUnsafe, "copy-unsafe-links", false, "send what a link leading outside the site points to, as a file in its place")
	c.Flags().IntVar(&f.keep, "keep", 0, "past deploys kept for rollback, this time (default: the site's setting, fazt deploy keep)")
}

// runSync deploys src to dest (SITE, fs/SITE or /fs/SITE).
func runSync(c *cobra.Command, g *globals, src, dest string, f syncFlags) error {
	site, err := siteOf(dest)
	if err != nil {
		return err
	}
	// Remotely, content fazt holds anywhere is linked rather than sent.
	opt := deploy.Options{Delete: f.delete, DryRun: f.dryRun, Keep: f.keep, LinkAcross: g.remoteURL() != "", CopyUnsafeLinks: f.copyUnsafe}
	if dir, err := os.UserCacheDir(); err == nil {
		opt.CacheDir = filepath.Join(dir, "fazt")
	}
	if f.verbose || f.dryRun {
		opt.Log = c.OutOrStdout()
	}
	// A progress line on a terminal; nothing in a pipe.
	if e, ok := c.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(e.Fd())) && !f.verbose {
		last := time.Time{}
		opt.Progress = func(n, of int, b, ofb int64) {
			if n < of && time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(e, "\rsent %d/%d files, %.1f/%.1f MB", n, of, float64(b)/1e6, float64(ofb)/1e6)
			if n == of {
				fmt.Fprintln(e)
			}
		}
	}
	return withTree(c.Context(), g, func(t tree) error {
		opt.Who = who(c.Context(), t)
		res, err := deploy.Sync(c.Context(), t, src, site, opt)
		if err != nil {
			return err
		}
		// Deployed as links and served as 404, or not sent: say so,
		// every time.
		warnList(c.ErrOrStderr(), res.Unsafe, "links lead outside the site and will not be served (--copy-unsafe-links sends what they point to)")
		warnList(c.ErrOrStderr(), res.Skipped, "special files (FIFOs, sockets, devices) are not sent")
		out := c.OutOrStdout()
		if f.dryRun {
			fmt.Fprintf(out, "fazt: dry run: %d files, %d to send (%d bytes), %d to link, %d unchanged, %d to remove\n",
				res.Files, res.Uploaded, res.Bytes, res.Linked, res.Unchanged, res.Removed)
			return nil
		}
		fmt.Fprintf(out, "fazt: deployed %s as %s: %d files, %d sent (%d bytes), %d linked, %d unchanged, %d removed\n",
			site, res.ID, res.Files, res.Uploaded, res.Bytes, res.Linked, res.Unchanged, res.Removed)
		return nil
	})
}

// who names the deployer in the site's log: user@host, and over the
// remote API the token's name first (what the server vouches for).
func who(ctx context.Context, t tree) string {
	name := "?"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	local := name + "@" + host
	if at, ok := t.(apiTree); ok {
		if tok, err := at.c.Whoami(ctx); err == nil && tok != "" {
			return "token:" + tok + " (" + local + ")"
		}
	}
	return local
}

// siteOf reads a sync destination: SITE, fs/SITE or /fs/SITE.
func siteOf(dest string) (string, error) {
	s := strings.Trim(dest, "/")
	s = strings.TrimPrefix(s, "fs/")
	if s == "" || strings.Contains(s, "/") {
		return "", usageError{fmt.Errorf("the destination is a site: SITE or /fs/SITE, not %q", dest)}
	}
	return s, nil
}

func newSyncCmd(g *globals) *cobra.Command {
	var f syncFlags
	c := &cobra.Command{
		Use:   "sync SRC /fs/SITE",
		Short: "Deploy a directory to a site, atomically (only changed files travel)",
		Long: `Make /fs/SITE what the local directory SRC holds. Only files whose content
differs are sent (compared by content digests, which the tree computes without
reading the files); the new tree is prepared beside the live one and swapped in
one step, so visitors never see half a deploy. The replaced tree is kept for
fazt deploy rollback. An interrupted sync resumes where it stopped.
.gitignore and .faztignore at the top of SRC are honoured; .git is never sent.`,
		Example: `  fazt fs sync ./public /fs/blog --delete
  fazt --remote https://admin.example.com fs sync ./public /fs/blog --delete`,
		Args: args(2, 2),
		RunE: func(c *cobra.Command, a []string) error { return runSync(c, g, a[0], a[1], f) },
	}
	f.add(c)
	return c
}

func newDeployCmd(g *globals) *cobra.Command {
	var f syncFlags
	c := &cobra.Command{
		Use:   "deploy SRC SITE",
		Short: "Deploy a directory to a site (fazt fs sync SRC /fs/SITE); rollback, ls",
		Args:  args(2, 2),
		RunE: func(c *cobra.Command, a []string) error {
			// deploy rollbak docs: a misspelt subcommand, not a source.
			if _, err := os.Stat(a[0]); err != nil && len(c.SuggestionsFor(a[0])) > 0 {
				return unknownCommand(c, a[0])
			}
			return runSync(c, g, a[0], a[1], f)
		},
	}
	f.add(c)
	c.AddCommand(&cobra.Command{
		Use:   "rollback SITE [ID]",
		Short: "Make a past deploy live again (the newest past one by default), in one step",
		Args:  args(1, 2),
		RunE: func(c *cobra.Command, a []string) error {
			id := ""
			if len(a) == 2 {
				id = a[1]
			}
			return withTree(c.Context(), g, func(t tree) error {
				got, err := deploy.Rollback(c.Context(), t, a[0], id, who(c.Context(), t))
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "fazt: %s is at %s again\n", a[0], got)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "keep SITE [N]",
		Short: "Print, or set, how many past deploys the site keeps (10 unless set)",
		Long: `Print how many past deploys SITE keeps for rollback, or set it to N (at least
1), in /fs/.deploys/SITE/.keep. Setting it lower removes the oldest past deploys
beyond N at once; their content goes when nothing else references it.`,
		Args: args(1, 2),
		RunE: func(c *cobra.Command, a []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				if len(a) == 1 {
					n, err := deploy.Keep(c.Context(), t, a[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(c.OutOrStdout(), n)
					return nil
				}
				n, err := strconv.Atoi(a[1])
				if err != nil {
					return usageError{fmt.Errorf("N is a number of deploys, not %q", a[1])}
				}
				if err := deploy.SetKeep(c.Context(), t, a[0], n); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "fazt: %s keeps %d past deploys\n", a[0], n)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "ls SITE",
		Short: "List the site's deploys: the past ones, oldest first, then the live one",
		Args:  args(1, 1),
		RunE: func(c *cobra.Command, a []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				if _, err := t.Stat(c.Context(), "/fs/"+a[0]); kernel.KindOf(err) == kernel.NotExist {
					return kernel.E(kernel.NotExist, "no site "+a[0]+" (no /fs/"+a[0]+")")
				}
				ids, err := deploy.Past(c.Context(), t, a[0])
				if err != nil {
					return err
				}
				live, err := deploy.Live(c.Context(), t, a[0])
				if err != nil {
					return err
				}
				// One line a deploy: its id, "live" for the live one, and
				// what its status file says.
				line := func(id, state string) error {
					st, err := deploy.Status(c.Context(), t, a[0], id)
					if err != nil {
						return err
					}
					out := id + " " + state
					if st["time"] != "" {
						out += fmt.Sprintf("  %s  files %s, sent %s (%s bytes), linked %s, removed %s, by %s",
							st["time"], st["files"], st["sent"], st["bytes"], st["linked"], st["removed"], st["by"])
					}
					_, err = fmt.Fprintln(c.OutOrStdout(), strings.TrimRight(out, " "))
					return err
				}
				for _, id := range ids {
					if err := line(id, "past"); err != nil {
						return err
					}
				}
				if live != "" {
					return line(live, "live")
				}
				return nil
			})
		},
	})
	return c
}

// warnList prints a warning about what, then up to ten of them.
func warnList(w io.Writer, list []string, what string) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(w, "fazt: WARNING: %d %s:\n", len(list), what)
	for i, l := range list {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more\n", len(list)-10)
			break
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
}
