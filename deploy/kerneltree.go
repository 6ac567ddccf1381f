package deploy

import (
	"context"
	"io"
	"io/fs"
	"path"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
)

// KernelTree is a Tree on a kernel in this process: the CLI's when no
// kernel runs, and the kernel's own for the commands of /deploys/ctl.
type KernelTree struct{ FS *kernel.FS }

var _ Tree = KernelTree{}

func (t KernelTree) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	a, err := t.FS.Lstat(ctx, p)
	if err != nil {
		return nil, err
	}
	return kernel.FileInfo(path.Base(p), a), nil
}

func (t KernelTree) ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error) {
	ents, err := t.FS.ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		a, err := t.FS.Lstat(ctx, path.Join(p, e.Name))
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

func (t KernelTree) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	f, err := t.FS.Open(ctx, p, kernel.ORdonly, 0)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{f.Reader(ctx), f}, nil
}

func (t KernelTree) Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error) {
	f, err := t.FS.Open(ctx, p, kernel.OWronly|kernel.OCreate|kernel.OTrunc, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	return struct {
		io.Writer
		io.Closer
	}{f.Writer(ctx), f}, nil
}

func (t KernelTree) Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error {
	if parents {
		return t.FS.MkdirAll(ctx, p, uint32(perm.Perm()))
	}
	return t.FS.Mkdir(ctx, p, uint32(perm.Perm()))
}

func (t KernelTree) Remove(ctx context.Context, p string, recursive bool) error {
	if recursive {
		return t.FS.RemoveAll(ctx, p)
	}
	return t.FS.Remove(ctx, p)
}

func (t KernelTree) Rename(ctx context.Context, from, to string) error {
	return t.FS.Rename(ctx, from, to)
}

func (t KernelTree) Clone(ctx context.Context, src, dst string) error {
	return t.FS.Clone(ctx, src, dst)
}

func (t KernelTree) Exchange(ctx context.Context, a, b string) error {
	return t.FS.Exchange(ctx, a, b)
}

func (t KernelTree) Sums(ctx context.Context, p string, skip ...string) (api.Sums, error) {
	return api.Manifest(ctx, t.FS, p, skip...)
}

func (t KernelTree) Link(ctx context.Context, pairs []api.LinkPair) ([]int, error) {
	a, err := api.Link(ctx, t.FS, pairs)
	return a.Missing, err
}

func (t KernelTree) WriteFiles(ctx context.Context, files []kernel.NewFile) error {
	return t.FS.WriteFiles(ctx, files)
}

func (t KernelTree) Symlink(ctx context.Context, target, p string) error {
	return t.FS.Symlink(ctx, target, p)
}
