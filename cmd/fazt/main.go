package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks errors in how fazt was called.
type usageError struct{ error }

func main() {
	err := newRoot().ExecuteContext(context.Background())
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "fazt: %v\n", err)
	if errors.As(err, &usageError{}) {
		os.Exit(2)
	}
	os.Exit(1)
}

type globals struct {
	data   string
	remote string // --remote; $FAZT_REMOTE otherwise
}

// remoteURL is the remote kernel the commands go to, or "" for this
// machine's.
func (g *globals) remoteURL() string {
	if g.remote != "" {
		return g.remote
	}
	return os.Getenv("FAZT_REMOTE")
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "fazt",
		Short: "A personal cloud appliance in one binary, driven as a file tree",
		Long: `fazt turns a Linux machine into a self-hosting appliance. Everything it
keeps (site files, routes, certificates, users) lives in one SQLite database,
and everything it does is an operation on one file tree:

  fazt fs mount /mnt/fazt                      mount the tree
  ls /mnt/fazt/fs                              the sites' files
  echo blog > /mnt/fazt/net/routes/blog.example.com   add a route
  cat /mnt/fazt/proc/status                    how the kernel is doing

The commands below are thin wrappers over those same file operations.
Data lives in --data, $FAZT_HOME, or ~/.local/share/fazt.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.data, "data", "", "data directory (default $FAZT_HOME or ~/.local/share/fazt)")
	root.PersistentFlags().StringVar(&g.remote, "remote", "", "work on the fazt at this URL (default $FAZT_REMOTE), with the token of fazt security login or $FAZT_TOKEN")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newFSCmd(g), newNetCmd(g), newStorageCmd(g), newProcCmd(g), newDriverCmd(g), newSecurityCmd(g), newDeployCmd(g))
	root.Version = version
	root.SetVersionTemplate(versionLine())
	strictGroups(root)
	return root
}

// dataDir resolves the data directory.
func (g *globals) dataDir() (string, error) {
	if g.data != "" {
		return absPath(g.data)
	}
	return defaultDataDir()
}

// args checks the number of positional arguments, as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if len(a) < min || max >= 0 && len(a) > max {
			return usageError{fmt.Errorf("%swrong number of arguments\nusage: %s", where(c), c.UseLine())}
		}
		return nil
	}
}
