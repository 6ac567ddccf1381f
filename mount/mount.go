package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options tune a mount.
type Options struct {
	// AllowOther lets other users see the mount; kernel permission checks
	// on the files' modes apply to them.
	AllowOther bool
	// Xattrs turns extended attributes on (user.*: setfattr, rsync -X).
	// Off by default: with them on, ls -l asks two of them per file
	// (security.selinux, system.posix_acl_access), each a round trip.
	Xattrs bool
	// Debug logs every FUSE request.
	Debug bool
}

// Mount is a mounted namespace.
type Mount struct {
	dir    string
	opt    Options
	k      *kernel.Kernel
	log    *slog.Logger
	server *fuse.Server
	root   *node
	conn   string // /sys/fs/fuse/connections/<conn>, to abort a stuck mount

	unsubscribe func()
	inval       *invalidator
	stopOnce    sync.Once
}

// New mounts k's namespace at dir and returns once the mount is usable.
func New(k *kernel.Kernel, dir string, opt Options) (*Mount, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := CleanStale(dir); err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mount point %s is not a directory", dir)
	}
	if mounted, err := IsMountPoint(dir); err != nil {
		return nil, err
	} else if mounted {
		return nil, fmt.Errorf("%s is already a mount point", dir)
	}
	m := &Mount{dir: dir, opt: opt, k: k, log: k.Log}
	m.inval = newInvalidator(m)

	sec := time.Second
	root := &node{m: m}
	opts := &fs.Options{
		EntryTimeout:    &sec,
		AttrTimeout:     &sec,
		NegativeTimeout: &sec,
		NullPermissions: true, // mode 000 stays 000
		ExternalNodeID:  true, // FUSE node ids are the namespace's inode numbers
		RootStableAttr:  &fs.StableAttr{Ino: kernel.RootIno, Mode: syscall.S_IFDIR},
		MountOptions: fuse.MountOptions{
			AllowOther:    opt.AllowOther,
			FsName:        "fazt",
			Name:          "fazt",
			DisableXAttrs: !opt.Xattrs,
			MaxWrite:      1 << 20,
			DirectMount:   os.Geteuid() == 0,
			Debug:         opt.Debug,
			Options:       []string{"default_permissions"},
			// The mount clears set-ID bits itself (mount/xattr.go), so
			// that writes cost no GETXATTR.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_HANDLE_KILLPRIV_V2,
			PanicHandler: func(p any) fuse.Status {
				m.log.Error("panic in a FUSE request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				return fuse.EIO
			},
		},
	}
	server, err := mountRaw(m, dir, root, opts)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	m.server, m.root = server, root
	if err := fuseCloseOnExec(); err != nil {
		m.log.Warn("mount: cannot mark /dev/fuse close-on-exec", "err", err)
	}
	if os.Geteuid() == 0 {
		if err := setReadahead(dir, readaheadKB); err != nil {
			m.log.Warn("mount: cannot widen the readahead window; sequential reads go in 128 KiB requests", "err", err)
		}
	}
	m.conn = connection(dir)
	m.inval.start()
	m.unsubscribe = k.NS.SubscribeSettled(m.inval.add, m.inval.settle)
	return m, nil
}

// Options are the options it was mounted with.
func (m *Mount) Options() Options { return m.opt }

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Unmount detaches the mount. It fails with a Busy error while a process
// uses it, unless lazy is set, in which case the mount point is detached at
// once and the mount goes away when its last user leaves.
func (m *Mount) Unmount(lazy bool) error {
	var err error
	if lazy && os.Geteuid() == 0 {
		err = syscall.Unmount(m.dir, syscall.MNT_DETACH)
	} else {
		err = m.server.Unmount()
	}
	if errors.Is(err, syscall.EBUSY) {
		return kernel.Wrap(kernel.Busy, fmt.Errorf("unmount %s: in use (a process has a file open or its working directory there)", m.dir))
	}
	return err
}

// Wait blocks until the mount is gone, then stops the invalidator.
func (m *Mount) Wait() {
	m.server.Wait()
	m.stopOnce.Do(func() {
		m.unsubscribe()
		m.inval.stop()
	})
}

// Close unmounts for a shutdown that must not hang: if the mount is busy it
// is detached, its users get grace to finish, and then the FUSE connection
// is aborted (their next access fails with ENOTCONN).
func (m *Mount) Close(grace time.Duration) error {
	if err := m.Unmount(false); err != nil {
		if kernel.KindOf(err) != kernel.Busy {
			return err
		}
		if err := Detach(m.dir); err != nil {
			return err
		}
		m.log.Warn("mount busy at shutdown; detached it", "dir", m.dir, "grace", grace)
	}
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	if m.conn != "" {
		if err := os.WriteFile(filepath.Join("/sys/fs/fuse/connections", m.conn, "abort"), []byte("1"), 0); err == nil {
			m.log.Warn("aborted the FUSE connection of a busy mount", "dir", m.dir)
			select {
			case <-done:
				return nil
			case <-time.After(time.Second):
			}
		}
	}
	return fmt.Errorf("mount %s still in use after %v", m.dir, grace)
}

// invalidator sends the FUSE invalidations for changes that did not come
// through the mount, from its own goroutine. Its queue is unbounded: a lost
// invalidation would leave stale data in the page cache for good.
type invalidator struct {
	m *Mount

	mu       sync.Mutex // guards the fields below
	cond     *sync.Cond
	queue    []kernel.Change
	stopped  bool
	added    uint64        // changes queued so far
	applied  uint64        // changes whose invalidations were sent
	progress chan struct{} // closed (and replaced) whenever applied moves
	done     chan struct{}
}

// settleMax bounds how long settle waits: an invalidation can wait on the
// kernel's inode locks, and an answer must not hang on it.
const settleMax = 2 * time.Second

// settle waits until the invalidations of every change queued so far are
// sent (kernel.Namespace.Settle).
func (iv *invalidator) settle(ctx context.Context) {
	timeout := time.NewTimer(settleMax)
	defer timeout.Stop()
	iv.mu.Lock()
	target := iv.added
	for iv.applied < target && !iv.stopped {
		ch := iv.progress
		iv.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timeout.C:
			return
		}
		iv.mu.Lock()
	}
	iv.mu.Unlock()
}

func newInvalidator(m *Mount) *invalidator {
	iv := &invalidator{m: m, done: make(chan struct{}), progress: make(chan struct{})}
	iv.cond = sync.NewCond(&iv.mu)
	return iv
}

func (iv *invalidator) start() { go iv.run() }

func (iv *invalidator) add(c kernel.Change) {
	if c.Origin == kernel.Origin(iv.m) {
		return // the kernel saw it happen
	}
	iv.mu.Lock()
	iv.queue = append(iv.queue, c)
	iv.added++
	iv.mu.Unlock()
	iv.cond.Signal()
}

func (iv *invalidator) stop() {
	iv.mu.Lock()
	iv.stopped = true
	iv.mu.Unlock()
	iv.cond.Signal()
	<-iv.done
}

func (iv *invalidator) run() {
	defer close(iv.done)
	s := iv.m.server
	for {
		iv.mu.Lock()
		for len(iv.queue) == 0 && !iv.stopped {
			iv.cond.Wait()
		}
		if iv.stopped {
			iv.mu.Unlock()
			return
		}
		batch := iv.queue
		iv.queue = nil
		iv.mu.Unlock()
		// ENOENT answers mean the kernel had nothing cached: fine.
		dirs := map[uint64]bool{}
		reloaded := false
		for _, c := range batch {
			switch c.Op {
			case kernel.Reloaded:
				reloaded = true
			case kernel.EntryAdded:
				s.EntryNotify(c.Dir, c.Name)
				dirs[c.Dir] = true
			case kernel.EntryRemoved:
				s.DeleteNotify(c.Dir, c.Ino, c.Name)
				dirs[c.Dir] = true
			case kernel.ContentChanged:
				s.InodeNotify(c.Ino, 0, 0)
			case kernel.AttrChanged:
				s.InodeNotify(c.Ino, -1, 0)
			}
		}
		// A directory's cached listing (FOPEN_CACHE_DIR) is kept in its
		// pages; an entry notification drops it only when the host kernel
		// had looked the name up, so drop the pages of each directory that
		// changed, once per batch.
		for dir := range dirs {
			s.InodeNotify(dir, 0, 0)
		}
		if reloaded {
			iv.m.forgetAll()
		}
		iv.mu.Lock()
		iv.applied += uint64(len(batch))
		close(iv.progress)
		iv.progress = make(chan struct{})
		iv.mu.Unlock()
	}
}

// forgetAll invalidates everything the host kernel may have cached: every
// name and inode the bridge knows (those the host kernel looked up and has
// not forgotten), their attributes, data and listings. For a Reloaded
// change, which does not say what changed; two notifications per inode
// known, once per apply.
func (m *Mount) forgetAll() {
	type name struct {
		dir  uint64
		name string
	}
	var names []name
	var inos []uint64
	seen := map[uint64]bool{}
	var walk func(n *fs.Inode)
	walk = func(n *fs.Inode) {
		ino := n.StableAttr().Ino
		if seen[ino] {
			return // a file with several links
		}
		seen[ino] = true
		inos = append(inos, ino)
		for nm, c := range n.Children() {
			names = append(names, name{ino, nm})
			walk(c)
		}
	}
	walk(m.root.EmbeddedInode())
	for _, e := range names {
		m.server.EntryNotify(e.dir, e.name)
	}
	for _, ino := range inos {
		m.server.InodeNotify(ino, 0, 0)
	}
}

// fuseCloseOnExec marks this process's /dev/fuse descriptors close-on-exec.
// go-fuse opens them without it, so every process this one starts (the
// next kernel of an upgrade, the Litestream child) held the mount's
// connection open: when this kernel died, its mount did not, and a
// successor's statfs of the mount point waited forever for an answer only
// the dead kernel could give.
func fuseCloseOnExec() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || target != "/dev/fuse" {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return err
		}
	}
	return nil
}
