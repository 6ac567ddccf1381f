package main

import (
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
	c.AddCommand(newProcStartCmd(g), newProcStopCmd(g), newProcStatusCmd(g))
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
detached, the database closed. Waits until it has let go of the data directory.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			h, ok := proc.ReadHolder(dir)
			if !ok {
				return fmt.Errorf("no kernel is running for %s", dir)
			}
			t := apiTree{c: api.Dial(proc.SocketIn(dir))}
			if err := writeFile(c.Context(), t, "/proc/ctl", []byte("stop\n")); err != nil {
				return err
			}
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				if _, ok := proc.ReadHolder(dir); !ok {
					fmt.Fprintf(c.OutOrStdout(), "fazt: stopped the kernel (pid %d)\n", h.PID)
					return nil
				}
				time.Sleep(20 * time.Millisecond)
			}
			return fmt.Errorf("the kernel (pid %d) has not stopped after 15s; see %s", h.PID, filepath.Join(dir, proc.LogFile))
		},
	}
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
