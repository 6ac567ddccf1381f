package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/mount"
	"github.com/fazt-sh/fazt/proc"
)

func newProcCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "proc",
		Short: "The kernel process: start it, and see how it is doing",
	}
	c.AddCommand(newProcStartCmd(g), newProcStopCmd(g), newProcRestartCmd(g), newProcStatusCmd(g),
		newProcUpgradeCmd(g), newProcRollbackCmd(g), newProcInstallCmd(g), newProcUninstallCmd(g))
	return c
}

func newProcStartCmd(g *globals) *cobra.Command {
	var (
		mnt           string
		mopt          mount.Options
		exitOnUnmount bool
		readyFD       int
		cpuprofile    string
		supervise     bool
		follow        string
		standby       bool
	)
	c := &cobra.Command{
		Use:   "start",
		Short: "Run the kernel in the foreground until SIGINT or SIGTERM",
		Long: `Run the kernel for the data directory in the foreground, as systemd does.
With --mount it also mounts the tree there. SIGINT or SIGTERM stop it
cleanly: the mount is detached, the database closed.

Only one kernel runs per data directory; a second one is refused.

With --follow URL the kernel is an edge: a fresh data directory is restored
from the primary's replica at URL (s3://BUCKET/PATH?endpoint=... or
file:///PATH; credentials as for restores), and the kernel then applies each
change that reaches the replica, serving the sites from it. Writes to what
the primary owns are refused (EROFS, HTTP 409); the machine's own settings
(/net/http, /net/https, /proc/memory_limit) stay writable. The data
directory remembers what it follows: later starts need no --follow.

With --follow URL --standby the edge is also a standby: when the primary's
lease of the S3 replica expires (the primary died or was cut off; the lease
lasts /driver/litestream/lease_ttl, 30s by default), it takes the lease,
applies what reached the replica, and becomes the primary: it takes writes,
replicates to the same replica, and obtains certificates. The old primary,
if it comes back, refuses writes. See docs/scaling.md.`,
		Example: "  fazt proc start --mount /mnt/fazt\n  fazt proc start --follow 's3://backups/fazt?endpoint=https://s3.example.com'\n  fazt proc start --follow 's3://backups/fazt?endpoint=https://s3.example.com' --standby",
		Args:    args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			proc.KeepReadyFD(readyFD)
			dir, err := g.dataDir()
			if err != nil {
				proc.ReportReady(readyFD, err)
				return err
			}
			if standby && follow == "" {
				err := fmt.Errorf("--standby needs --follow URL: a standby follows the primary's replica")
				proc.ReportReady(readyFD, err)
				return err
			}
			if supervise {
				args := []string{"--data", dir, "proc", "start"}
				local := c.LocalNonPersistentFlags()
				c.Flags().Visit(func(f *pflag.Flag) {
					if local.Lookup(f.Name) != nil && f.Name != "supervise" && f.Name != "ready-fd" {
						args = append(args, "--"+f.Name+"="+f.Value.String())
					}
				})
				return proc.Supervise(c.Context(), proc.SuperviseConfig{
					DataDir: dir, Args: args,
					Ready: func(err error) { proc.ReportReady(readyFD, err) },
					Log:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
				})
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			handoff, err := proc.InheritedHandoff()
			if err != nil {
				return err
			}
			sys, err := proc.Boot(c.Context(), proc.Config{DataDir: dir, Version: version, Handoff: handoff, Restarted: proc.Restarted(), Follow: follow, Standby: standby})
			if err != nil {
				proc.ReportReady(readyFD, err)
				return err
			}
			log := sys.Kernel.Log
			log.Info("kernel started", "version", version, "data", dir, "pid", os.Getpid())
			err = sys.Run(c.Context(), proc.RunOptions{
				Mount:         mnt,
				MountOptions:  mopt,
				ExitOnUnmount: exitOnUnmount,
				Ready:         func(err error) { proc.ReportReady(readyFD, err) },
			})
			if cerr := sys.Close(); err == nil {
				err = cerr
			}
			if err == nil && sys.RestartInPlace() {
				log.Info("kernel stopped; starting again in place as a follower")
				return proc.Exec()
			}
			log.Info("kernel stopped")
			return err
		},
	}
	c.Flags().StringVar(&mnt, "mount", "", "mount the tree at this directory")
	c.Flags().StringVar(&follow, "follow", "", "be an edge: follow the primary's replica at this URL")
	c.Flags().BoolVar(&standby, "standby", false, "with --follow: take the primary's place when its lease expires")
	c.Flags().BoolVar(&mopt.AllowOther, "allow-other", false, "let other users use the mount (file modes apply)")
	c.Flags().BoolVar(&mopt.Xattrs, "xattrs", false, "keep extended attributes (user.*: setfattr, rsync -X); ls -l costs two requests more per file")
	c.Flags().BoolVar(&mopt.Debug, "debug", false, "log every FUSE request")
	c.Flags().BoolVar(&exitOnUnmount, "exit-on-umount", false, "stop when the mount goes away")
	c.Flags().IntVar(&readyFD, "ready-fd", 0, "report readiness on this file descriptor")
	c.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile here until the kernel stops")
	c.Flags().MarkHidden("cpuprofile")
	c.Flags().MarkHidden("exit-on-umount")
	c.Flags().MarkHidden("ready-fd")
	c.Flags().BoolVar(&supervise, "supervise", false, "run the kernel as a child and start it again if it dies")
	c.Flags().MarkHidden("supervise")
	return c
}

func newProcStopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the running kernel (writes stop to /proc/ctl)",
		Long: `Stop the kernel that serves the data directory, as SIGTERM would: its mount is
detached, the database closed. Waits (up to a minute: the backup child sends what
is left first) until it has let go of the data directory.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			dir, h, err := runningKernel(g)
			if err != nil {
				return err
			}
			if err := stopKernel(c.Context(), dir, h, time.Minute); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "fazt: stopped the kernel (pid %d)\n", h.PID)
			return nil
		},
	}
}

func newProcRestartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restart",
		Short: "Stop the running kernel and start it again in the background, on its mount",
		Long: `Stop the kernel that serves the data directory (as fazt proc stop) and start a
new one in the background with the same mount point, for instance after replacing
the binary. Under a service manager, use its restart instead.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			dir, h, err := runningKernel(g)
			if err != nil {
				return err
			}
			if err := stopKernel(c.Context(), dir, h, time.Minute); err != nil {
				return err
			}
			if err := startKernel(dir, h); err != nil {
				return fmt.Errorf("stopped, but the kernel did not start again: %w", err)
			}
			n, _ := proc.ReadHolder(dir)
			fmt.Fprintf(c.OutOrStdout(), "fazt: restarted the kernel (pid %d, was %d)\n", n.PID, h.PID)
			return nil
		},
	}
}

// runningKernel is the data directory and its running kernel, or an
// error saying that none runs.
func runningKernel(g *globals) (string, proc.Holder, error) {
	dir, err := g.dataDir()
	if err != nil {
		return "", proc.Holder{}, err
	}
	h, ok := proc.ReadHolder(dir)
	if !ok {
		return "", proc.Holder{}, fmt.Errorf("no kernel is running for %s", dir)
	}
	return dir, h, nil
}

// stopKernel asks the kernel holding dir to stop ("stop" in /proc/ctl) and
// waits up to wait until it has let go of the data directory.
func stopKernel(ctx context.Context, dir string, h proc.Holder, wait time.Duration) error {
	t := apiTree{c: api.Dial(proc.SocketIn(dir))}
	if err := writeFile(ctx, t, "/proc/ctl", []byte("stop\n")); err != nil {
		return fmt.Errorf("stop the kernel: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		if _, ok := proc.ReadHolder(dir); !ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the kernel (pid %d) has not stopped after %v; see %s", h.PID, wait, filepath.Join(dir, proc.LogFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startKernel starts a background kernel for dir, mounted where h was.
func startKernel(dir string, h proc.Holder) error {
	args := []string{"--data", dir, "proc", "start"}
	if len(h.Mounts) > 0 {
		args = append(args, "--mount", h.Mounts[0])
	}
	if h.ExitOnUnmount {
		// Started by fazt fs mount: supervised, as it was.
		args = append(args, "--exit-on-umount", "--supervise")
	}
	return proc.Spawn(dir, args, time.Minute)
}

func newProcStatusCmd(g *globals) *cobra.Command {
	var f statusFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "How the running kernel is doing (/proc/status), at a glance",
		Long: `Say whether the running kernel is healthy, with its version, uptime, database,
memory, mounts, listeners and backups, and what needs attention. --raw prints
the "key value" lines of /proc/status, -o json an object of them. Fails if no
kernel runs.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			if _, ok := proc.ReadHolder(dir); !ok {
				return fmt.Errorf("no kernel is running for %s", dir)
			}
			b, err := readFile(c.Context(), apiTree{c: api.Dial(proc.SocketIn(dir))}, "/proc/status")
			if err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), b, procSummary)
		},
	}
	f.add(c)
	return c
}

func newProcUpgradeCmd(g *globals) *cobra.Command {
	var (
		from, sum string
		timeout   time.Duration
	)
	c := &cobra.Command{
		Use:   "upgrade --from PATH",
		Short: "Replace the running binary and hand over to it without refusing a connection",
		Long: `Upgrade the running kernel to the binary at PATH (writes "upgrade PATH" to
/proc/ctl). The new binary is checked (it runs and reports a fazt version for
this platform; with --sha256, it has that digest), the old one is kept next to
it as fazt.prev, the new one is renamed into place and started with the
listening sockets. Once it is ready, the old kernel stops accepting, lets its
requests finish, unmounts and exits; the new one serves and mounts again.
If the new binary is not ready within --timeout, it is stopped, the old binary
is put back and keeps serving, and /proc/status says why.

With --remote, PATH is a path on the server.`,
		Example: `  fazt proc upgrade --from /tmp/fazt-v1.4.0
  fazt proc upgrade --from ./fazt --sha256 $(cat fazt.sha256)`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" {
				return fmt.Errorf("--from PATH is required: the new binary")
			}
			if g.remoteURL() == "" {
				abs, err := filepath.Abs(from)
				if err != nil {
					return err
				}
				from = abs
			}
			cmd := "upgrade " + from
			if sum != "" {
				cmd += " sha256=" + sum
			}
			if timeout > 0 {
				cmd += " timeout=" + timeout.String()
			}
			return handOver(c, g, cmd)
		},
	}
	c.Flags().StringVar(&from, "from", "", "the new binary")
	c.Flags().StringVar(&sum, "sha256", "", "refuse the binary unless it has this SHA-256 (hex)")
	c.Flags().DurationVar(&timeout, "timeout", 0, "how long the new kernel may take to be ready (default 1m)")
	return c
}

func newProcRollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback",
		Short: "Upgrade back to the previous binary (fazt.prev)",
		Long: `Hand the kernel over to the binary the last upgrade replaced (kept next to the
running one as fazt.prev), as fazt proc upgrade does; the replaced one becomes
fazt.prev in turn, so a second rollback rolls forward. Writes "rollback" to
/proc/ctl.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error { return handOver(c, g, "rollback") },
	}
}

// handOver writes an upgrade command to /proc/ctl of the running kernel
// and waits until the new kernel serves.
func handOver(c *cobra.Command, g *globals, cmd string) error {
	ctx := c.Context()
	if g.remoteURL() == "" {
		if _, _, err := runningKernel(g); err != nil {
			return err
		}
	}
	t, err := openTree(ctx, g)
	if err != nil {
		return err
	}
	defer t.Close()
	before, err := readStatus(ctx, t)
	if err != nil {
		return err
	}
	if err := writeFile(ctx, t, "/proc/ctl", []byte(cmd+"\n")); err != nil {
		return err
	}
	// The new kernel answers once the old one has let go.
	deadline := time.Now().Add(time.Minute)
	for {
		time.Sleep(50 * time.Millisecond)
		after, err := readStatus(ctx, t)
		if err == nil && after["pid"] != before["pid"] {
			fmt.Fprintf(c.OutOrStdout(), "fazt: upgraded %s -> %s (pid %s -> %s)\n", before["version"], after["version"], before["pid"], after["pid"])
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the new kernel was ready, but does not answer after a minute (%v); see the log", err)
		}
	}
}

// readStatus reads /proc/status as a map.
func readStatus(ctx context.Context, t tree) (map[string]string, error) {
	b, err := readFile(ctx, t, "/proc/status")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			m[k] = v
		}
	}
	return m, nil
}
