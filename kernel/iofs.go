package kernel

import (
	"context"
	"io"
	"io/fs"
	"path"
	"syscall"
	"time"
)

// IOFS returns the subtree at root as an io/fs.FS, for code that speaks the
// standard library's file system vocabulary (testing/fstest, http.FS,
// template.ParseFS). All its calls use ctx.
func (f *FS) IOFS(ctx context.Context, root string) fs.FS {
	return &ioFS{ctx: ctx, fs: f, root: root}
}

type ioFS struct {
	ctx  context.Context
	fs   *FS
	root string
}

var (
	_ fs.StatFS     = (*ioFS)(nil)
	_ fs.ReadDirFS  = (*ioFS)(nil)
	_ fs.ReadFileFS = (*ioFS)(nil)
)

func (x *ioFS) full(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(x.root, name), nil
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (x *ioFS) Open(name string) (fs.File, error) {
	p, err := x.full("open", name)
	if err != nil {
		return nil, err
	}
	fl, err := x.fs.Open(x.ctx, p, ORdonly, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &ioFile{x: x, name: name, f: fl}, nil
}

func (x *ioFS) Stat(name string) (fs.FileInfo, error) {
	p, err := x.full("stat", name)
	if err != nil {
		return nil, err
	}
	a, err := x.fs.Stat(x.ctx, p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fileInfo{name: path.Base(name), a: a}, nil
}

func (x *ioFS) ReadFile(name string) ([]byte, error) {
	p, err := x.full("readfile", name)
	if err != nil {
		return nil, err
	}
	b, err := x.fs.ReadFile(x.ctx, p)
	return b, pathErr("readfile", name, err)
}

func (x *ioFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := x.full("readdir", name)
	if err != nil {
		return nil, err
	}
	ents, err := x.fs.ReadDir(x.ctx, p)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	return x.dirEntries(p, ents)
}

func (x *ioFS) dirEntries(dir string, ents []DirEntry) ([]fs.DirEntry, error) {
	out := make([]fs.DirEntry, 0, len(ents))
	for _, e := range ents {
		a, err := x.fs.Lstat(x.ctx, path.Join(dir, e.Name))
		if KindOf(err) == NotExist {
			continue // removed since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(fileInfo{name: e.Name, a: a}))
	}
	return out, nil
}

type ioFile struct {
	x    *ioFS
	name string
	f    *File
	off  int64
	dir  []fs.DirEntry // remaining entries for ReadDir(n)
	read bool          // dir listed
}

func (f *ioFile) Stat() (fs.FileInfo, error) {
	a, err := f.f.Stat(f.x.ctx)
	if err != nil {
		return nil, pathErr("stat", f.name, err)
	}
	return fileInfo{name: path.Base(f.name), a: a}, nil
}

func (f *ioFile) Read(p []byte) (int, error) {
	if f.f.attr.IsDir() {
		return 0, pathErr("read", f.name, E(IsDir, "is a directory"))
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.f.ReadAt(f.x.ctx, p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *ioFile) ReadAt(p []byte, off int64) (int, error) {
	return f.f.ReadAt(f.x.ctx, p, off)
}

func (f *ioFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		a, err := f.f.Stat(f.x.ctx)
		if err != nil {
			return 0, err
		}
		off += a.Size
	default:
		return 0, pathErr("seek", f.name, fs.ErrInvalid)
	}
	if off < 0 {
		return 0, pathErr("seek", f.name, fs.ErrInvalid)
	}
	f.off = off
	return off, nil
}

func (f *ioFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.read {
		ents, err := f.f.ReadDir(f.x.ctx)
		if err != nil {
			return nil, pathErr("readdir", f.name, err)
		}
		if f.dir, err = f.x.dirEntries(f.f.path, ents); err != nil {
			return nil, pathErr("readdir", f.name, err)
		}
		f.read = true
	}
	if n <= 0 {
		out := f.dir
		f.dir = nil
		return out, nil
	}
	if len(f.dir) == 0 {
		return nil, io.EOF
	}
	if n > len(f.dir) {
		n = len(f.dir)
	}
	out := f.dir[:n:n]
	f.dir = f.dir[n:]
	return out, nil
}

func (f *ioFile) Close() error { return f.f.Close() }

type fileInfo struct {
	name string
	a    Attr
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.a.Size }
func (fi fileInfo) Mode() fs.FileMode  { return FileMode(fi.a.Mode) }
func (fi fileInfo) ModTime() time.Time { return fi.a.Mtime }
func (fi fileInfo) IsDir() bool        { return fi.a.IsDir() }
func (fi fileInfo) Sys() any           { return fi.a }

// FileMode converts a Unix mode to an io/fs.FileMode.
func FileMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	if mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// FileInfo describes attributes a of the file called name as an
// io/fs.FileInfo.
func FileInfo(name string, a Attr) fs.FileInfo { return fileInfo{name: name, a: a} }
