package main

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"path"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/proc"
)

// tree is where the CLI's file operations go: the local API of the kernel
// that serves the data directory, or, when none runs, a kernel booted in
// this process for the one command. Both end in the same kernel calls, so
// the results are the same. Paths are absolute paths in the tree.
type tree interface {
	// The operations a deploy needs (stat, list, read, write, make, remove,
	// rename, clone, exchange, manifest): see deploy.Tree. For a file of
	// /fs, what Create writes is visible, all at once, when the writer is
	// closed; for a control file each line is applied as it is written.
	deploy.Tree
	// Call writes a request to a call file and returns its answer.
	Call(ctx context.Context, p string, request []byte) ([]byte, error)
	Close() error
}

// treePath makes a user's path absolute in the tree: "fs/blog" and
// "/fs/blog" are the same.
func treePath(p string) (string, error) {
	return kernel.CleanPath(path.Join("/", p))
}

func openTree(ctx context.Context, g *globals) (tree, error) {
	if url := g.remoteURL(); url != "" {
		c, err := remoteClient(url)
		if err != nil {
			return nil, err
		}
		return apiTree{c: c}, nil
	}
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if _, ok := proc.ReadHolder(dir); ok {
			return apiTree{c: api.Dial(proc.SocketIn(dir))}, nil
		}
		sys, err := proc.Boot(ctx, proc.Config{DataDir: dir, Version: version, LogLevel: slog.LevelWarn})
		if kernel.KindOf(err) == kernel.Busy && attempt == 0 {
			continue // a kernel started just now: go through it
		}
		if err != nil {
			return nil, err
		}
		return kernelTree{KernelTree: deploy.KernelTree{FS: sys.Kernel.FS}, sys: sys}, nil
	}
}

// kernelTree works on a kernel in this process.
type kernelTree struct {
	deploy.KernelTree
	sys *proc.System
}

func (t kernelTree) fs() *kernel.FS { return t.sys.Kernel.FS }

func (t kernelTree) Call(ctx context.Context, p string, request []byte) ([]byte, error) {
	f, err := t.fs().Open(ctx, p, kernel.ORdwr, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteAt(ctx, request, 0); err != nil {
		return nil, err
	}
	if err := f.Sync(ctx); err != nil {
		return nil, err
	}
	return api.ReadAnswer(ctx, f, int64(len(request)))
}

func (t kernelTree) Close() error { return t.sys.Close() }

// apiTree works through a running kernel's local API.
type apiTree struct{ c *api.Client }

func info(a api.Attr) fs.FileInfo {
	return kernel.FileInfo(a.Name, kernel.Attr{Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Size: a.Size, Mtime: a.Mtime})
}

func (t apiTree) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	a, err := t.c.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	return info(a), nil
}

func (t apiTree) ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error) {
	list, err := t.c.List(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, len(list))
	for i, a := range list {
		out[i] = info(a)
	}
	return out, nil
}

func (t apiTree) Open(ctx context.Context, p string) (io.ReadCloser, error) { return t.c.Open(ctx, p) }

func (t apiTree) Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error) {
	return t.c.Create(ctx, p, uint32(perm.Perm())), nil
}

func (t apiTree) Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error {
	return t.c.Mkdir(ctx, p, uint32(perm.Perm()), parents)
}

func (t apiTree) Remove(ctx context.Context, p string, recursive bool) error {
	return t.c.Remove(ctx, p, recursive)
}

func (t apiTree) Rename(ctx context.Context, from, to string) error { return t.c.Rename(ctx, from, to) }

func (t apiTree) Call(ctx context.Context, p string, request []byte) ([]byte, error) {
	return t.c.Call(ctx, p, request)
}

func (t apiTree) Clone(ctx context.Context, src, dst string) error { return t.c.Clone(ctx, src, dst) }

func (t apiTree) Exchange(ctx context.Context, a, b string) error { return t.c.Exchange(ctx, a, b) }

func (t apiTree) Sums(ctx context.Context, p string, skip ...string) (api.Sums, error) {
	return t.c.Sums(ctx, p, skip...)
}

func (t apiTree) Symlink(ctx context.Context, target, p string) error {
	return t.c.Symlink(ctx, target, p)
}

func (t apiTree) Link(ctx context.Context, pairs []api.LinkPair) ([]int, error) {
	return t.c.Link(ctx, pairs)
}

func (t apiTree) WriteFiles(ctx context.Context, files []kernel.NewFile) error {
	return t.c.WriteFiles(ctx, files)
}

func (t apiTree) Close() error { return nil }

// readFile reads a whole file of the tree.
func readFile(ctx context.Context, t tree, p string) ([]byte, error) {
	r, err := t.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// writeFile writes data to a file of the tree (a value or a command).
func writeFile(ctx context.Context, t tree, p string, data []byte) error {
	w, err := t.Create(ctx, p, 0o644)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
