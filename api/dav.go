package api

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"

	"golang.org/x/net/webdav"

	"github.com/fazt-sh/fazt/kernel"
)

// DAVPrefix is where the tree is also served over WebDAV (RFC 4918), for
// rclone, davfs2 and file managers: /dav/fs/blog is /fs/blog.
const DAVPrefix = "/dav"

// newDAV serves k's tree over WebDAV (golang.org/x/net/webdav), with the
// same access levels as the rest of the API.
func newDAV(k *kernel.Kernel) http.Handler {
	return &webdav.Handler{
		Prefix:     DAVPrefix,
		FileSystem: davFS{k: k},
		LockSystem: newDAVLocks(),
		Logger: func(r *http.Request, err error) {
			if err != nil && kernel.KindOf(err) == kernel.Internal {
				k.Log.Warn("dav: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		},
	}
}

type davFS struct{ k *kernel.Kernel }

func clean(name string) (string, error) { return kernel.CleanPath(path.Join("/", name)) }

// davErr turns a kernel error into what webdav maps to a status: it
// knows the os package's errors only (os.IsNotExist...).
func davErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	switch kernel.KindOf(err) {
	case kernel.NotExist:
		return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
	case kernel.Exist:
		return &fs.PathError{Op: op, Path: p, Err: fs.ErrExist}
	case kernel.Permission, kernel.NotPermitted:
		return &fs.PathError{Op: op, Path: p, Err: fs.ErrPermission}
	}
	return err
}

func (d davFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	p, err := clean(name)
	if err != nil {
		return err
	}
	return davErr("mkdir", p, d.k.FS.Mkdir(ctx, p, uint32(perm.Perm())))
}

func (d davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	p, err := clean(name)
	if err != nil {
		return nil, err
	}
	f, err := d.k.FS.Open(ctx, p, flag, uint32(perm.Perm()))
	if err != nil {
		return nil, davErr("open", p, err)
	}
	return &davFile{ctx: ctx, fs: d.k.FS, f: f, p: p}, nil
}

func (d davFS) RemoveAll(ctx context.Context, name string) error {
	p, err := clean(name)
	if err != nil {
		return err
	}
	return davErr("remove", p, d.k.FS.RemoveAll(ctx, p))
}

func (d davFS) Rename(ctx context.Context, oldName, newName string) error {
	from, err := clean(oldName)
	if err != nil {
		return err
	}
	to, err := clean(newName)
	if err != nil {
		return err
	}
	return davErr("rename", from, d.k.FS.Rename(ctx, from, to))
}

func (d davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p, err := clean(name)
	if err != nil {
		return nil, err
	}
	a, err := d.k.FS.Stat(ctx, p)
	if err != nil {
		return nil, davErr("stat", p, err)
	}
	if a.IsSpecial() {
		return nil, davErr("stat", p, errSpecial)
	}
	return kernel.FileInfo(path.Base(p), a), nil
}

// errSpecial: FIFOs, sockets and devices are nothing HTTP can carry, so
// WebDAV does not show them (a listing that named one would fail where its
// properties are read).
var errSpecial = kernel.E(kernel.NotExist, "not a file WebDAV can carry")

// davFile is an open file or directory of the tree, with an offset.
type davFile struct {
	ctx  context.Context
	fs   *kernel.FS
	f    *kernel.File
	p    string
	off  int64
	dir  []fs.FileInfo
	read bool
}

func (f *davFile) Close() error { return f.f.Close() }

func (f *davFile) Read(b []byte) (int, error) {
	n, err := f.f.ReadAt(f.ctx, b, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *davFile) Write(b []byte) (int, error) {
	n, err := f.f.WriteAt(f.ctx, b, f.off)
	f.off += int64(n)
	return n, err
}

func (f *davFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		a, err := f.f.Stat(f.ctx)
		if err != nil {
			return 0, err
		}
		off += a.Size
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.p, Err: fs.ErrInvalid}
	}
	f.off = off
	return off, nil
}

func (f *davFile) Readdir(count int) ([]fs.FileInfo, error) {
	if !f.read {
		ents, err := f.f.ReadDir(f.ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range ents { // the kernel left out what the client may not see
			p := path.Join(f.p, e.Name)
			a, err := f.fs.Lstat(f.ctx, p)
			if err != nil || a.IsSpecial() {
				continue // gone since the listing, or not for WebDAV
			}
			f.dir = append(f.dir, kernel.FileInfo(e.Name, a))
		}
		f.read = true
	}
	if count <= 0 {
		out := f.dir
		f.dir = nil
		return out, nil
	}
	if len(f.dir) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(f.dir))
	out := f.dir[:n:n]
	f.dir = f.dir[n:]
	return out, nil
}

func (f *davFile) Stat() (fs.FileInfo, error) {
	a, err := f.f.Stat(f.ctx)
	if err != nil {
		return nil, err
	}
	return kernel.FileInfo(path.Base(f.p), a), nil
}
