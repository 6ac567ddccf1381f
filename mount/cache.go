package mount

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// How long the host kernel may keep what it learnt of a file. A file system
// that announces every change (kernel.Announcer: /fs) is invalidated by the
// invalidator the moment a change made elsewhere commits, and the host
// kernel sees the mount's own changes happen, so its entries, attributes,
// names known to be missing and directory listings (FOPEN_CACHE_DIR) may
// stay cached until a change says otherwise; the hour only bounds the harm
// of a change that was never announced. Everything else (the control
// trees, whose files change with the clock) keeps one second.
const (
	announcedTimeout = time.Hour
	defaultTimeout   = time.Second
)

// timeout is how long the host kernel may cache what it read of ino.
func (m *Mount) timeout(ino uint64) time.Duration {
	if m.k.NS.Announced(ino) {
		return announcedTimeout
	}
	return defaultTimeout
}

// rawFS is go-fuse's bridge with one change: a name missing from an
// announced directory is cached as missing for announcedTimeout (go-fuse
// gives every negative entry the one NegativeTimeout of its options).
type rawFS struct {
	fuse.RawFileSystem
	m *Mount
}

func (r rawFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	st := r.RawFileSystem.Lookup(cancel, h, name, out)
	if st == fuse.OK && out.NodeId == 0 && r.m.k.NS.Announced(h.NodeId) {
		out.SetEntryTimeout(announcedTimeout)
	}
	return st
}

// mountRaw is fs.Mount with rawFS in place of the bridge.
func mountRaw(m *Mount, dir string, root fs.InodeEmbedder, opts *fs.Options) (*fuse.Server, error) {
	server, err := fuse.NewServer(rawFS{fs.NewNodeFS(root, opts), m}, dir, &opts.MountOptions)
	if err != nil {
		return nil, err
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		return nil, err
	}
	return server, nil
}

// OpendirHandle opens a directory; the listing of an announced one is kept
// by the host kernel (FOPEN_CACHE_DIR) until the directory changes: the
// host kernel drops it itself for the mount's own changes, the invalidator
// for the others. The listing is read at the first READDIR, so opening a
// directory whose listing is cached asks the namespace nothing.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	d := &dirHandle{n: n}
	if n.m.k.NS.Announced(n.ino()) {
		return d, fuse.FOPEN_CACHE_DIR, 0
	}
	return d, 0, 0
}

// dirHandle is an open directory: its listing, read on first use.
type dirHandle struct {
	n  *node
	ds fs.DirStream // nil until the first READDIR
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

func (d *dirHandle) stream(ctx context.Context) syscall.Errno {
	if d.ds != nil {
		return 0
	}
	ds, errno := d.n.Readdir(ctx)
	if errno != 0 {
		return errno
	}
	d.ds = ds
	return 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := d.stream(ctx); errno != 0 {
		return nil, errno
	}
	if !d.ds.HasNext() {
		return nil, 0
	}
	e, errno := d.ds.Next()
	return &e, errno
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := d.stream(ctx); errno != 0 {
		return errno
	}
	if s, ok := d.ds.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if d.ds != nil {
		d.ds.Close()
	}
}
