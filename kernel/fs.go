package kernel

import (
	"context"
	"syscall"
	"time"
)

// Attr is what stat reports about an inode. Mode holds the file type bits
// (syscall.S_IFREG, S_IFDIR, S_IFLNK) and the permission bits, as in
// struct stat.
type Attr struct {
	Ino    uint64
	Mode   uint32
	Nlink  uint32
	UID    uint32
	GID    uint32
	Size   int64
	Blocks int64  // 512-byte blocks
	Rdev   uint32 // a device's number (Linux's encoding); 0 for other files
	Atime  time.Time
	Mtime  time.Time
	Ctime  time.Time
}

// IsDir reports whether a is a directory.
func (a Attr) IsDir() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsRegular reports whether a is a regular file.
func (a Attr) IsRegular() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFREG }

// IsSymlink reports whether a is a symbolic link.
func (a Attr) IsSymlink() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// IsSpecial reports whether a is a FIFO, a socket or a device: a node whose
// I/O is the host kernel's, not the file system's.
func (a Attr) IsSpecial() bool { return IsSpecialMode(a.Mode) }

// IsSpecialMode reports whether the type bits of mode are a FIFO's, a
// socket's or a device's.
func IsSpecialMode(mode uint32) bool {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFSOCK, syscall.S_IFCHR, syscall.S_IFBLK:
		return true
	}
	return false
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Ino  uint64
	Mode uint32 // file type bits only are guaranteed
}

// Statfs describes the space behind a file system.
type Statfs struct {
	Bsize   uint32 // block size for the counts below
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	NameMax uint32
}

// Cred is who performs an operation; new inodes take its ids.
type Cred struct {
	UID, GID uint32
}

// SetAttr says which attributes Setattr changes.
type SetAttr struct {
	Valid SetMask
	Mode  uint32 // permission bits only
	UID   uint32
	GID   uint32
	Size  int64
	Atime time.Time
	Mtime time.Time
}

// SetMask selects fields of SetAttr.
type SetMask uint32

// Bits of SetMask. AtimeNow and MtimeNow set the time to the current time
// (UTIME_NOW) and win over Atime and Mtime.
const (
	SetMode SetMask = 1 << iota
	SetUID
	SetGID
	SetSize
	SetAtime
	SetMtime
	SetAtimeNow
	SetMtimeNow
)

// Open flags understood by FileSystem.Open, the usual os values.
const (
	ORdonly = syscall.O_RDONLY
	OWronly = syscall.O_WRONLY
	ORdwr   = syscall.O_RDWR
	OAccess = syscall.O_ACCMODE
	OCreate = syscall.O_CREAT
	OExcl   = syscall.O_EXCL
	OTrunc  = syscall.O_TRUNC
	OAppend = syscall.O_APPEND
)

// MaxName is the longest name, in bytes, that any fazt file system accepts.
const MaxName = 255

// FileSystem is the read side that every bound file system implements.
// Inode numbers are local to the file system and never reused for another
// file while fazt runs. All methods are safe for concurrent use.
type FileSystem interface {
	// Root is the inode number of the root directory.
	Root() uint64
	// Getattr returns the attributes of an inode.
	Getattr(ctx context.Context, ino uint64) (Attr, error)
	// Lookup finds name in directory dir.
	Lookup(ctx context.Context, dir uint64, name string) (Attr, error)
	// ReadDir lists directory dir, sorted by name, without "." and "..".
	ReadDir(ctx context.Context, dir uint64) ([]DirEntry, error)
	// Open opens an inode for reading and, if flags allow, writing.
	Open(ctx context.Context, ino uint64, flags int) (Handle, error)
	// Readlink returns the target of a symbolic link.
	Readlink(ctx context.Context, ino uint64) (string, error)
	// Statfs describes the space behind the file system.
	Statfs(ctx context.Context) (Statfs, error)
}

// Writer is implemented by file systems that can change their tree. A
// FileSystem without it is read-only: the namespace answers ReadOnly.
type Writer interface {
	Create(ctx context.Context, dir uint64, name string, flags int, mode uint32, cred Cred) (Attr, Handle, error)
	Mkdir(ctx context.Context, dir uint64, name string, mode uint32, cred Cred) (Attr, error)
	Symlink(ctx context.Context, dir uint64, name, target string, cred Cred) (Attr, error)
	Link(ctx context.Context, ino, dir uint64, name string) (Attr, error)
	Unlink(ctx context.Context, dir uint64, name string) error
	Rmdir(ctx context.Context, dir uint64, name string) error
	// Rename moves olddir/oldname to newdir/newname atomically, replacing
	// what is there. flags are RenameNoReplace or RenameExchange.
	Rename(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string, flags uint32) error
	Setattr(ctx context.Context, ino uint64, set SetAttr) (Attr, error)
}

// Syncer is a FileSystem that can make every change so far durable: what
// fsync(2) of a directory asks (the entries of a rename, a create).
type Syncer interface {
	Sync(ctx context.Context) error
}

// Xattrs is a FileSystem that keeps extended attributes. Getxattr of a
// name an inode does not have is NoAttr; Setxattr's flags are
// XATTR_CREATE (Exist if it has one) and XATTR_REPLACE (NoAttr if not).
type Xattrs interface {
	Getxattr(ctx context.Context, ino uint64, name string) ([]byte, error)
	Listxattr(ctx context.Context, ino uint64) ([]string, error)
	Setxattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) error
	Removexattr(ctx context.Context, ino uint64, name string) error
}

// NodeMaker is a Writer that keeps special files (mknod(2)): mode has the
// type bits (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK) and the permissions;
// rdev is a device's number.
type NodeMaker interface {
	Mknod(ctx context.Context, dir uint64, name string, mode, rdev uint32, cred Cred) (Attr, error)
}

// Cloner is a Writer that copies a tree by reference: the copy shares the
// original's content and costs only its metadata (cp --reflink).
type Cloner interface {
	Clone(ctx context.Context, ino, dir uint64, name string, cred Cred) (Attr, error)
}

// FileAt is one file of FilesWriter.WriteFiles: dir/name gets data, or
// with From the content of that regular file, shared (as a clone).
type FileAt struct {
	Dir  uint64
	Name string
	Mode uint32 // permission bits
	Data []byte
	From uint64
}

// FilesWriter is a Writer that makes many files in one change: what a
// deploy sends. Each file replaces what its name holds (unless that is a
// directory), as a rename over it would; readers see all of them or none.
// On an error nothing is changed, and failed is the index of the file it
// concerns (-1 if none).
type FilesWriter interface {
	WriteFiles(ctx context.Context, files []FileAt, cred Cred) (failed int, err error)
}

// Digester is a FileSystem that knows a digest of each regular file's
// content without reading it: equal contents, equal digests.
type Digester interface {
	Digest(ctx context.Context, ino uint64) ([]byte, error)
	// BlockSize is the size of the blocks whose hashes make a digest.
	BlockSize() int64
}

// ManifestEntry is one entry below a directory, as Manifester lists it.
type ManifestEntry struct {
	Path   string // relative, slash-separated
	Mode   uint32
	Size   int64
	Digest []byte // regular files
	Target string // symbolic links
}

// Manifester is a Digester that lists a whole tree with its digests in
// one pass.
type Manifester interface {
	// skip names entries of dir itself left out, with what is below them.
	Manifest(ctx context.Context, dir uint64, skip []string) ([]ManifestEntry, error)
}

// Rename flags, as renameat2(2).
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
)

// Handle is an open file. ReadAt and WriteAt may be called concurrently.
type Handle interface {
	// ReadAt reads into p from offset off. It returns 0, nil at the end
	// of the file (not io.EOF), like pread(2).
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	// WriteAt writes p at offset off.
	WriteAt(ctx context.Context, p []byte, off int64) (int, error)
	// Flush makes the writes done so far visible to everyone, atomically.
	// It is called on every close(2).
	Flush(ctx context.Context) error
	// Fsync is Flush, and durable on disk when it returns.
	Fsync(ctx context.Context) error
	// Release closes the handle.
	Release(ctx context.Context) error
}

// Allocator is implemented by handles that take fallocate(2): mode 0
// (the file grows to off+length if it is shorter), FALLOC_FL_KEEP_SIZE,
// and FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE (the range reads as zeros and
// takes no space). Other modes are NotSupported.
type Allocator interface {
	Allocate(ctx context.Context, off, length int64, mode uint32) error
}

// DataSeeker is implemented by handles that know where their holes are
// (lseek(2) SEEK_DATA and SEEK_HOLE): the first offset at or after off in
// data (hole false) or in a hole (hole true; the end of the file is one).
// An offset at or past the end, or no data after it, is NoData.
type DataSeeker interface {
	SeekData(ctx context.Context, off int64, hole bool) (int64, error)
}

// RangeCopier is implemented by handles that copy from another handle of
// the same file system without the bytes passing through the caller
// (copy_file_range(2)), sharing content where they can. It returns how
// many bytes it copied (0 at the source's end); a source it cannot copy
// from is CrossDevice.
type RangeCopier interface {
	CopyRange(ctx context.Context, src Handle, srcOff, dstOff, n int64) (int64, error)
}

// Discarder is implemented by handles that can close without committing
// what they wrote (an upload that failed half way). Where another open
// of the file wrote too, it may commit as Release does.
type Discarder interface {
	Discard(ctx context.Context) error
}

// Snapshotter is implemented by file systems that can read a file's
// committed content as one consistent snapshot: never a part of a write in
// progress, never a mix of two versions.
type Snapshotter interface {
	Snapshot(ctx context.Context, ino uint64) ([]byte, error)
}

// Blocking is implemented by handles whose reads wait for something to
// happen (events files). A front end gives their reads a context that ends
// when the caller gives up.
type Blocking interface {
	Blocking() bool
}

// DirectIO is implemented by handles whose content is generated on each
// read, so that a FUSE front end bypasses the page cache for them.
type DirectIO interface {
	DirectIO() bool
}
