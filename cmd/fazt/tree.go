package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/proc"
)

// tree is where the CLI's file operations go: the mount of the kernel that
// serves the data directory, or, when none runs, a kernel booted in this
// process for the one command. Paths are absolute paths in the tree.
type tree interface {
	Stat(ctx context.Context, p string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error)
	Open(ctx context.Context, p string) (io.ReadCloser, error)
	// Create opens p for writing, creating or truncating it; the new
	// content is visible, all at once, when the writer is closed.
	Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error)
	Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error
	Remove(ctx context.Context, p string, recursive bool) error
	Close() error
}

// treePath makes a user's path absolute in the tree: "fs/blog" and
// "/fs/blog" are the same.
func treePath(p string) (string, error) {
	return kernel.CleanPath(path.Join("/", p))
}

func openTree(ctx context.Context, g *globals) (tree, error) {
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if h, ok := proc.ReadHolder(dir); ok {
			if len(h.Mounts) == 0 {
				return nil, fmt.Errorf("the fazt kernel (pid %d) serving %s has no mount to work through; stop it, or mount it with fazt fs mount", h.PID, dir)
			}
			return mountTree{root: h.Mounts[0]}, nil
		}
		sys, err := proc.Boot(ctx, proc.Config{DataDir: dir, Version: version,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if kernel.KindOf(err) == kernel.Busy && attempt == 0 {
			continue // a kernel started just now: go through it
		}
		if err != nil {
			return nil, err
		}
		return kernelTree{sys: sys}, nil
	}
}

// kernelTree works on a kernel in this process.
type kernelTree struct{ sys *proc.System }

func (t kernelTree) fs() *kernel.FS { return t.sys.Kernel.FS }

func (t kernelTree) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	a, err := t.fs().Lstat(ctx, p)
	if err != nil {
		return nil, err
	}
	return kernel.FileInfo(path.Base(p), a), nil
}

func (t kernelTree) ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error) {
	ents, err := t.fs().ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		a, err := t.fs().Lstat(ctx, path.Join(p, e.Name))
		if kernel.KindOf(err) == kernel.NotExist {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, kernel.FileInfo(e.Name, a))
	}
	return out, nil
}

func (t kernelTree) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	f, err := t.fs().Open(ctx, p, kernel.ORdonly, 0)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{f.Reader(ctx), f}, nil
}

func (t kernelTree) Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error) {
	f, err := t.fs().Open(ctx, p, kernel.OWronly|kernel.OCreate|kernel.OTrunc, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	return struct {
		io.Writer
		io.Closer
	}{f.Writer(ctx), f}, nil
}

func (t kernelTree) Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error {
	if parents {
		return t.fs().MkdirAll(ctx, p, uint32(perm.Perm()))
	}
	return t.fs().Mkdir(ctx, p, uint32(perm.Perm()))
}

func (t kernelTree) Remove(ctx context.Context, p string, recursive bool) error {
	if recursive {
		return t.fs().RemoveAll(ctx, p)
	}
	return t.fs().Remove(ctx, p)
}

func (t kernelTree) Close() error { return t.sys.Close() }

// mountTree works through a running kernel's mount.
type mountTree struct{ root string }

func (t mountTree) host(p string) string { return filepath.Join(t.root, filepath.FromSlash(p)) }

// rel turns host paths back into tree paths in errors.
func (t mountTree) rel(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if r, rerr := filepath.Rel(t.root, pe.Path); rerr == nil {
			pe.Path = "/" + filepath.ToSlash(r)
		}
	}
	return err
}

func (t mountTree) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	fi, err := os.Lstat(t.host(p))
	return fi, t.rel(err)
}

func (t mountTree) ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error) {
	ents, err := os.ReadDir(t.host(p))
	if err != nil {
		return nil, t.rel(err)
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, t.rel(err)
		}
		out = append(out, fi)
	}
	return out, nil
}

func (t mountTree) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	f, err := os.Open(t.host(p))
	return f, t.rel(err)
}

func (t mountTree) Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error) {
	f, err := os.OpenFile(t.host(p), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm.Perm())
	if err != nil {
		return nil, t.rel(err)
	}
	return f, nil
}

func (t mountTree) Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error {
	if parents {
		return t.rel(os.MkdirAll(t.host(p), perm.Perm()))
	}
	return t.rel(os.Mkdir(t.host(p), perm.Perm()))
}

func (t mountTree) Remove(ctx context.Context, p string, recursive bool) error {
	if recursive {
		if _, err := os.Lstat(t.host(p)); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return t.rel(os.RemoveAll(t.host(p)))
	}
	return t.rel(os.Remove(t.host(p)))
}

func (t mountTree) Close() error { return nil }
