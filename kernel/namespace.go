package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"time"
)

// RootIno is the inode number of the namespace root.
const RootIno = 1

// Inode numbers in the namespace are the local inode number of a bound file
// system with the binding's device number in the top 16 bits. Device 0 is the
// namespace itself, whose only inode is the root.
const (
	devShift  = 48
	localMask = 1<<devShift - 1
)

// Namespace binds file systems at names under one root directory, the way
// Plan 9 binds devices, and routes inode-based calls to them. The FUSE front
// end serves a Namespace directly; FS offers path-based calls on top of it.
type Namespace struct {
	// Log receives the panics of bound file systems, with their stacks
	// (kernel.New sets it).
	Log *slog.Logger

	created time.Time
	uid     uint32
	gid     uint32

	mu      sync.RWMutex // guards the fields below
	byName  map[string]*binding
	byDev   []*binding // index dev-1
	subs    map[int]func(Change)
	settle  map[int]func(context.Context) // by subscription: waits until its changes so far were acted on
	nextSub int
}

type binding struct {
	name string
	dev  uint64
	fs   FileSystem
	w    Writer // nil for read-only file systems
	mode uint32 // file type of the bound root: a directory, or a file (/README)

	announced bool // fs is an Announcer
}

// NewNamespace returns an empty namespace whose root belongs to this process.
func NewNamespace() *Namespace {
	return &Namespace{
		created: time.Now(),
		uid:     uint32(os.Getuid()),
		gid:     uint32(os.Getgid()),
		byName:  make(map[string]*binding),
		subs:    make(map[int]func(Change)),
		settle:  make(map[int]func(context.Context)),
	}
}

// Bind makes fsys appear as the directory /name. Binding happens during
// start-up, before any front end serves the namespace.
func (ns *Namespace) Bind(name string, fsys FileSystem) error {
	if err := ValidName(name); err != nil {
		return At("bind", "/"+name, err)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if _, ok := ns.byName[name]; ok {
		return At("bind", "/"+name, E(Exist, "already bound"))
	}
	if len(ns.byDev)+1 >= 1<<(64-devShift) {
		return At("bind", "/"+name, E(NoSpace, "too many bindings"))
	}
	b := &binding{name: name, dev: uint64(len(ns.byDev) + 1), fs: fsys, mode: syscall.S_IFDIR}
	if a, err := fsys.Getattr(context.Background(), fsys.Root()); err == nil {
		b.mode = a.Mode & syscall.S_IFMT
	}
	b.w, _ = fsys.(Writer)
	_, b.announced = fsys.(Announcer)
	ns.byName[name] = b
	ns.byDev = append(ns.byDev, b)
	if n, ok := fsys.(Notifier); ok {
		n.SetNotify(func(c Change) {
			c.Ino = b.global(c.Ino)
			if c.Dir != 0 {
				c.Dir = b.global(c.Dir)
			}
			ns.publish(c)
		})
	}
	return nil
}

// Bound is the file system bound at /name, or nil.
func (ns *Namespace) Bound(name string) FileSystem {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if b := ns.byName[name]; b != nil {
		return b.fs
	}
	return nil
}

// Announced reports whether every change to the inode ino is announced to
// subscribers (its file system is an Announcer), so what was read of it
// stays true until a change says otherwise.
func (ns *Namespace) Announced(ino uint64) bool {
	b, _, err := ns.resolve(ino)
	return err == nil && b.announced
}

// Subscribe calls fn for every change committed in any bound file system,
// until cancel is called. fn runs in the goroutine that made the change and
// must not block.
func (ns *Namespace) Subscribe(fn func(Change)) (cancel func()) {
	return ns.SubscribeSettled(fn, nil)
}

// SubscribeSettled is Subscribe for a subscriber that acts on changes
// later, in a goroutine of its own (the mount's cache invalidations):
// settle waits until it has acted on every change it was given so far.
// Settle calls it.
func (ns *Namespace) SubscribeSettled(fn func(Change), settle func(context.Context)) (cancel func()) {
	ns.mu.Lock()
	id := ns.nextSub
	ns.nextSub++
	ns.subs[id] = fn
	if settle != nil {
		ns.settle[id] = settle
	}
	ns.mu.Unlock()
	return func() {
		ns.mu.Lock()
		delete(ns.subs, id)
		delete(ns.settle, id)
		ns.mu.Unlock()
	}
}

// Settle waits until every subscriber has acted on the changes published
// so far, or ctx ends: a front end that answers a change made through it
// (the API) calls it first, so that whoever looks through another front
// end (the mount) after the answer sees the change.
//
// File systems that commit changes in batches (Committer) commit first:
// their changes reach subscribers, and readers of committed state, only
// then. A commit that fails is returned: the change the caller was about
// to acknowledge is lost.
func (ns *Namespace) Settle(ctx context.Context) error {
	ns.mu.RLock()
	var commit []Committer
	for _, b := range ns.byDev {
		if c, ok := b.fs.(Committer); ok {
			commit = append(commit, c)
		}
	}
	fns := make([]func(context.Context), 0, len(ns.settle))
	for _, fn := range ns.settle {
		fns = append(fns, fn)
	}
	ns.mu.RUnlock()
	var err error
	for _, c := range commit {
		if cerr := c.Commit(ctx); err == nil {
			err = cerr
		}
	}
	for _, fn := range fns {
		fn(ctx)
	}
	return err
}

// Committer is implemented by file systems that commit their changes in
// batches: Commit commits what is pending now.
type Committer interface {
	Commit(ctx context.Context) error
}

func (ns *Namespace) publish(c Change) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	for _, fn := range ns.subs {
		fn(c)
	}
}

func (b *binding) global(local uint64) uint64 { return b.dev<<devShift | local }

// resolve finds the binding of a global inode number and its local number.
func (ns *Namespace) resolve(ino uint64) (*binding, uint64, error) {
	dev := ino >> devShift
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	if dev == 0 || dev > uint64(len(ns.byDev)) {
		return nil, 0, E(NotExist, fmt.Sprintf("no inode %d", ino))
	}
	return ns.byDev[dev-1], ino & localMask, nil
}

func (b *binding) attr(a Attr, err error) (Attr, error) {
	if err != nil {
		return Attr{}, err
	}
	if a.Ino > localMask {
		return Attr{}, fmt.Errorf("inode number %d of /%s out of range", a.Ino, b.name)
	}
	a.Ino = b.global(a.Ino)
	return a, nil
}

func (ns *Namespace) rootAttr() Attr {
	ns.mu.RLock()
	n := 0
	for _, b := range ns.byDev {
		if b.mode == syscall.S_IFDIR {
			n++
		}
	}
	ns.mu.RUnlock()
	return Attr{
		Ino:   RootIno,
		Mode:  syscall.S_IFDIR | 0o555,
		Nlink: uint32(2 + n),
		UID:   ns.uid,
		GID:   ns.gid,
		Size:  4096,
		Atime: ns.created, Mtime: ns.created, Ctime: ns.created,
	}
}

// Getattr returns the attributes of a global inode.
func (ns *Namespace) Getattr(ctx context.Context, ino uint64) (_ Attr, err error) {
	defer ns.recovered("getattr", &err)
	if ino == RootIno {
		return ns.rootAttr(), nil
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return Attr{}, err
	}
	return b.attr(b.fs.Getattr(ctx, local))
}

// Lookup finds name in directory dir.
func (ns *Namespace) Lookup(ctx context.Context, dir uint64, name string) (_ Attr, err error) {
	defer ns.recovered("lookup", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	if dir == RootIno {
		ns.mu.RLock()
		b := ns.byName[name]
		ns.mu.RUnlock()
		if b == nil {
			return Attr{}, E(NotExist, "no such file or directory")
		}
		return b.attr(b.fs.Getattr(ctx, b.fs.Root()))
	}
	b, local, err := ns.resolve(dir)
	if err != nil {
		return Attr{}, err
	}
	return b.attr(b.fs.Lookup(ctx, local, name))
}

// ReadDir lists directory dir, sorted by name.
func (ns *Namespace) ReadDir(ctx context.Context, dir uint64) (_ []DirEntry, err error) {
	defer ns.recovered("readdir", &err)
	if dir == RootIno {
		ns.mu.RLock()
		defer ns.mu.RUnlock()
		out := make([]DirEntry, 0, len(ns.byDev))
		for _, b := range ns.byDev {
			out = append(out, DirEntry{Name: b.name, Ino: b.global(b.fs.Root()), Mode: b.mode})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	b, local, err := ns.resolve(dir)
	if err != nil {
		return nil, err
	}
	ents, err := b.fs.ReadDir(ctx, local)
	if err != nil {
		return nil, err
	}
	for i := range ents {
		ents[i].Ino = b.global(ents[i].Ino)
	}
	return ents, nil
}

// Open opens a file (not a directory).
func (ns *Namespace) Open(ctx context.Context, ino uint64, flags int) (_ Handle, err error) {
	defer ns.recovered("open", &err)
	if ino == RootIno {
		return nil, E(IsDir, "is a directory")
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return nil, err
	}
	// Whether a file takes writes is the file system's call: synthetic
	// trees have writable files without implementing Writer.
	return b.fs.Open(ctx, local, flags)
}

// Snapshot returns the committed content of a file as one consistent read,
// or NotSupported if its file system cannot.
func (ns *Namespace) Snapshot(ctx context.Context, ino uint64) (_ []byte, err error) {
	defer ns.recovered("snapshot", &err)
	if ino == RootIno {
		return nil, E(IsDir, "is a directory")
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return nil, err
	}
	s, ok := b.fs.(Snapshotter)
	if !ok {
		return nil, E(NotSupported, "no snapshots")
	}
	return s.Snapshot(ctx, local)
}

// Readlink returns the target of a symbolic link.
func (ns *Namespace) Readlink(ctx context.Context, ino uint64) (_ string, err error) {
	defer ns.recovered("readlink", &err)
	if ino == RootIno {
		return "", E(Invalid, "not a symbolic link")
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return "", err
	}
	return b.fs.Readlink(ctx, local)
}

// Statfs describes the space behind inode ino. A file system with no space
// of its own (a tree of control files, the root) reports the space of the
// first binding that has some: the disk that holds the data, as df expects
// of any path in the mount.
func (ns *Namespace) Statfs(ctx context.Context, ino uint64) (_ Statfs, err error) {
	defer ns.recovered("statfs", &err)
	if ino != RootIno {
		b, _, err := ns.resolve(ino)
		if err != nil {
			return Statfs{}, err
		}
		if s, err := b.fs.Statfs(ctx); err != nil || s.Blocks > 0 {
			return s, err
		}
	}
	ns.mu.RLock()
	bs := append([]*binding(nil), ns.byDev...)
	ns.mu.RUnlock()
	for _, b := range bs {
		if s, err := b.fs.Statfs(ctx); err != nil || s.Blocks > 0 {
			return s, err
		}
	}
	return Statfs{Bsize: 4096, NameMax: MaxName}, nil
}

// Sync makes every change so far to the file system of ino durable (fsync
// of a directory). One that keeps nothing has nothing to do.
func (ns *Namespace) Sync(ctx context.Context, ino uint64) (err error) {
	defer ns.recovered("sync", &err)
	if ino == RootIno {
		return nil
	}
	b, _, err := ns.resolve(ino)
	if err != nil {
		return err
	}
	if s, ok := b.fs.(Syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}

// writer finds the binding and local inode of dir for a change. The root
// and read-only file systems refuse changes.
func (ns *Namespace) writer(ino uint64) (*binding, uint64, error) {
	if ino == RootIno {
		return nil, 0, E(NotPermitted, "the namespace root is fixed")
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return nil, 0, err
	}
	if b.w == nil {
		return nil, 0, E(ReadOnly, "read-only file system")
	}
	return b, local, nil
}

// Create makes and opens a regular file.
func (ns *Namespace) Create(ctx context.Context, dir uint64, name string, flags int, mode uint32) (_ Attr, _ Handle, err error) {
	defer ns.recovered("create", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, nil, err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, nil, err
	}
	a, h, err := b.w.Create(ctx, local, name, flags, mode, CredFrom(ctx))
	a, err = b.attr(a, err)
	if err != nil && h != nil {
		h.Release(ctx)
		h = nil
	}
	return a, h, err
}

// Mkdir makes a directory.
func (ns *Namespace) Mkdir(ctx context.Context, dir uint64, name string, mode uint32) (_ Attr, err error) {
	defer ns.recovered("mkdir", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, err
	}
	return b.attr(b.w.Mkdir(ctx, local, name, mode, CredFrom(ctx)))
}

// Symlink makes a symbolic link to target.
func (ns *Namespace) Symlink(ctx context.Context, dir uint64, name, target string) (_ Attr, err error) {
	defer ns.recovered("symlink", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, err
	}
	return b.attr(b.w.Symlink(ctx, local, name, target, CredFrom(ctx)))
}

// xattrs finds the binding of ino and its local inode, and whether it keeps
// extended attributes; write says the call changes them.
func (ns *Namespace) xattrs(ino uint64, write bool) (Xattrs, uint64, error) {
	if ino == RootIno {
		if write {
			return nil, 0, E(NotSupported, "the namespace root keeps no extended attributes")
		}
		return nil, 0, nil
	}
	b, local, err := ns.resolve(ino)
	if err != nil {
		return nil, 0, err
	}
	x, _ := b.fs.(Xattrs)
	switch {
	case write && b.w == nil:
		return nil, 0, E(ReadOnly, "read-only file system")
	case write && x == nil:
		return nil, 0, E(NotSupported, "this file system keeps no extended attributes")
	}
	return x, local, nil
}

// Getxattr reads an extended attribute of ino.
func (ns *Namespace) Getxattr(ctx context.Context, ino uint64, name string) (_ []byte, err error) {
	defer ns.recovered("getxattr", &err)
	x, local, err := ns.xattrs(ino, false)
	switch {
	case err != nil:
		return nil, err
	case x == nil:
		return nil, E(NoAttr, "no such attribute")
	}
	return x.Getxattr(ctx, local, name)
}

// Listxattr names the extended attributes of ino.
func (ns *Namespace) Listxattr(ctx context.Context, ino uint64) (_ []string, err error) {
	defer ns.recovered("listxattr", &err)
	x, local, err := ns.xattrs(ino, false)
	if err != nil || x == nil {
		return nil, err
	}
	return x.Listxattr(ctx, local)
}

// Setxattr sets an extended attribute of ino.
func (ns *Namespace) Setxattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) (err error) {
	defer ns.recovered("setxattr", &err)
	x, local, err := ns.xattrs(ino, true)
	if err != nil {
		return err
	}
	return x.Setxattr(ctx, local, name, value, flags)
}

// Removexattr removes an extended attribute of ino.
func (ns *Namespace) Removexattr(ctx context.Context, ino uint64, name string) (err error) {
	defer ns.recovered("removexattr", &err)
	x, local, err := ns.xattrs(ino, true)
	if err != nil {
		return err
	}
	return x.Removexattr(ctx, local, name)
}

// Mknod makes a special file: a FIFO, a socket or a device.
func (ns *Namespace) Mknod(ctx context.Context, dir uint64, name string, mode, rdev uint32) (_ Attr, err error) {
	defer ns.recovered("mknod", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	if !IsSpecialMode(mode) {
		return Attr{}, E(Invalid, "mknod makes FIFOs, sockets and devices")
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, err
	}
	m, ok := b.w.(NodeMaker)
	if !ok {
		return Attr{}, E(NotPermitted, "this file system keeps no special files")
	}
	return b.attr(m.Mknod(ctx, local, name, mode, rdev, CredFrom(ctx)))
}

// Link makes a new name for ino in dir.
func (ns *Namespace) Link(ctx context.Context, ino, dir uint64, name string) (_ Attr, err error) {
	defer ns.recovered("link", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, err
	}
	if ino>>devShift != b.dev {
		return Attr{}, E(CrossDevice, "link across file systems")
	}
	return b.attr(b.w.Link(ctx, ino&localMask, local, name))
}

// Unlink removes a name that is not a directory.
func (ns *Namespace) Unlink(ctx context.Context, dir uint64, name string) (err error) {
	defer ns.recovered("unlink", &err)
	if err := ValidName(name); err != nil {
		return err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return err
	}
	return b.w.Unlink(ctx, local, name)
}

// Rmdir removes an empty directory.
func (ns *Namespace) Rmdir(ctx context.Context, dir uint64, name string) (err error) {
	defer ns.recovered("rmdir", &err)
	if err := ValidName(name); err != nil {
		return err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return err
	}
	return b.w.Rmdir(ctx, local, name)
}

// Rename moves olddir/oldname to newdir/newname.
func (ns *Namespace) Rename(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string, flags uint32) (err error) {
	defer ns.recovered("rename", &err)
	if err := ValidName(oldname); err != nil {
		return err
	}
	if err := ValidName(newname); err != nil {
		return err
	}
	b, local, err := ns.writer(olddir)
	if err != nil {
		return err
	}
	if newdir>>devShift != b.dev {
		if newdir == RootIno {
			return E(NotPermitted, "the namespace root is fixed")
		}
		return E(CrossDevice, "rename across file systems")
	}
	return b.w.Rename(ctx, local, oldname, newdir&localMask, newname, flags)
}

// Clone copies ino (and everything below it) to dir/name by reference.
func (ns *Namespace) Clone(ctx context.Context, ino, dir uint64, name string) (_ Attr, err error) {
	defer ns.recovered("clone", &err)
	if err := ValidName(name); err != nil {
		return Attr{}, err
	}
	b, local, err := ns.writer(dir)
	if err != nil {
		return Attr{}, err
	}
	if ino>>devShift != b.dev {
		return Attr{}, E(CrossDevice, "clone across file systems")
	}
	c, ok := b.w.(Cloner)
	if !ok {
		return Attr{}, E(NotSupported, "this file system cannot clone")
	}
	return b.attr(c.Clone(ctx, ino&localMask, local, name, CredFrom(ctx)))
}

// WriteFiles makes files in one change of their file system (see
// FilesWriter); they must all be on the same one. failed is the index of
// the file an error concerns, -1 if none.
func (ns *Namespace) WriteFiles(ctx context.Context, files []FileAt) (failed int, err error) {
	defer ns.recovered("writefiles", &err)
	if len(files) == 0 {
		return -1, nil
	}
	local := make([]FileAt, len(files))
	var b *binding
	for i, f := range files {
		if err := ValidName(f.Name); err != nil {
			return i, err
		}
		fb, dir, err := ns.writer(f.Dir)
		if err != nil {
			return i, err
		}
		if b == nil {
			b = fb
		} else if fb != b {
			return i, E(CrossDevice, "files of one write on different file systems")
		}
		local[i] = f
		local[i].Dir = dir
		if f.From != 0 {
			if f.From>>devShift != b.dev {
				return i, E(CrossDevice, "content shared across file systems")
			}
			local[i].From = f.From & localMask
		}
	}
	fw, ok := b.w.(FilesWriter)
	if !ok {
		return -1, E(NotSupported, "this file system cannot write many files at once")
	}
	return fw.WriteFiles(ctx, local, CredFrom(ctx))
}

// Digest returns the content digest of the regular file ino.
func (ns *Namespace) Digest(ctx context.Context, ino uint64) (_ []byte, err error) {
	defer ns.recovered("digest", &err)
	d, local, err := ns.digester(ino)
	if err != nil {
		return nil, err
	}
	return d.Digest(ctx, local)
}

// digester is the Digester that holds ino, and ino's local number.
func (ns *Namespace) digester(ino uint64) (Digester, uint64, error) {
	b, local, err := ns.resolve(ino)
	if err != nil {
		return nil, 0, err
	}
	d, ok := b.fs.(Digester)
	if !ok {
		return nil, 0, E(NotSupported, "this file system has no digests")
	}
	return d, local, nil
}

// Manifest lists the tree below dir with digests, or NotSupported.
func (ns *Namespace) Manifest(ctx context.Context, dir uint64, skip []string) (_ []ManifestEntry, err error) {
	defer ns.recovered("manifest", &err)
	b, local, err := ns.resolve(dir)
	if err != nil {
		return nil, err
	}
	m, ok := b.fs.(Manifester)
	if !ok {
		return nil, E(NotSupported, "this file system has no manifests")
	}
	return m.Manifest(ctx, local, skip)
}

// DigestBlockSize is the block size of the digests of ino's file system.
func (ns *Namespace) DigestBlockSize(ino uint64) (int64, error) {
	d, _, err := ns.digester(ino)
	if err != nil {
		return 0, err
	}
	return d.BlockSize(), nil
}

// Setattr changes the attributes of ino. File systems without Writer
// refuse with Permission: their files' attributes are fixed.
func (ns *Namespace) Setattr(ctx context.Context, ino uint64, set SetAttr) (_ Attr, err error) {
	defer ns.recovered("setattr", &err)
	b, local, err := ns.writer(ino)
	if KindOf(err) == ReadOnly {
		return Attr{}, E(Permission, "attributes of this file cannot be changed")
	}
	if err != nil {
		return Attr{}, err
	}
	return b.attr(b.w.Setattr(ctx, local, set))
}

// ValidName checks one path component: not empty, not "." or "..", no '/'
// or NUL, at most MaxName bytes.
func ValidName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return E(Invalid, fmt.Sprintf("invalid name %q", name))
	case len(name) > MaxName:
		return E(NameTooLong, fmt.Sprintf("file name too long (%d bytes; the limit is %d)", len(name), MaxName))
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return E(Invalid, fmt.Sprintf("invalid name %q: contains '/' or NUL", name))
		}
	}
	return nil
}

// recovered turns a panic of a bound file system into an Internal error,
// logged with its stack: one bad call must not take the kernel down.
func (ns *Namespace) recovered(op string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	log := ns.Log
	if log == nil {
		log = slog.Default()
	}
	log.Error("panic in a file system call", "op", op, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	*err = E(Internal, fmt.Sprintf("internal error in %s (logged)", op))
}
