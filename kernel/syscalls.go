package kernel

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// FS offers the namespace as path-based calls, the "syscalls" that the CLI,
// the APIs and the servers use. Paths are absolute and cleaned lexically.
// Errors are *Error values naming the operation and the path.
//
// Every call is made by the caller of its context (CallerFrom) and checked
// here, on the paths as resolved (walk): looking at a path needs Traverse,
// reading a file or a link Read, and every change Write at each entry it
// touches (both ends of a rename, link, clone or exchange; a hard link's
// source too, since the new name changes the same file).
type FS struct {
	ns     *Namespace
	events *Events // nil: changes are not announced
}

// announce publishes a change made through these calls. The subsystem is
// the first component of the path ("fs" for /fs/...).
func (f *FS) announce(what string, paths ...string) {
	if f.events == nil || len(paths) == 0 {
		return
	}
	sub, _, _ := strings.Cut(strings.TrimPrefix(paths[0], "/"), "/")
	f.events.Publish(sub, what, paths...)
}

// NewFS returns the path-based calls for ns.
func NewFS(ns *Namespace) *FS { return &FS{ns: ns} }

// perm is the permission bits a caller may set: remote callers cannot
// make setuid or setgid files.
func perm(ctx context.Context, mode uint32) uint32 {
	mode &= 0o7777
	if CallerFrom(ctx).Remote {
		mode &^= 0o6000
	}
	return mode
}

// Stat returns the attributes of the file at p, following symbolic links.
func (f *FS) Stat(ctx context.Context, p string) (Attr, error) {
	a, _, err := f.stat(ctx, p, true)
	return a, At("stat", p, err)
}

// Lstat is Stat without following a final symbolic link.
func (f *FS) Lstat(ctx context.Context, p string) (Attr, error) {
	a, _, err := f.stat(ctx, p, false)
	return a, At("lstat", p, err)
}

// Access checks that the caller of ctx has want at p, as access(2) does:
// at the file p resolves to or, when p does not exist, at the entry it
// would be made as.
func (f *FS) Access(ctx context.Context, p string, want Level) error {
	_, rp, err := f.stat(ctx, p, true)
	if KindOf(err) == NotExist {
		var cp string
		if cp, err = CleanPath(p); err == nil {
			_, _, _, err = f.ns.walkParent(ctx, cp, want)
		}
		return At("access", p, err)
	}
	if err == nil {
		err = need(ctx, rp, want)
	}
	return At("access", p, err)
}

func (f *FS) stat(ctx context.Context, p string, follow bool) (Attr, string, error) {
	p, err := CleanPath(p)
	if err != nil {
		return Attr{}, "", err
	}
	return f.ns.walk(ctx, p, follow)
}

// statNeed is stat, then a check that the caller has want there.
func (f *FS) statNeed(ctx context.Context, p string, follow bool, want Level) (Attr, string, error) {
	a, rp, err := f.stat(ctx, p, follow)
	if err == nil {
		err = need(ctx, rp, want)
	}
	return a, rp, err
}

// entry resolves the directory of p's last component and checks that the
// caller has want at the entry: what a call that makes or removes a name
// does first.
func (f *FS) entry(ctx context.Context, p string, want Level) (Attr, string, string, error) {
	p, err := CleanPath(p)
	if err != nil {
		return Attr{}, "", "", err
	}
	return f.ns.walkParent(ctx, p, want)
}

// visible leaves out of a listing of the directory at the resolved path
// dir the entries that the caller of ctx may not see.
func visible(ctx context.Context, dir string, ents []DirEntry) []DirEntry {
	c := CallerFrom(ctx)
	if c.IsOwner() {
		return ents
	}
	out := ents[:0:0]
	for _, e := range ents {
		if c.Level(path.Join(dir, e.Name)) != None {
			out = append(out, e)
		}
	}
	return out
}

// ReadDir lists the directory at p, sorted by name.
func (f *FS) ReadDir(ctx context.Context, p string) ([]DirEntry, error) {
	ents, err := f.readDir(ctx, p)
	return ents, At("readdir", p, err)
}

func (f *FS) readDir(ctx context.Context, p string) ([]DirEntry, error) {
	a, rp, err := f.stat(ctx, p, true)
	if err != nil {
		return nil, err
	}
	if !a.IsDir() {
		return nil, E(NotDir, "not a directory")
	}
	ents, err := f.ns.ReadDir(ctx, a.Ino)
	return visible(ctx, rp, ents), err
}

// Open opens the file at p. flags are the os.O_* flags; perm is used when
// OCreate makes a new file.
func (f *FS) Open(ctx context.Context, p string, flags int, perm uint32) (*File, error) {
	fl, err := f.open(ctx, p, flags, perm)
	return fl, At("open", p, err)
}

func (f *FS) open(ctx context.Context, p string, flags int, mode uint32) (*File, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	a, rp, err := f.ns.walk(ctx, p, true)
	switch {
	case err == nil && flags&OCreate != 0 && flags&OExcl != 0:
		return nil, E(Exist, "file exists")
	case err == nil:
		want := Write
		switch {
		case flags&OAccess != ORdonly || flags&OTrunc != 0:
		case a.IsDir():
			want = Traverse // listed: ReadDir leaves out what the caller may not see
		default:
			want = Read
		}
		if err := need(ctx, rp, want); err != nil {
			return nil, err
		}
		if a.IsDir() {
			if flags&OAccess != ORdonly {
				return nil, E(IsDir, "is a directory")
			}
			return &File{fs: f, path: p, real: rp, opened: context.WithoutCancel(ctx), attr: a}, nil
		}
		h, err := f.ns.Open(ctx, a.Ino, flags)
		if err != nil {
			return nil, err
		}
		return &File{fs: f, path: p, real: rp, opened: context.WithoutCancel(ctx), attr: a, h: h, append: flags&OAppend != 0, wrote: flags&OTrunc != 0}, nil
	case KindOf(err) == NotExist && flags&OCreate != 0:
		dir, rp, name, err := f.ns.walkParent(ctx, p, Write)
		if err != nil {
			return nil, err
		}
		a, h, err := f.ns.Create(ctx, dir.Ino, name, flags, perm(ctx, mode))
		if err != nil {
			return nil, err
		}
		return &File{fs: f, path: p, real: rp, opened: context.WithoutCancel(ctx), attr: a, h: h, append: flags&OAppend != 0, created: true}, nil
	default:
		return nil, err
	}
}

// ReadFile returns the content of the file at p. Where the file system
// supports it, that is the committed content, read as one snapshot: a write
// in progress is never seen half done.
func (f *FS) ReadFile(ctx context.Context, p string) ([]byte, error) {
	a, _, err := f.statNeed(ctx, p, true, Read)
	if err != nil {
		return nil, At("open", p, err)
	}
	if a.IsDir() {
		return nil, At("read", p, E(IsDir, "is a directory"))
	}
	b, err := f.ns.Snapshot(ctx, a.Ino)
	if KindOf(err) != NotSupported {
		return b, At("read", p, err)
	}
	fl, err := f.Open(ctx, p, ORdonly, 0)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	if fl.attr.IsDir() {
		return nil, At("read", p, E(IsDir, "is a directory"))
	}
	return io.ReadAll(fl.Reader(ctx))
}

// WriteFile replaces the content of the file at p with data, creating it
// with perm if needed. Readers see the old or the new content, never a mix.
func (f *FS) WriteFile(ctx context.Context, p string, data []byte, perm uint32) error {
	fl, err := f.Open(ctx, p, OWronly|OCreate|OTrunc, perm)
	if err != nil {
		return err
	}
	if _, err := fl.WriteAt(ctx, data, 0); err != nil {
		fl.Close()
		return err
	}
	return fl.Close()
}

// NewFile is one file of WriteFiles: Path gets Data, or with From the
// content of the regular file From, shared as a clone shares it.
type NewFile struct {
	Path string
	Mode uint32 // permission bits
	Data []byte
	From string
}

// MaxWriteFiles bounds the bytes of one WriteFiles: it is one transaction,
// held in memory.
const MaxWriteFiles = 16 << 20

// WriteFiles writes many files at once: each replaces what is at its path
// (not a directory), and readers see all of them or none. Their
// directories must exist. A file with From shares that file's content
// (nothing is copied), as Clone does; the caller needs Read there. Where
// the file system can (FilesWriter) it is one change, much cheaper than a
// create, write and close per file; elsewhere the files are written one by
// one.
func (f *FS) WriteFiles(ctx context.Context, files []NewFile) error {
	var total int64
	for _, nf := range files {
		total += int64(len(nf.Data))
	}
	if total > MaxWriteFiles {
		return At("write", "/", E(TooLarge, fmt.Sprintf("over %d bytes in one write of many files", MaxWriteFiles)))
	}
	at := make([]FileAt, len(files))
	real := make([]string, len(files))
	type dirAt struct {
		a  Attr
		rp string
	}
	dirs := map[string]dirAt{} // each directory is walked once
	for i, nf := range files {
		p, err := CleanPath(nf.Path)
		if err != nil {
			return At("write", nf.Path, err)
		}
		if p == "/" {
			return At("write", p, E(NotPermitted, "the namespace root is fixed"))
		}
		dir, name := path.Split(p)
		d, ok := dirs[dir]
		if !ok {
			if d.a, d.rp, err = f.ns.walkDir(ctx, dir); err != nil {
				return At("write", p, err)
			}
			dirs[dir] = d
		}
		real[i] = path.Join(d.rp, name)
		if err := need(ctx, real[i], Write); err != nil {
			return At("write", p, err)
		}
		at[i] = FileAt{Dir: d.a.Ino, Name: name, Mode: perm(ctx, nf.Mode), Data: nf.Data}
		if nf.From != "" {
			src, _, err := f.statNeed(ctx, nf.From, false, Read)
			if err != nil {
				return At("write", nf.From, err)
			}
			if !src.IsRegular() {
				return At("write", nf.From, E(Invalid, "not a regular file"))
			}
			at[i].From, at[i].Data = src.Ino, nil
		}
	}
	failed, err := f.ns.WriteFiles(ctx, at)
	if KindOf(err) == NotSupported {
		for _, nf := range files {
			if nf.From == "" {
				err = f.WriteFile(ctx, nf.Path, nf.Data, nf.Mode)
			} else if err = f.Remove(ctx, nf.Path); err == nil || KindOf(err) == NotExist {
				err = f.Clone(ctx, nf.From, nf.Path)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		if failed >= 0 && failed < len(files) {
			return At("write", files[failed].Path, err)
		}
		return At("write", "/", err)
	}
	for _, rp := range real {
		f.announce("write", rp)
	}
	return nil
}

// Mkdir makes the directory p.
func (f *FS) Mkdir(ctx context.Context, p string, perm uint32) error {
	rp, err := f.mkdir(ctx, p, perm)
	if err == nil {
		f.announce("mkdir", rp)
	}
	return At("mkdir", p, err)
}

func (f *FS) mkdir(ctx context.Context, p string, mode uint32) (string, error) {
	dir, rp, name, err := f.entry(ctx, p, Write)
	if err != nil {
		return "", err
	}
	_, err = f.ns.Mkdir(ctx, dir.Ino, name, perm(ctx, mode))
	return rp, err
}

// MkdirAll makes p and any missing parents.
func (f *FS) MkdirAll(ctx context.Context, p string, perm uint32) error {
	p, err := CleanPath(p)
	if err != nil {
		return At("mkdir", p, err)
	}
	a, _, err := f.ns.walk(ctx, p, true)
	if err == nil {
		if !a.IsDir() {
			return At("mkdir", p, E(NotDir, "not a directory"))
		}
		return nil
	}
	if KindOf(err) != NotExist {
		return At("mkdir", p, err)
	}
	if err := f.MkdirAll(ctx, path.Dir(p), perm); err != nil {
		return err
	}
	rp, err := f.mkdir(ctx, p, perm)
	if err != nil {
		if KindOf(err) != Exist {
			return At("mkdir", p, err)
		}
		return nil
	}
	f.announce("mkdir", rp)
	return nil
}

// Remove removes the file or empty directory p.
func (f *FS) Remove(ctx context.Context, p string) error {
	rp, err := f.remove(ctx, p)
	if err == nil {
		f.announce("remove", rp)
	}
	return At("remove", p, err)
}

func (f *FS) remove(ctx context.Context, p string) (string, error) {
	dir, rp, name, err := f.entry(ctx, p, Write)
	if err != nil {
		return "", err
	}
	a, err := f.ns.Lookup(ctx, dir.Ino, name)
	if err != nil {
		return "", err
	}
	if a.IsDir() {
		return rp, f.ns.Rmdir(ctx, dir.Ino, name)
	}
	return rp, f.ns.Unlink(ctx, dir.Ino, name)
}

// RemoveAll removes p and everything below it. A missing p is not an error.
func (f *FS) RemoveAll(ctx context.Context, p string) error {
	a, err := f.Lstat(ctx, p)
	if KindOf(err) == NotExist {
		return nil
	}
	if err != nil {
		return err
	}
	if a.IsDir() {
		ents, err := f.ReadDir(ctx, p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := f.RemoveAll(ctx, path.Join(p, e.Name)); err != nil {
				return err
			}
		}
	}
	if err := f.Remove(ctx, p); err != nil && KindOf(err) != NotExist {
		return err
	}
	return nil
}

// Rename moves oldp to newp atomically, replacing newp if it exists.
func (f *FS) Rename(ctx context.Context, oldp, newp string) error {
	from, to, err := f.rename(ctx, oldp, newp, 0)
	if err == nil {
		f.announce("rename", from, to)
	}
	return At("rename", oldp, err)
}

// Exchange swaps a and b atomically (renameat2 RENAME_EXCHANGE): whoever
// looks sees one or the other, never neither.
func (f *FS) Exchange(ctx context.Context, a, b string) error {
	ra, rb, err := f.rename(ctx, a, b, RenameExchange)
	if err == nil {
		f.announce("rename", ra, rb)
	}
	return At("exchange", a, err)
}

func (f *FS) rename(ctx context.Context, oldp, newp string, flags uint32) (string, string, error) {
	od, from, on, err := f.entry(ctx, oldp, Write)
	if err != nil {
		return "", "", err
	}
	nd, to, nn, err := f.entry(ctx, newp, Write)
	if err != nil {
		return "", "", err
	}
	return from, to, f.ns.Rename(ctx, od.Ino, on, nd.Ino, nn, flags)
}

// Clone copies src (a file, or a directory and everything below it) to
// dst, which must not exist, sharing content: only metadata is written.
// The caller needs Read at src: a clone changes nothing there.
func (f *FS) Clone(ctx context.Context, src, dst string) error {
	from, to, err := f.clone(ctx, src, dst)
	if err == nil {
		f.announce("clone", from, to)
	}
	return At("clone", src, err)
}

func (f *FS) clone(ctx context.Context, src, dst string) (string, string, error) {
	a, from, err := f.statNeed(ctx, src, false, Read)
	if err != nil {
		return "", "", err
	}
	dir, to, name, err := f.entry(ctx, dst, Write)
	if err != nil {
		return "", "", err
	}
	_, err = f.ns.Clone(ctx, a.Ino, dir.Ino, name)
	return from, to, err
}

// Digest returns the content digest of the regular file p (see
// Digester).
func (f *FS) Digest(ctx context.Context, p string) ([]byte, error) {
	a, _, err := f.statNeed(ctx, p, false, Read)
	if err != nil {
		return nil, At("digest", p, err)
	}
	if !a.IsRegular() {
		return nil, At("digest", p, E(Invalid, "not a regular file"))
	}
	d, err := f.ns.Digest(ctx, a.Ino)
	return d, At("digest", p, err)
}

// Manifest lists every entry below the directory p with the digests of
// its regular files, when its file system can (NotSupported otherwise),
// leaving out the entries of p named in skip and those the caller may not
// read.
func (f *FS) Manifest(ctx context.Context, p string, skip ...string) ([]ManifestEntry, error) {
	a, rp, err := f.stat(ctx, p, false)
	if err != nil {
		return nil, At("manifest", p, err)
	}
	if !a.IsDir() {
		return nil, At("manifest", p, E(NotDir, "not a directory"))
	}
	m, err := f.ns.Manifest(ctx, a.Ino, skip)
	if c := CallerFrom(ctx); err == nil && !c.IsOwner() {
		out := m[:0]
		for _, e := range m {
			if c.Level(path.Join(rp, e.Path)) >= Read {
				out = append(out, e)
			}
		}
		m = out
	}
	return m, At("manifest", p, err)
}

// DigestBlockSize is the block size of the digests of the files at p.
func (f *FS) DigestBlockSize(ctx context.Context, p string) (int64, error) {
	a, _, err := f.stat(ctx, p, false)
	if err != nil {
		return 0, At("digest", p, err)
	}
	n, err := f.ns.DigestBlockSize(a.Ino)
	return n, At("digest", p, err)
}

// Symlink makes p a symbolic link to target. Any target may be stored:
// it is checked, as every path, whenever the link is followed.
func (f *FS) Symlink(ctx context.Context, target, p string) error {
	rp, err := f.symlink(ctx, target, p)
	if err == nil {
		f.announce("symlink", rp, target)
	}
	return At("symlink", p, err)
}

func (f *FS) symlink(ctx context.Context, target, p string) (string, error) {
	dir, rp, name, err := f.entry(ctx, p, Write)
	if err != nil {
		return "", err
	}
	_, err = f.ns.Symlink(ctx, dir.Ino, name, target)
	return rp, err
}

// Readlink returns the target of the symbolic link p.
func (f *FS) Readlink(ctx context.Context, p string) (string, error) {
	a, _, err := f.statNeed(ctx, p, false, Read)
	if err != nil {
		return "", At("readlink", p, err)
	}
	if !a.IsSymlink() {
		return "", At("readlink", p, E(Invalid, "not a symbolic link"))
	}
	t, err := f.ns.Readlink(ctx, a.Ino)
	return t, At("readlink", p, err)
}

// Link makes newp another name for the file oldp. The caller needs Write
// at oldp too: through the new name it can change that file.
func (f *FS) Link(ctx context.Context, oldp, newp string) error {
	from, to, err := f.link(ctx, oldp, newp)
	if err == nil {
		f.announce("link", from, to)
	}
	return At("link", newp, err)
}

func (f *FS) link(ctx context.Context, oldp, newp string) (string, string, error) {
	a, from, err := f.statNeed(ctx, oldp, false, Write)
	if err != nil {
		return "", "", err
	}
	dir, to, name, err := f.entry(ctx, newp, Write)
	if err != nil {
		return "", "", err
	}
	_, err = f.ns.Link(ctx, a.Ino, dir.Ino, name)
	return from, to, err
}

// Setattr changes attributes of the file at p (following symbolic links).
func (f *FS) Setattr(ctx context.Context, p string, set SetAttr) (Attr, error) {
	a, rp, err := f.statNeed(ctx, p, true, Write)
	if err != nil {
		return Attr{}, At("setattr", p, err)
	}
	if set.Valid&SetMode != 0 {
		set.Mode = perm(ctx, set.Mode)
	}
	a, err = f.ns.Setattr(ctx, a.Ino, set)
	if err == nil {
		f.announce("attr", rp)
	}
	return a, At("setattr", p, err)
}

// Chmod sets the permission bits of p.
func (f *FS) Chmod(ctx context.Context, p string, mode uint32) error {
	_, err := f.Setattr(ctx, p, SetAttr{Valid: SetMode, Mode: mode & 0o7777})
	return err
}

// Chtimes sets the access and modification times of p.
func (f *FS) Chtimes(ctx context.Context, p string, atime, mtime time.Time) error {
	_, err := f.Setattr(ctx, p, SetAttr{Valid: SetAtime | SetMtime, Atime: atime, Mtime: mtime})
	return err
}

// Truncate sets the size of p.
func (f *FS) Truncate(ctx context.Context, p string, size int64) error {
	if size < 0 {
		return At("truncate", p, E(Invalid, "negative size"))
	}
	_, err := f.Setattr(ctx, p, SetAttr{Valid: SetSize, Size: size})
	return err
}

// Statfs describes the space behind p.
func (f *FS) Statfs(ctx context.Context, p string) (Statfs, error) {
	a, _, err := f.stat(ctx, p, true)
	if err != nil {
		return Statfs{}, At("statfs", p, err)
	}
	s, err := f.ns.Statfs(ctx, a.Ino)
	return s, At("statfs", p, err)
}

// File is an open file or directory of FS. Its methods take the context of
// each call; Reader adapts it to io.Reader.
type File struct {
	fs      *FS
	path    string          // as the caller spelled it
	real    string          // as it resolved
	opened  context.Context // the open's values (its caller) without its deadline, for Close
	attr    Attr
	h       Handle // nil for directories
	append  bool
	created bool // made by this open
	wrote   bool
}

// Path is the path the file was opened with.
func (fl *File) Path() string { return fl.path }

// Stat returns the current attributes of the file.
func (fl *File) Stat(ctx context.Context) (Attr, error) {
	a, err := fl.fs.ns.Getattr(ctx, fl.attr.Ino)
	return a, At("stat", fl.path, err)
}

// ReadAt reads into p at offset off. It returns io.EOF when it reads less
// than len(p) because the file ends, like io.ReaderAt.
func (fl *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if fl.h == nil {
		return 0, At("read", fl.path, E(IsDir, "is a directory"))
	}
	n := 0
	for n < len(p) {
		m, err := fl.h.ReadAt(ctx, p[n:], off+int64(n))
		if err != nil {
			return n, At("read", fl.path, err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// WriteAt writes p at offset off (at the end for files opened OAppend).
func (fl *File) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if fl.h == nil {
		return 0, At("write", fl.path, E(IsDir, "is a directory"))
	}
	if fl.append {
		a, err := fl.Stat(ctx)
		if err != nil {
			return 0, err
		}
		off = a.Size
	}
	n, err := fl.h.WriteAt(ctx, p, off)
	if n > 0 {
		fl.wrote = true
	}
	return n, At("write", fl.path, err)
}

// Sync commits the writes made so far, durably.
func (fl *File) Sync(ctx context.Context) error {
	if fl.h == nil {
		return nil
	}
	return At("fsync", fl.path, fl.h.Fsync(ctx))
}

// Close commits the writes made through the file and releases it. Writes
// become visible to others, all at once, here. What a commit does (a
// control file's last command) is done for the caller that opened it.
func (fl *File) Close() error {
	if fl.h == nil {
		return nil
	}
	ctx := fl.opened
	err := fl.h.Flush(ctx)
	if rerr := fl.h.Release(ctx); err == nil {
		err = rerr
	}
	fl.h = nil
	if err == nil && (fl.wrote || fl.created) {
		fl.fs.announce("write", fl.real)
	}
	return At("close", fl.path, err)
}

// Abort closes the file without committing what was written through it,
// where its file system can (Discarder); elsewhere it is Close. A file
// this open made stays: remove it.
func (fl *File) Abort() error {
	d, ok := fl.h.(Discarder)
	if !ok {
		return fl.Close()
	}
	err := d.Discard(fl.opened)
	fl.h = nil
	return At("close", fl.path, err)
}

// Created says whether this open made the file.
func (fl *File) Created() bool { return fl.created }

// ReadDir lists the directory.
func (fl *File) ReadDir(ctx context.Context) ([]DirEntry, error) {
	if !fl.attr.IsDir() {
		return nil, At("readdir", fl.path, E(NotDir, "not a directory"))
	}
	ents, err := fl.fs.ns.ReadDir(ctx, fl.attr.Ino)
	return visible(ctx, fl.real, ents), At("readdir", fl.path, err)
}

// Reader returns an io.Reader over the file from its start, doing its reads
// with ctx.
func (fl *File) Reader(ctx context.Context) io.Reader {
	return &fileReader{ctx: ctx, f: fl}
}

// Writer returns an io.Writer that writes the file from its start, with ctx.
func (fl *File) Writer(ctx context.Context) io.Writer {
	return &fileWriter{ctx: ctx, f: fl}
}

type fileReader struct {
	ctx context.Context
	f   *File
	off int64
}

// Read does one read of the handle: it returns what is there (an events
// file returns its next lines) rather than waiting to fill p.
func (r *fileReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.f.h == nil {
		return 0, At("read", r.f.path, E(IsDir, "is a directory"))
	}
	n, err := r.f.h.ReadAt(r.ctx, p, r.off)
	if err != nil {
		return n, At("read", r.f.path, err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	r.off += int64(n)
	return n, nil
}

type fileWriter struct {
	ctx context.Context
	f   *File
	off int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(w.ctx, p, w.off)
	w.off += int64(n)
	return n, err
}
