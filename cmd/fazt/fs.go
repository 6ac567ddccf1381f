package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/mount"
	"github.com/fazt-sh/fazt/proc"
	"github.com/spf13/cobra"
)

func newFSCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "fs",
		Short: "The file tree: mount it, or work on it without a mount",
		Long: `The file tree holds everything fazt knows: /fs/<site>/ are the sites' files,
/proc/ reports on the kernel. Paths are absolute in the tree ("fs/blog" and
"/fs/blog" are the same).

Without a mount, these commands work on the data directory directly, or through
the mount of the kernel that serves it.`,
	}
	c.AddCommand(newMountCmd(g), newUmountCmd(g), newLsCmd(g), newCatCmd(g), newPutCmd(g), newRmCmd(g), newMkdirCmd(g), newSyncCmd(g))
	return c
}

// eachPath runs fn on the tree for each of the user's paths, in order,
// stopping at the first error.
func eachPath(ctx context.Context, g *globals, paths []string, fn func(t tree, p string) error) error {
	return withTree(ctx, g, func(t tree) error {
		for _, p := range paths {
			p, err := treePath(p)
			if err != nil {
				return err
			}
			if err := fn(t, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// withTree runs fn on the tree and closes it.
func withTree(ctx context.Context, g *globals, fn func(tree) error) error {
	t, err := openTree(ctx, g)
	if err != nil {
		return err
	}
	err = fn(t)
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	return err
}

func newMountCmd(g *globals) *cobra.Command {
	var fg bool
	var follow string
	var standby bool
	var mopt mount.Options
	c := &cobra.Command{
		Use:   "mount DIR",
		Short: "Mount the tree at DIR and return once it is usable",
		Long: `Mount the whole tree at DIR (created if missing). A kernel starts in the
background to serve it, logging to DATA/log/fazt.log; it stops when the tree is
unmounted (fazt fs umount DIR). With --foreground the kernel runs in this
process instead, until Ctrl-C.

Works as root without fusermount; other users need the fuse3 package. A mount
left behind by a killed fazt is cleaned up first.`,
		Example: "  fazt fs mount /mnt/fazt && ls /mnt/fazt/fs",
		Args:    args(1, 1),
		RunE: func(c *cobra.Command, a []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			mnt, err := absPath(a[0])
			if err != nil {
				return err
			}
			if standby && follow == "" {
				return fmt.Errorf("--standby needs --follow URL: a standby follows the primary's replica")
			}
			if err := mount.CleanStale(mnt); err != nil {
				return err
			}
			if err := os.MkdirAll(mnt, 0o755); err != nil {
				return err
			}
			if h, ok := proc.ReadHolder(dir); ok {
				for _, m := range h.Mounts {
					if m == mnt {
						return fmt.Errorf("%s is already mounted (kernel pid %d)", mnt, h.PID)
					}
				}
				// A kernel runs: it mounts the tree itself.
				cmd := "mount " + mnt
				if mopt.AllowOther {
					cmd += " allow-other"
				}
				if mopt.Xattrs {
					cmd += " xattrs"
				}
				if err := writeFile(c.Context(), apiTree{c: api.Dial(proc.SocketIn(dir))}, "/proc/ctl", []byte(cmd+"\n")); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "fazt: %s mounted at %s (kernel pid %d)\n", dir, mnt, h.PID)
				sayListeners(c, dir, mnt)
				return nil
			}
			if fg {
				sys, err := proc.Boot(c.Context(), proc.Config{DataDir: dir, Version: version, Follow: follow, Standby: standby})
				if err != nil {
					return err
				}
				err = sys.Run(c.Context(), proc.RunOptions{Mount: mnt, MountOptions: mopt, ExitOnUnmount: true,
					Ready: func(err error) {
						if err == nil {
							fmt.Fprintf(c.OutOrStdout(), "fazt: %s mounted at %s; Ctrl-C to stop\n", dir, mnt)
						}
					}})
				if cerr := sys.Close(); err == nil {
					err = cerr
				}
				if err == nil && sys.RestartInPlace() {
					return proc.Exec()
				}
				return err
			}
			// Supervised: nothing else brings a kernel started here back.
			spawnArgs := []string{"--data", dir, "proc", "start", "--mount", mnt, "--exit-on-umount", "--supervise"}
			if mopt.AllowOther {
				spawnArgs = append(spawnArgs, "--allow-other")
			}
			if mopt.Xattrs {
				spawnArgs = append(spawnArgs, "--xattrs")
			}
			if mopt.Debug {
				spawnArgs = append(spawnArgs, "--debug")
			}
			if follow != "" {
				spawnArgs = append(spawnArgs, "--follow", follow)
			}
			if standby {
				spawnArgs = append(spawnArgs, "--standby")
			}
			if err := proc.Spawn(dir, spawnArgs, 30*time.Second); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "fazt: %s mounted at %s\n", dir, mnt)
			sayListeners(c, dir, mnt)
			return nil
		},
	}
	c.Flags().BoolVar(&fg, "foreground", false, "serve from this process until Ctrl-C")
	c.Flags().StringVar(&follow, "follow", "", "start an edge: follow the primary's replica at this URL (see fazt proc start)")
	c.Flags().BoolVar(&standby, "standby", false, "with --follow: a standby, taking the primary's place when its lease expires")
	c.Flags().BoolVar(&mopt.AllowOther, "allow-other", false, "let other users use the mount (file modes apply)")
	c.Flags().BoolVar(&mopt.Xattrs, "xattrs", false, "keep extended attributes (user.*: setfattr, rsync -X); ls -l costs two requests more per file")
	c.Flags().BoolVar(&mopt.Debug, "debug", false, "log every FUSE request")
	return c
}

func newUmountCmd(g *globals) *cobra.Command {
	var lazy bool
	c := &cobra.Command{
		Use:   "umount DIR",
		Short: "Unmount the tree at DIR",
		Long: `Unmount the tree at DIR. It fails while a process uses the mount (has a file
open or its working directory there); --lazy detaches it at once and lets it go
when its last user leaves. The kernel that fazt fs mount started then stops.`,
		Args: args(1, 1),
		RunE: func(c *cobra.Command, a []string) error {
			mnt, err := absPath(a[0])
			if err != nil {
				return err
			}
			if ok, err := mount.IsMountPoint(mnt); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("%s is not mounted", mnt)
			}
			if lazy {
				err = mount.Detach(mnt)
			} else {
				err = unmount(mnt)
			}
			if err != nil {
				return err
			}
			// Wait for the kernel to let go of the data directory, so the
			// next command finds it free.
			if dir, err := g.dataDir(); err == nil {
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					h, ok := proc.ReadHolder(dir)
					if !ok || !contains(h.Mounts, mnt) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&lazy, "lazy", false, "detach now even if busy")
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newLsCmd(g *globals) *cobra.Command {
	var long bool
	c := &cobra.Command{
		Use:     "ls [PATH]",
		Short:   "List a directory of the tree",
		Example: "  fazt fs ls -l /fs/blog",
		Args:    args(0, 1),
		RunE: func(c *cobra.Command, a []string) error {
			p := "/"
			if len(a) == 1 {
				p = a[0]
			}
			p, err := treePath(p)
			if err != nil {
				return err
			}
			return withTree(c.Context(), g, func(t tree) error {
				fi, err := t.Stat(c.Context(), p)
				if err != nil {
					return err
				}
				infos := []fs.FileInfo{fi}
				if fi.IsDir() {
					if infos, err = t.ReadDir(c.Context(), p); err != nil {
						return err
					}
				}
				width := 1
				for _, fi := range infos {
					width = max(width, len(fmt.Sprint(fi.Size())))
				}
				out := c.OutOrStdout()
				for _, fi := range infos {
					name := fi.Name()
					if fi.IsDir() {
						name += "/"
					}
					if long {
						fmt.Fprintf(out, "%s %*d %s %s\n", fi.Mode(), width, fi.Size(), fi.ModTime().Format("2006-01-02 15:04"), name)
					} else {
						fmt.Fprintln(out, name)
					}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVarP(&long, "long", "l", false, "show mode, size and modification time")
	return c
}

func newCatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "cat PATH...",
		Short:   "Print files of the tree",
		Example: "  fazt fs cat /proc/status",
		Args:    args(1, -1),
		RunE: func(c *cobra.Command, a []string) error {
			return eachPath(c.Context(), g, a, func(t tree, p string) error {
				r, err := t.Open(c.Context(), p)
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(c.OutOrStdout(), r)
				return err
			})
		},
	}
}

func newPutCmd(g *globals) *cobra.Command {
	var recursive bool
	c := &cobra.Command{
		Use:   "put LOCAL PATH",
		Short: "Copy a local file (or, with -r, a directory) into the tree",
		Long: `Copy LOCAL into the tree at PATH; "-" reads standard input. If PATH is a
directory, the file keeps its name inside it. Each file appears all at once:
readers see the old content or the new, never a part. Permission bits are kept.`,
		Example: "  fazt fs put index.html /fs/blog/\n  fazt fs put -r ./public /fs/blog\n  echo hi | fazt fs put - /fs/blog/hi.txt",
		Args:    args(2, 2),
		RunE: func(c *cobra.Command, a []string) error {
			dst, err := treePath(a[1])
			if err != nil {
				return err
			}
			return withTree(c.Context(), g, func(t tree) error {
				ctx := c.Context()
				if a[0] == "-" {
					return deploy.Put(ctx, t, dst, os.Stdin, 0o644)
				}
				st, err := os.Stat(a[0])
				if err != nil {
					return err
				}
				if fi, err := t.Stat(ctx, dst); err == nil && fi.IsDir() {
					dst = path.Join(dst, filepath.Base(a[0]))
				}
				if st.IsDir() {
					if !recursive {
						return fmt.Errorf("%s is a directory (use -r)", a[0])
					}
					return putDir(ctx, t, a[0], dst)
				}
				return deploy.Upload(ctx, t, a[0], dst, st.Mode())
			})
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy a directory and everything in it")
	return c
}

func putDir(ctx context.Context, t tree, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return t.Mkdir(ctx, target, info.Mode().Perm(), true)
		case d.Type().IsRegular():
			return deploy.Upload(ctx, t, p, target, info.Mode())
		default:
			fmt.Fprintf(os.Stderr, "fazt: skipping %s: not a regular file\n", p)
			return nil
		}
	})
}

func newRmCmd(g *globals) *cobra.Command {
	var recursive, force bool
	c := &cobra.Command{
		Use:     "rm PATH...",
		Short:   "Remove files (or, with -r, directories) from the tree",
		Example: "  fazt fs rm -r /fs/old-site",
		Args:    args(1, -1),
		RunE: func(c *cobra.Command, a []string) error {
			return eachPath(c.Context(), g, a, func(t tree, p string) error {
				if _, err := t.Stat(c.Context(), p); err != nil {
					if force && errors.Is(err, fs.ErrNotExist) {
						return nil
					}
					return err
				}
				return t.Remove(c.Context(), p, recursive)
			})
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove directories and their contents")
	c.Flags().BoolVarP(&force, "force", "f", false, "ignore paths that do not exist")
	return c
}

func newMkdirCmd(g *globals) *cobra.Command {
	var parents bool
	c := &cobra.Command{
		Use:     "mkdir PATH...",
		Short:   "Make directories in the tree",
		Example: "  fazt fs mkdir -p /fs/blog/assets",
		Args:    args(1, -1),
		RunE: func(c *cobra.Command, a []string) error {
			return eachPath(c.Context(), g, a, func(t tree, p string) error {
				return t.Mkdir(c.Context(), p, 0o755, parents)
			})
		},
	}
	c.Flags().BoolVarP(&parents, "parents", "p", false, "make parent directories as needed; no error if it exists")
	return c
}

// unmount detaches a mount point, or fails clearly when it is busy.
func unmount(dir string) error {
	if err := unmountSyscall(dir); err != nil {
		if kernel.KindOf(err) == kernel.Busy {
			return fmt.Errorf("%s is busy: a process has a file open or its working directory there; close them, or use --lazy", dir)
		}
		return err
	}
	return nil
}

// sayListeners tells where the kernel of dir serves HTTP and HTTPS and,
// loudly on stderr, which listener could not bind and how to move it: a
// mount that works while another program answers on the port is the
// first thing a new user would otherwise trip over.
func sayListeners(c *cobra.Command, dir, mnt string) {
	kv, err := readStatus(c.Context(), apiTree{c: api.Dial(proc.SocketIn(dir))})
	if err != nil {
		return
	}
	for _, sc := range []string{"http", "https"} {
		addr, why := kv["net_"+sc+"_addr"], kv["net_"+sc+"_error"]
		switch {
		case why != "" && why != "-":
			fmt.Fprintf(c.ErrOrStderr(), "fazt: WARNING: not serving %s: %s\n  choose another address: echo 127.0.0.1:PORT > %s\n",
				strings.ToUpper(sc), why, filepath.Join(mnt, "net", sc))
		case addr != "" && addr != "-":
			_, port, _ := net.SplitHostPort(addr)
			fmt.Fprintf(c.OutOrStdout(), "fazt: serving %s on port %s (%s://localhost:%s/, sites by host name: %s)\n",
				strings.ToUpper(sc), port, sc, port, filepath.Join(mnt, "net", "routes"))
		}
	}
}
