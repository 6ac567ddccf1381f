package vfs

import (
	"context"

	"github.com/fazt-sh/fazt/kernel"
)

// View is a read-only view of the tree below one directory of f, to be
// bound elsewhere in the namespace (/deploys shows /fs/.deploys). It has
// no Writer, so the namespace refuses every change (EROFS); files open
// for reading only.
type View struct {
	f    *FS
	root uint64
}

var _ kernel.FileSystem = (*View)(nil)

// View returns a read-only view rooted at the directory ino.
func (f *FS) View(ino uint64) *View { return &View{f: f, root: ino} }

// Root implements kernel.FileSystem.
func (v *View) Root() uint64 { return v.root }

// Getattr implements kernel.FileSystem.
func (v *View) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	return v.f.Getattr(ctx, ino)
}

// Lookup implements kernel.FileSystem.
func (v *View) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	return v.f.Lookup(ctx, dir, name)
}

// ReadDir implements kernel.FileSystem.
func (v *View) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	return v.f.ReadDir(ctx, dir)
}

// Open implements kernel.FileSystem: for reading only.
func (v *View) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	if flags&kernel.OAccess != kernel.ORdonly || flags&kernel.OTrunc != 0 {
		return nil, kernel.E(kernel.ReadOnly, "read-only file system")
	}
	return v.f.Open(ctx, ino, flags)
}

// Readlink implements kernel.FileSystem.
func (v *View) Readlink(ctx context.Context, ino uint64) (string, error) {
	return v.f.Readlink(ctx, ino)
}

// Statfs implements kernel.FileSystem.
func (v *View) Statfs(ctx context.Context) (kernel.Statfs, error) { return v.f.Statfs(ctx) }

// Manifest and Digest work in a view as in the tree it shows.
func (v *View) Manifest(ctx context.Context, dir uint64, skip []string) ([]kernel.ManifestEntry, error) {
	return v.f.Manifest(ctx, dir, skip)
}

// Digest implements kernel.Digester.
func (v *View) Digest(ctx context.Context, ino uint64) ([]byte, error) { return v.f.Digest(ctx, ino) }

// BlockSize implements kernel.Digester.
func (v *View) BlockSize() int64 { return v.f.BlockSize() }
