package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fazt-sh/fazt/proc"
)

// The service's defaults: where `fazt proc install` puts things.
const (
	defaultServiceBinary = "/usr/local/bin/fazt"
	defaultServiceData   = "/var/lib/fazt"
	defaultUnitDir       = "/etc/systemd/system"
)

func newProcInstallCmd(g *globals) *cobra.Command {
	var (
		u       proc.Unit
		unitDir string
		noStart bool
		print   bool
	)
	c := &cobra.Command{
		Use:   "install",
		Short: "Install fazt as a systemd service (binary, unit, data directory) and start it",
		Long: `Copy this binary to --bin, write a hardened systemd unit for it
(` + defaultUnitDir + `/fazt.service: restarts on failure, no new privileges, only the
capabilities to bind ports 80/443 and to mount, its own data directory) and,
where systemd runs, enable and start it. Prints what it did.

--data chooses the service's data directory (default ` + defaultServiceData + `);
--mount also mounts the tree for the host there. With --print, only the unit
is printed; with --no-start, nothing is enabled or started.`,
		Example: `  sudo fazt proc install
  sudo fazt proc install --mount /mnt/fazt
  fazt proc install --print`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			out := c.OutOrStdout()
			u.Version = version
			u.DataDir = defaultServiceData
			if g.data != "" {
				d, err := absPath(g.data)
				if err != nil {
					return err
				}
				u.DataDir = d
			}
			if u.Mount != "" {
				m, err := absPath(u.Mount)
				if err != nil {
					return err
				}
				u.Mount = m
			}
			b, err := filepath.Abs(u.Binary)
			if err != nil {
				return err
			}
			u.Binary = b
			text, err := u.Render()
			if err != nil {
				return err
			}
			if print {
				_, err := out.Write(text)
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if same, _ := sameFile(self, u.Binary); !same {
				if err := copyExecutable(self, u.Binary); err != nil {
					return fmt.Errorf("install the binary: %w", err)
				}
				fmt.Fprintf(out, "installed %s\n", u.Binary)
			}
			if err := os.MkdirAll(u.DataDir, 0o700); err != nil {
				return err
			}
			if u.Mount != "" {
				if err := os.MkdirAll(u.Mount, 0o755); err != nil {
					return err
				}
			}
			unit := filepath.Join(unitDir, proc.UnitName)
			if err := proc.WriteFileAtomic(unit, bytes.NewReader(text), 0o644); err != nil {
				return fmt.Errorf("write the unit: %w", err)
			}
			fmt.Fprintf(out, "wrote %s (data in %s", unit, u.DataDir)
			if u.Mount != "" {
				fmt.Fprintf(out, ", mounted at %s", u.Mount)
			}
			fmt.Fprintln(out, ")")
			switch {
			case noStart:
				fmt.Fprintln(out, "not started (--no-start): systemctl enable --now fazt")
			case !proc.SystemdRunning():
				start := u.Binary + " --data " + u.DataDir + " proc start"
				if u.Mount != "" {
					start += " --mount " + u.Mount
				}
				fmt.Fprintf(out, "systemd is not running here, so nothing was started: run %s\n", start)
			default:
				for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", proc.UnitName}} {
					if err := systemctl(out, args...); err != nil {
						return err
					}
				}
				fmt.Fprintln(out, "enabled and started fazt.service: systemctl status fazt, journalctl -u fazt")
			}
			return nil
		},
	}
	c.Flags().StringVar(&u.Binary, "bin", defaultServiceBinary, "where to install the binary the service runs")
	c.Flags().StringVar(&u.Mount, "mount", "", "mount the tree for the host at this directory")
	c.Flags().StringVar(&unitDir, "unit-dir", defaultUnitDir, "where to write fazt.service")
	c.Flags().BoolVar(&noStart, "no-start", false, "write the unit, but do not enable or start it")
	c.Flags().BoolVar(&print, "print", false, "print the unit and change nothing")
	return c
}

func newProcUninstallCmd(g *globals) *cobra.Command {
	var unitDir string
	c := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the systemd service (the data and the binary stay)",
		Long: `Stop and disable fazt.service where systemd runs, and remove its unit. The data
directory and the binary stay: remove them by hand if you mean it.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			out := c.OutOrStdout()
			unit := filepath.Join(unitDir, proc.UnitName)
			if _, err := os.Stat(unit); err != nil {
				return fmt.Errorf("no service to uninstall: %w", err)
			}
			if proc.SystemdRunning() {
				if err := systemctl(out, "disable", "--now", proc.UnitName); err != nil {
					return err
				}
			}
			if err := os.Remove(unit); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed %s\n", unit)
			if proc.SystemdRunning() {
				if err := systemctl(out, "daemon-reload"); err != nil {
					return err
				}
			}
			fmt.Fprintln(out, "the data directory and the binary are kept")
			return nil
		},
	}
	c.Flags().StringVar(&unitDir, "unit-dir", defaultUnitDir, "where fazt.service is")
	return c
}

func systemctl(out io.Writer, args ...string) error {
	cmd := exec.Command("systemctl", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("systemctl %v: %w", args, err)
	}
	return nil
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// copyExecutable installs a copy of src at dst.
func copyExecutable(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return proc.WriteFileAtomic(dst, f, 0o755)
}
