package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/driver/litestream"
	"github.com/spf13/cobra"
)

const lsDir = "/driver/litestream"

func newDriverCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "driver",
		Short: "Drivers of outside parts: Litestream (continuous backups)",
	}
	ls := &cobra.Command{
		Use:   "litestream",
		Short: "Continuous backups of the database to S3 or a directory",
		Long: `fazt replicates its database continuously with Litestream to one replica: an
S3-compatible bucket or a directory. These commands read and write
/driver/litestream/: replicas/NAME (the replica's URL), credentials/ (write-only),
retention and status. Backups on demand and restores are storage commands:
fazt storage backup, fazt storage restore.`,
	}
	replica := &cobra.Command{Use: "replica", Short: "The replica: add, rm, ls"}
	replica.AddCommand(
		&cobra.Command{
			Use:   "add NAME URL",
			Short: "Replicate to URL (writes URL to " + lsDir + "/replicas/NAME)",
			Long: `Replicate the database to URL from now on, starting with a full snapshot.
URL is s3://BUCKET/PATH (with ?endpoint=URL&region=R for S3-compatible servers
other than AWS) or file:///ABSOLUTE/DIRECTORY. One replica at a time.`,
			Example: `  fazt driver litestream replica add offsite 's3://backups/fazt?endpoint=https://s3.example.com&region=us-east-1'
  fazt driver litestream replica add local file:///var/backups/fazt`,
			Args: args(2, 2),
			RunE: func(c *cobra.Command, a []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					return writeFile(c.Context(), t, path.Join(lsDir, "replicas", a[0]), []byte(a[1]+"\n"))
				})
			},
		},
		&cobra.Command{
			Use:   "rm NAME",
			Short: "Stop replicating to NAME (the replica keeps what it has)",
			Args:  args(1, 1),
			RunE: func(c *cobra.Command, a []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					return t.Remove(c.Context(), path.Join(lsDir, "replicas", a[0]), false)
				})
			},
		},
		&cobra.Command{
			Use:   "ls",
			Short: "List the replica: NAME URL",
			Args:  args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					infos, err := t.ReadDir(c.Context(), lsDir+"/replicas")
					if err != nil {
						return err
					}
					for _, fi := range infos {
						b, err := readFile(c.Context(), t, path.Join(lsDir, "replicas", fi.Name()))
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "%s %s\n", fi.Name(), strings.TrimSpace(string(b)))
					}
					return nil
				})
			},
		},
	)
	var keyID string
	creds := &cobra.Command{
		Use:   "credentials --access-key-id ID < SECRET",
		Short: "Save the S3 credentials (the secret is read from standard input)",
		Long: `Save the S3 access key of the replica. The secret access key is read from
standard input, so that it stays out of the shell history and the process list.
They are kept in 0600 files in the data directory (secrets/litestream/), never
in the database (so no backup carries them), and never read back.`,
		Example: `  fazt driver litestream credentials --access-key-id AKIA... < secret.txt`,
		Args:    args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			if keyID == "" {
				return usageError{fmt.Errorf("--access-key-id is required")}
			}
			secret, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
			secret = strings.TrimSpace(secret)
			if secret == "" {
				return fmt.Errorf("no secret access key on standard input (%v)", err)
			}
			return withTree(c.Context(), g, func(t tree) error {
				if err := writeFile(c.Context(), t, lsDir+"/credentials/access_key_id", []byte(keyID+"\n")); err != nil {
					return err
				}
				return writeFile(c.Context(), t, lsDir+"/credentials/secret_access_key", []byte(secret+"\n"))
			})
		},
	}
	creds.Flags().StringVar(&keyID, "access-key-id", "", "the access key ID")
	retention := valueCmd(g, "retention [DURATION]", lsDir+"/retention", "how far back restores reach")
	leaseTTL := valueCmd(g, "lease-ttl [DURATION]", lsDir+"/lease_ttl",
		"how long the primary's lease of an S3 replica lasts (a standby takes over about that long after the primary stops)")
	follow := &cobra.Command{
		Use:   "follow URL [standby]",
		Short: "Make this fresh kernel an edge (or a standby) of the replica at URL; it restarts in place (" + lsDir + "/follow)",
		Args:  args(1, 2),
		RunE: func(c *cobra.Command, a []string) error {
			err := withTree(c.Context(), g, func(t tree) error {
				return writeFile(c.Context(), t, lsDir+"/follow", []byte(strings.Join(a, " ")+"\n"))
			})
			if err == nil {
				fmt.Fprintf(c.OutOrStdout(), "fazt: this data directory follows %s now: a running kernel starts again in place as the follower, or the next one started does\n", a[0])
			}
			return err
		},
	}
	ls.AddCommand(replica, creds, retention, leaseTTL, follow,
		catCmd(g, "status", lsDir+"/status", "Print "+lsDir+"/status: running, pid, last sync, lag, last error"),
		newLitestreamRunCmd())
	c.AddCommand(ls)
	return c
}

// newLitestreamRunCmd is the replicating child the kernel starts.
func newLitestreamRunCmd() *cobra.Command {
	var cfg litestream.ChildConfig
	c := &cobra.Command{
		Use:    "run",
		Short:  "Replicate a database (the kernel runs this as its child)",
		Hidden: true,
		Args:   args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
			return litestream.RunChild(ctx, cfg)
		},
	}
	c.Flags().StringVar(&cfg.DB, "db", "", "the database")
	c.Flags().StringVar(&cfg.Meta, "meta", "", "Litestream's state directory")
	c.Flags().StringVar(&cfg.Socket, "socket", "", "the control socket")
	c.Flags().StringVar(&cfg.Replica, "replica", "", "the replica URL")
	c.Flags().DurationVar(&cfg.Retention, "retention", litestream.DefaultRetention, "how long snapshots are kept")
	c.Flags().StringVar(&cfg.Lease, "lease", "", "the lease record that fences writes to the replica")
	return c
}

// replicaURL is the configured replica's URL, read from the tree.
func replicaURL(ctx context.Context, g *globals) (string, error) {
	var url string
	err := withTree(ctx, g, func(t tree) error {
		infos, err := t.ReadDir(ctx, lsDir+"/replicas")
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			return fmt.Errorf("no replica is configured here: pass --from URL (the replica to restore from)")
		}
		b, err := readFile(ctx, t, path.Join(lsDir, "replicas", infos[0].Name()))
		url = strings.TrimSpace(string(b))
		return err
	})
	return url, err
}

// parseAt reads --at: an RFC 3339 time, "YYYY-MM-DD HH:MM:SS" in UTC, or a
// duration meaning that long ago.
func parseAt(s string) (time.Time, error) {
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("bad --at %q: want a time like 2026-11-26T03:00:00Z or a duration ago like 15m", s)}
}
