package mount

import (
	"context"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is one inode of the namespace as FUSE sees it. Its identity is its
// StableAttr().Ino, the namespace's global inode number.
type node struct {
	fs.Inode
	m *Mount
}

var (
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeReaddirer      = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeReadlinker     = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeStatfser       = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeLseeker        = (*node)(nil)

	_ fs.NodeCopyFileRanger = (*node)(nil)
)

func (n *node) ino() uint64 { return n.StableAttr().Ino }

func (n *node) ns() *kernel.Namespace { return n.m.k.NS }

// call returns the context for a kernel call on behalf of a FUSE request:
// the caller's ids, this mount as origin, and no cancellation.
func (m *Mount) call(ctx context.Context) context.Context {
	c := context.Background()
	if caller, ok := fuse.FromContext(ctx); ok {
		c = kernel.WithCred(c, kernel.Cred{UID: caller.Uid, GID: caller.Gid})
	}
	return kernel.WithOrigin(c, m)
}

// errno maps err to the errno the caller sees. Internal errors are logged:
// their errno, EIO, says nothing.
func (m *Mount) errno(op string, ino uint64, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	k := kernel.KindOf(err)
	if k == kernel.Internal {
		m.log.Error("fuse: internal error", "op", op, "ino", ino, "err", err)
	}
	return k.Errno()
}

func fillAttr(a kernel.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.UID, a.GID
	out.Size = uint64(a.Size)
	out.Blocks = uint64(a.Blocks)
	out.Blksize = 4096
	out.Rdev = a.Rdev
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

// child returns the FUSE inode for an entry that the kernel is about to
// learn of, with its attributes in out.
func (n *node) child(ctx context.Context, a kernel.Attr, out *fuse.EntryOut) *fs.Inode {
	fillAttr(a, &out.Attr)
	out.SetEntryTimeout(n.m.timeout(n.ino()))
	out.SetAttrTimeout(n.m.timeout(a.Ino))
	return n.NewInode(ctx, &node{m: n.m}, fs.StableAttr{Mode: a.Mode & syscall.S_IFMT, Ino: a.Ino})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.ns().Lookup(n.m.call(ctx), n.ino(), name)
	if err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return nil, syscall.ENOENT
		}
		return nil, n.m.errno("lookup", n.ino(), err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, err := n.ns().Getattr(n.m.call(ctx), n.ino())
	if err != nil {
		return n.m.errno("getattr", n.ino(), err)
	}
	fillAttr(a, &out.Attr)
	out.SetTimeout(n.m.timeout(n.ino()))
	return 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var set kernel.SetAttr
	if m, ok := in.GetMode(); ok {
		set.Valid |= kernel.SetMode
		set.Mode = m
	}
	if u, ok := in.GetUID(); ok {
		set.Valid |= kernel.SetUID
		set.UID = u
	}
	if g, ok := in.GetGID(); ok {
		set.Valid |= kernel.SetGID
		set.GID = g
	}
	if s, ok := in.GetSize(); ok {
		set.Valid |= kernel.SetSize
		set.Size = int64(s)
	}
	if t, ok := in.GetATime(); ok {
		set.Valid |= kernel.SetAtime
		set.Atime = t
		if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
			set.Valid |= kernel.SetAtimeNow
		}
	}
	if t, ok := in.GetMTime(); ok {
		set.Valid |= kernel.SetMtime
		set.Mtime = t
		if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
			set.Valid |= kernel.SetMtimeNow
		}
	}
	ctx2 := n.m.call(ctx)
	var a kernel.Attr
	var err error
	if set.Valid == 0 {
		a, err = n.ns().Getattr(ctx2, n.ino())
	} else {
		a, err = n.ns().Setattr(ctx2, n.ino(), set)
	}
	// A chown, and a truncation the host kernel marks, clear set-ID
	// bits (see dropSetID). A chmod in the same request says the mode.
	chown := set.Valid&(kernel.SetUID|kernel.SetGID) != 0
	if err == nil && set.Valid&kernel.SetMode == 0 && (chown || in.Valid&fuse.FATTR_KILL_SUIDGID != 0) {
		if err = n.m.dropSetID(ctx2, n.ino(), chown); err == nil {
			a, err = n.ns().Getattr(ctx2, n.ino())
		}
	}
	if err != nil {
		return n.m.errno("setattr", n.ino(), err)
	}
	fillAttr(a, &out.Attr)
	// go-fuse leaves the timeout of a SETATTR reply at 0, which makes the
	// kernel ask again (GETATTR) at the next permission check.
	out.SetTimeout(n.m.timeout(n.ino()))
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, err := n.ns().ReadDir(n.m.call(ctx), n.ino())
	if err != nil {
		return nil, n.m.errno("readdir", n.ino(), err)
	}
	// "." and ".." first, as a local file system lists them (ls -a,
	// scandir users): the directory and the one that holds it (the root
	// holds itself).
	parent := n.ino()
	if _, p := n.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	list := make([]fuse.DirEntry, 0, len(ents)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Ino: n.ino(), Mode: syscall.S_IFDIR},
		fuse.DirEntry{Name: "..", Ino: parent, Mode: syscall.S_IFDIR})
	for _, e := range ents {
		list = append(list, fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Mode & syscall.S_IFMT})
	}
	return fs.NewListDirStream(list), 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	kctx := n.m.call(ctx)
	h, err := n.ns().Open(kctx, n.ino(), int(flags))
	if err != nil {
		return nil, 0, n.m.errno("open", n.ino(), err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := n.m.dropSetID(kctx, n.ino(), false); err != nil {
			h.Release(kctx)
			return nil, 0, n.m.errno("open", n.ino(), err)
		}
	}
	return &file{h: h, m: n.m, ino: n.ino()}, openFlags(h), 0
}

// openFlags chooses how the kernel caches a file: generated content is read
// directly each time; stored content stays cached across opens, kept right
// by the invalidations.
func openFlags(h kernel.Handle) uint32 {
	if directIO(h) {
		return fuse.FOPEN_DIRECT_IO
	}
	return fuse.FOPEN_KEEP_CACHE
}

// directIO says whether h is generated content (a control file).
func directIO(h kernel.Handle) bool {
	d, ok := h.(kernel.DirectIO)
	return ok && d.DirectIO()
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	a, h, err := n.ns().Create(n.m.call(ctx), n.ino(), name, int(flags), mode)
	if err != nil {
		return nil, nil, 0, n.m.errno("create", n.ino(), err)
	}
	return n.child(ctx, a, out), &file{h: h, m: n.m, ino: a.Ino}, openFlags(h), 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.ns().Mkdir(n.m.call(ctx), n.ino(), name, mode)
	if err != nil {
		return nil, n.m.errno("mkdir", n.ino(), err)
	}
	return n.child(ctx, a, out), 0
}

// Mknod makes FIFOs, sockets (bind(2) of a Unix socket) and devices,
// and regular files (some tools create files this way).
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if kernel.IsSpecialMode(mode) {
		a, err := n.ns().Mknod(n.m.call(ctx), n.ino(), name, mode, dev)
		if err != nil {
			return nil, n.m.errno("mknod", n.ino(), err)
		}
		return n.child(ctx, a, out), 0
	}
	if mode&syscall.S_IFMT != syscall.S_IFREG && mode&syscall.S_IFMT != 0 {
		return nil, syscall.EINVAL
	}
	a, h, err := n.ns().Create(n.m.call(ctx), n.ino(), name, kernel.OWronly|kernel.OExcl, mode&0o7777)
	if err != nil {
		return nil, n.m.errno("mknod", n.ino(), err)
	}
	if err := h.Release(n.m.call(ctx)); err != nil {
		return nil, n.m.errno("mknod", n.ino(), err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.ns().Symlink(n.m.call(ctx), n.ino(), name, target)
	if err != nil {
		return nil, n.m.errno("symlink", n.ino(), err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.ns().Readlink(n.m.call(ctx), n.ino())
	if err != nil {
		return nil, n.m.errno("readlink", n.ino(), err)
	}
	return []byte(t), 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.ns().Link(n.m.call(ctx), target.EmbeddedInode().StableAttr().Ino, n.ino(), name)
	if err != nil {
		return nil, n.m.errno("link", n.ino(), err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.m.errno("unlink", n.ino(), n.ns().Unlink(n.m.call(ctx), n.ino(), name))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.m.errno("rmdir", n.ino(), n.ns().Rmdir(n.m.call(ctx), n.ino(), name))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	newDir := newParent.EmbeddedInode().StableAttr().Ino
	return n.m.errno("rename", n.ino(), n.ns().Rename(n.m.call(ctx), n.ino(), name, newDir, newName, flags))
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	s, err := n.ns().Statfs(n.m.call(ctx), n.ino())
	if err != nil {
		return n.m.errno("statfs", n.ino(), err)
	}
	out.Bsize = s.Bsize
	out.Frsize = s.Bsize
	out.Blocks = s.Blocks
	out.Bfree = s.Bfree
	out.Bavail = s.Bavail
	out.Files = s.Files
	out.Ffree = s.Ffree
	out.NameLen = s.NameMax
	return 0
}

// Fsync of a file commits it durably; of a directory (fsync after a
// rename, as databases and mail stores do), it makes every change so far
// durable.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if fh, ok := f.(*file); ok {
		return fh.Fsync(ctx, flags)
	}
	return n.m.errno("fsync", n.ino(), n.ns().Sync(n.m.call(ctx), n.ino()))
}

// Allocate is fallocate(2) on an open file.
func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	fh, ok := f.(*file)
	if !ok {
		return syscall.EBADF
	}
	a, ok := fh.h.(kernel.Allocator)
	if !ok {
		return syscall.EOPNOTSUPP
	}
	if int64(off) < 0 || int64(size) < 0 {
		return syscall.EFBIG
	}
	return n.m.errno("fallocate", n.ino(), a.Allocate(n.m.call(ctx), int64(off), int64(size), mode))
}

// Lseek answers SEEK_DATA and SEEK_HOLE (the host kernel does the others).
func (n *node) Lseek(ctx context.Context, f fs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	fh, ok := f.(*file)
	if !ok {
		return 0, syscall.EBADF
	}
	if whence != unix.SEEK_DATA && whence != unix.SEEK_HOLE {
		return 0, syscall.EINVAL
	}
	s, ok := fh.h.(kernel.DataSeeker)
	if !ok {
		// All data, as the host kernel says of a file system that
		// does not know: data here, the hole at the end.
		a, err := n.ns().Getattr(n.m.call(ctx), n.ino())
		switch {
		case err != nil:
			return 0, n.m.errno("lseek", n.ino(), err)
		case int64(off) >= a.Size:
			return 0, syscall.ENXIO
		case whence == unix.SEEK_DATA:
			return off, 0
		}
		return uint64(a.Size), 0
	}
	at, err := s.SeekData(n.m.call(ctx), int64(off), whence == unix.SEEK_HOLE)
	if err != nil {
		return 0, n.m.errno("lseek", n.ino(), err)
	}
	return uint64(at), 0
}

// CopyFileRange copies within the file system that holds both files
// (sharing their blocks); across file systems it is EXDEV, and the host
// kernel copies itself.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, size uint64, flags uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(*file)
	dst, ok2 := fhOut.(*file)
	if !ok1 || !ok2 {
		return 0, syscall.EBADF
	}
	if flags != 0 {
		return 0, syscall.EINVAL
	}
	rc, ok := dst.h.(kernel.RangeCopier)
	if !ok {
		return 0, syscall.EXDEV
	}
	// A reply counts at most 4 GiB less one byte.
	size = min(size, 1<<31)
	if int64(offIn) < 0 || int64(offOut) < 0 {
		return 0, syscall.EFBIG
	}
	done, err := rc.CopyRange(n.m.call(ctx), in.h, int64(offIn), int64(offOut), int64(size))
	if err != nil && done == 0 {
		return 0, n.m.errno("copy_file_range", dst.ino, err)
	}
	return uint32(done), 0
}

// file is an open file.
type file struct {
	h     kernel.Handle
	m     *Mount
	ino   uint64
	wrote atomic.Bool // something was written through it
}

var (
	_ fs.FileReader   = (*file)(nil)
	_ fs.FileWriter   = (*file)(nil)
	_ fs.FileFlusher  = (*file)(nil)
	_ fs.FileFsyncer  = (*file)(nil)
	_ fs.FileReleaser = (*file)(nil)
)

func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	kctx := f.m.call(ctx)
	if b, ok := f.h.(kernel.Blocking); ok && b.Blocking() {
		// A read that waits (an events file) must end when the reader
		// gives up: the kernel sends an interrupt, which ends ctx.
		var cancel context.CancelFunc
		kctx, cancel = context.WithCancel(kctx)
		defer context.AfterFunc(ctx, cancel)()
		defer cancel()
	}
	n, err := f.h.ReadAt(kctx, dest, off)
	if err != nil {
		return nil, f.m.errno("read", f.ino, err)
	}
	// Never more than asked: more kills the mount (design notes, pitfall 5).
	return fuse.ReadResultData(dest[:min(n, len(dest))]), 0
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	kctx := f.call(ctx)
	if !f.control() {
		if err := f.m.dropSetID(kctx, f.ino, false); err != nil {
			return 0, f.m.errno("write", f.ino, err)
		}
	}
	f.wrote.Store(true)
	n, err := f.h.WriteAt(kctx, data, off)
	if err != nil {
		return uint32(n), f.m.errno("write", f.ino, err)
	}
	f.settle(kctx)
	return uint32(n), 0
}

// control says whether f is a control file: generated content, no set-ID
// bits, and writes that act elsewhere.
func (f *file) control() bool { return directIO(f.h) }

// call is the context of a kernel call on f. A control file's effects
// (a rollback through /deploys/ctl changes /fs) are not changes the host
// kernel saw made: they carry no origin, so this mount's caches hear of
// them too.
func (f *file) call(ctx context.Context) context.Context {
	kctx := f.m.call(ctx)
	if f.control() {
		kctx = kernel.WithOrigin(kctx, nil)
	}
	return kctx
}

// settle makes what a control file's write did visible through the mount
// before the write returns, as the API does for its callers: committed,
// and the kernel's caches told (at most 2 s).
func (f *file) settle(kctx context.Context) {
	if f.control() {
		if err := f.m.k.NS.Settle(kctx); err != nil {
			f.m.log.Warn("mount: a control write's changes did not commit", "ino", f.ino, "err", err)
		}
	}
}

// Flush commits the file's writes; close(2) reports its error. A failed
// commit leaves pages in the kernel's cache that the tree does not have:
// drop them.
func (f *file) Flush(ctx context.Context) syscall.Errno {
	kctx := f.call(ctx)
	err := f.h.Flush(kctx)
	if err != nil {
		f.m.inval.add(kernel.Change{Op: kernel.ContentChanged, Ino: f.ino})
	} else if f.wrote.Load() {
		f.settle(kctx) // a last line without its newline is applied here
	}
	return f.m.errno("flush", f.ino, err)
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	err := f.h.Fsync(f.call(ctx))
	if err != nil {
		f.m.inval.add(kernel.Change{Op: kernel.ContentChanged, Ino: f.ino})
	}
	return f.m.errno("fsync", f.ino, err)
}

func (f *file) Release(ctx context.Context) syscall.Errno {
	err := f.h.Release(f.call(ctx))
	if err != nil {
		f.m.inval.add(kernel.Change{Op: kernel.ContentChanged, Ino: f.ino})
	}
	return f.m.errno("release", f.ino, err)
}
