package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fazt-sh/fazt/api"
	"runtime/pprof"

	"github.com/fazt-sh/fazt/mount"
	"github.com/fazt-sh/fazt/proc"
	"github.com/spf13/cobra"
)

func newProcCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "proc",
		Short: "The kernel process: start it, and see how it is doing",
	}
	c.AddCommand(newProcStartCmd(g), newProcStopCmd(g), newProcRestartCmd(g), newProcStatusCmd(g))
	return c
}

func newProcStartCmd(g *globals) *cobra.Command {
	var (
		mnt           string
		mopt          mount.Options
		exitOnUnmount bool
		readyFD       int
		cpuprofile    string
	)
	c := &cobra.Command{
		Use:   "start",
		Short: "Run the kernel in the foreground until SIGINT or SIGTERM",
		Long: `Run the kernel for the data directory in the foreground, as systemd does.
With --mount it also mounts the tree there. SIGINT or SIGTERM stop it
cleanly: the mount is detached, the database closed.

Only one kernel runs per data directory; a second one is refused.`,
		Example: "  fazt proc start --mount /mnt/fazt",
		Args:    args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				proc.ReportReady(readyFD, err)
				return err
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
			sys, err := proc.Boot(c.Context(), proc.Config{DataDir: dir, Version: version})
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
			log.Info("kernel stopped")
			return err
		},
	}
	c.Flags().StringVar(&mnt, "mount", "", "mount the tree at this directory")
	c.Flags().BoolVar(&mopt.AllowOther, "allow-other", false, "let other users use the mount (file modes apply)")
	c.Flags().BoolVar(&mopt.Debug, "debug", false, "log every FUSE request")
	c.Flags().BoolVar(&exitOnUnmount, "exit-on-umount", false, "stop when the mount goes away")
	c.Flags().IntVar(&readyFD, "ready-fd", 0, "report readiness on this file descriptor")
	c.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile here until the kernel stops")
	c.Flags().MarkHidden("cpuprofile")
	c.Flags().MarkHidden("exit-on-umount")
	c.Flags().MarkHidden("ready-fd")
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
	return proc.Spawn(dir, args, time.Minute)
}

func newProcStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print /proc/status of the running kernel",
		Long: `Print how the running kernel is doing: version, pid, uptime, memory, open
files, mounts (the "key value" lines of /proc/status). Fails if no kernel runs.`,
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
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
}
