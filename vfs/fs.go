package vfs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// rootIno is the root directory's inode, made by the first migration.
const rootIno = 1

// maxFileSize bounds file sizes (EFBIG beyond).
const maxFileSize = 1 << 50

// maxSymlink is the longest symbolic link target, as Linux's PATH_MAX.
const maxSymlink = 4095

// Options tune Open.
type Options struct {
	// CacheBytes bounds the chunk cache; 0 means 64 MiB.
	CacheBytes int64
	// SpillBytes is how much unflushed data one open file holds in memory
	// before storing it as chunks; 0 means 8 MiB.
	SpillBytes int64
	Log        *slog.Logger
	// Shared says another process may still be writing the tree (a kernel
	// handing over to this one in an upgrade, or the primary a follower's
	// database copies): Open then neither collects crash leftovers (the
	// other process's open files look like them) nor trusts its counters;
	// call Resync once the other process is done.
	Shared bool
}

// FS is the /fs tree. It implements kernel.FileSystem, kernel.Writer and
// kernel.Notifier.
type FS struct {
	db        *storage.DB
	log       *slog.Logger
	blockSize int64
	spill     int64
	cache     *chunkCache
	attrs     *attrCache
	notify    func(kernel.Change)

	mu       sync.Mutex // guards open, deleting and gen
	open     map[uint64]*openFile
	deleting map[uint64]bool // inodes being deleted: they cannot be opened
	gen      uint64          // bumped when an openFile goes or an inode is deleted

	pinMu sync.Mutex // guards pins
	pins  map[int64]int

	// Inode numbers and chunk ids come from counters, never reused while
	// this process runs: the FUSE caches and the chunk cache key on them.
	lastIno   atomic.Uint64
	lastChunk atomic.Int64

	// anyXattrs says rows may exist in xattrs: while none do, deleting
	// an inode skips their statement (one of the few an unlink runs).
	anyXattrs atomic.Bool
}

var (
	_ kernel.FileSystem = (*FS)(nil)
	_ kernel.Writer     = (*FS)(nil)
	_ kernel.Notifier   = (*FS)(nil)
)

// Open returns the tree stored in db. It deletes what a crash may have left
// behind: files deleted while open, and chunks nobody references.
func Open(ctx context.Context, db *storage.DB, opt Options) (*FS, error) {
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = 64 << 20
	}
	if opt.SpillBytes <= 0 {
		opt.SpillBytes = 8 << 20
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	f := &FS{
		db:       db,
		log:      opt.Log,
		spill:    opt.SpillBytes,
		cache:    newChunkCache(opt.CacheBytes),
		attrs:    newAttrCache(),
		notify:   func(kernel.Change) {},
		open:     make(map[uint64]*openFile),
		deleting: make(map[uint64]bool),
		pins:     make(map[int64]int),
	}
	var bs string
	if err := f.row(ctx, `SELECT value FROM fazt_meta WHERE key = 'vfs.block_size'`, nil, &bs); err != nil {
		return nil, fmt.Errorf("vfs: block size: %w", err)
	}
	n, err := strconv.ParseInt(bs, 10, 64)
	if err != nil || n < 4096 || n > 64<<20 {
		return nil, fmt.Errorf("vfs: bad block size %q", bs)
	}
	f.blockSize = n
	if opt.Shared {
		// Counters for what start-up itself makes; Resync reads them
		// again. The other process may add attributes meanwhile.
		f.anyXattrs.Store(true)
		return f, f.readCounters(ctx)
	}
	if err := f.Resync(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Resync makes the tree the only writer of the database again: it collects
// crash leftovers, reads its counters and forgets cached attributes. Open
// does it, unless Shared; call it only while no other process writes.
func (f *FS) Resync(ctx context.Context) error {
	var any bool
	if err := f.row(ctx, `SELECT EXISTS (SELECT 1 FROM xattrs)`, nil, &any); err != nil {
		return fmt.Errorf("vfs: attributes: %w", err)
	}
	f.anyXattrs.Store(any)
	if err := f.recover(ctx); err != nil {
		return fmt.Errorf("vfs: recovery: %w", err)
	}
	if err := f.readCounters(ctx); err != nil {
		return err
	}
	f.attrs.reset()
	return nil
}

// Reloaded makes the tree forget everything it cached of the database,
// which changed under it (a follower applied the primary's transactions),
// and tells the namespace's subscribers so (kernel.Reloaded).
func (f *FS) Reloaded() {
	f.attrs.reset()
	f.cache.clear()
	f.notify(kernel.Change{Op: kernel.Reloaded, Ino: rootIno})
}

// ShedCache drops the cached chunks (under memory pressure); reads then
// go to the database.
func (f *FS) ShedCache() { f.cache.clear() }

// readCounters sets the next inode and chunk ids from the database.
func (f *FS) readCounters(ctx context.Context) error {
	var lastIno uint64
	var lastChunk int64
	if err := f.row(ctx, `SELECT (SELECT COALESCE(MAX(ino), 1) FROM inodes), (SELECT COALESCE(MAX(id), 0) FROM chunks)`, nil, &lastIno, &lastChunk); err != nil {
		return fmt.Errorf("vfs: counters: %w", err)
	}
	f.lastIno.Store(lastIno)
	f.lastChunk.Store(lastChunk)
	return nil
}

// recover deletes orphaned inodes and unreferenced chunks, and gives the
// root to the user who first opened the tree.
func (f *FS) recover(ctx context.Context) error {
	return f.db.WriteFreeing(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT ino FROM inodes WHERE nlink <= 0 AND ino != ?`, rootIno)
		if err != nil {
			return err
		}
		var orphans []uint64
		for rows.Next() {
			var ino uint64
			if err := rows.Scan(&ino); err != nil {
				rows.Close()
				return err
			}
			orphans = append(orphans, ino)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ino := range orphans {
			if err := f.dropInode(tx, ino); err != nil {
				return err
			}
		}
		if len(orphans) > 0 {
			f.log.Info("vfs: deleted files left open at a crash", "count", len(orphans))
		}
		if _, err := tx.Exec(`DELETE FROM chunk_data WHERE id IN (SELECT id FROM chunks WHERE refs <= 0)`); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM chunks WHERE refs <= 0`); err != nil {
			return err
		}
		res, err := tx.Exec(`INSERT OR IGNORE INTO fazt_meta(key, value) VALUES ('vfs.root_owner', ?)`,
			fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.Exec(`UPDATE inodes SET uid = ?, gid = ? WHERE ino = ?`, os.Getuid(), os.Getgid(), rootIno)
		}
		return err
	})
}

// Commit implements kernel.Committer: the open batch commits now, and its
// changes are announced.
func (f *FS) Commit(ctx context.Context) error { return f.db.Commit(ctx) }

// SetNotify implements kernel.Notifier.
func (f *FS) SetNotify(fn func(kernel.Change)) { f.notify = fn }

// AnnouncesEveryChange implements kernel.Announcer: every change to the
// tree goes through changed.
func (f *FS) AnnouncesEveryChange() {}

// changed announces a change made to the tree: the attribute cache, read
// through the writer, forgets what it touched at once; the namespace's
// subscribers (the mount's caches, the HTTP server's) hear of it once the
// change is committed, when readers of committed state can see it. It
// returns the cache generation right after the change.
func (f *FS) changed(ctx context.Context, op kernel.ChangeOp, ino, dir uint64, name string) uint64 {
	c := kernel.Change{Op: op, Ino: ino, Dir: dir, Name: name, Origin: kernel.OriginFrom(ctx)}
	g := f.attrs.forget(c)
	f.announce(c)
	return g
}

// announce tells the namespace's subscribers of change c once it is
// committed. The attribute cache is not touched: see settle.
func (f *FS) announce(c kernel.Change) { f.db.AfterCommit(func() { f.notify(c) }) }

// settle forgets what change c touched from the attribute cache, inside
// the write transaction that makes it, and returns the generation after.
// Every later change forgets after its own transaction, which follows this
// one: attributes this transaction left can be put with that generation
// once it ends (after, they could be put over a later change's), and the
// change announced. A just-written file's stat then costs no query.
func (f *FS) settle(c kernel.Change) uint64 { return f.attrs.forget(c) }

// writeEntry runs fn, which makes the entry dir/name and returns its
// attributes, as a change; the attributes are cached as it left them.
func (f *FS) writeEntry(ctx context.Context, dir uint64, name string, fn func(*storage.Tx) (kernel.Attr, error)) (kernel.Attr, error) {
	c := kernel.Change{Op: kernel.EntryAdded, Dir: dir, Name: name, Origin: kernel.OriginFrom(ctx)}
	var a kernel.Attr
	var g uint64
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		var err error
		if a, err = fn(tx); err != nil {
			return err
		}
		c.Ino = a.Ino
		g = f.settle(c)
		return nil
	})
	if err != nil {
		return kernel.Attr{}, err
	}
	f.attrs.put(a, &dentKey{dir, name}, g)
	f.announce(c)
	return a, nil
}

// Root implements kernel.FileSystem.
func (f *FS) Root() uint64 { return rootIno }

// BlockSize is the size of content blocks.
func (f *FS) BlockSize() int64 { return f.blockSize }

const attrCols = `i.ino, i.mode, i.nlink, i.uid, i.gid, i.size, i.atime, i.mtime, i.ctime, i.rdev`

// returnedAttrs is attrCols for a RETURNING clause, which takes no table
// alias.
const returnedAttrs = `ino, mode, nlink, uid, gid, size, atime, mtime, ctime, rdev`

type scanner interface{ Scan(...any) error }

func scanAttr(s scanner) (kernel.Attr, error) { return scanAttrTarget(s, nil) }

// scanAttrTarget scans attrCols and, if target is not nil, the symbolic
// link target after them.
func scanAttrTarget(s scanner, target **string) (kernel.Attr, error) {
	var a kernel.Attr
	var mode, nlink, uid, gid, rdev int64
	var at, mt, ct int64
	dest := []any{&a.Ino, &mode, &nlink, &uid, &gid, &a.Size, &at, &mt, &ct, &rdev}
	if target != nil {
		dest = append(dest, target)
	}
	if err := s.Scan(dest...); err != nil {
		return kernel.Attr{}, err
	}
	a.Mode, a.Nlink, a.UID, a.GID, a.Rdev = uint32(mode), uint32(nlink), uint32(uid), uint32(gid), uint32(rdev)
	a.Atime, a.Mtime, a.Ctime = time.Unix(0, at), time.Unix(0, mt), time.Unix(0, ct)
	return a, nil
}

// finish fills in what the rows do not hold: the view of an open file's
// uncommitted writes, and the block count.
func (f *FS) finish(a kernel.Attr) kernel.Attr {
	if a.IsRegular() {
		f.mu.Lock()
		of := f.open[a.Ino]
		f.mu.Unlock()
		if of != nil {
			of.overlayAttr(&a)
		}
	}
	if a.IsDir() {
		a.Size = 4096
	}
	a.Blocks = (a.Size + 511) / 512
	return a
}

func notExist(ino uint64) error {
	return kernel.E(kernel.NotExist, fmt.Sprintf("no inode %d", ino))
}

// Getattr implements kernel.FileSystem.
func (f *FS) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	if a, ok := f.attrs.attr(ino); ok {
		return f.finish(a), nil
	}
	a, err := f.readAttr(ctx, ino, nil, `SELECT `+attrCols+` FROM inodes i WHERE i.ino = ?`, ino)
	if kernel.KindOf(err) == kernel.NotExist {
		return kernel.Attr{}, notExist(ino)
	}
	return a, err
}

// readAttr reads the attributes of ino (or, with ino 0, of the entry key)
// with q, caches them, and returns them with the open file's view. A
// commit of that open file in between would have ended the overlay that
// stands in for a row read before it, giving the old size: then it reads
// again.
func (f *FS) readAttr(ctx context.Context, ino uint64, key *dentKey, q string, args ...any) (kernel.Attr, error) {
	for attempt := 0; ; attempt++ {
		g, commits := f.attrs.generation(), f.commits(ino)
		a, err := f.attrRow(ctx, q, args...)
		if err != nil {
			return kernel.Attr{}, err
		}
		f.attrs.put(a, key, g)
		if ino == 0 {
			// Known now: the entry's inode, whose commits count.
			ino, commits = a.Ino, 0
			if attempt == 0 && f.commits(ino) != 0 {
				continue // open for writing: read it once more, counted
			}
		}
		a = f.finish(a)
		if f.commits(ino) == commits || attempt == 2 {
			return a, nil
		}
	}
}

// commits counts the commits of ino's open file (0 if it is not open).
func (f *FS) commits(ino uint64) uint64 {
	f.mu.Lock()
	of := f.open[ino]
	f.mu.Unlock()
	if of == nil {
		return 0
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	return of.gen
}

// Lookup implements kernel.FileSystem.
func (f *FS) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	a, ok, absent := f.attrs.lookup(dir, name)
	switch {
	case ok:
		return f.finish(a), nil
	case absent:
		return kernel.Attr{}, kernel.E(kernel.NotExist, "no such file or directory")
	}
	if a, ok, err := f.loadDir(ctx, dir, name); ok || err != nil {
		return a, err
	}
	a, err := f.readAttr(ctx, 0, &dentKey{dir, name}, `SELECT `+attrCols+` FROM inodes i WHERE i.ino = `+entryIno, dir, name)
	if kernel.KindOf(err) == kernel.NotExist {
		return kernel.Attr{}, kernel.E(kernel.NotExist, "no such file or directory")
	}
	return a, err
}

// loadDirMax is the most entries a lookup's miss reads at once.
const loadDirMax = 1024

// loadDir reads the entries of dir and their attributes in one query into
// the attribute cache, on the first lookup's miss in dir: whoever looks up
// one name of a directory (git status, find, make) usually looks up its
// others next, and one query costs about what one entry's costs. The
// listing stays complete in the cache until an entry is added or removed,
// so missing names cost no query either. It answers name if dir has it and
// it is not open (an open file's attributes are read as readAttr reads
// them). A directory larger than loadDirMax is looked up one name at a
// time.
func (f *FS) loadDir(ctx context.Context, dir uint64, name string) (kernel.Attr, bool, error) {
	if f.attrs.loaded(dir) {
		return kernel.Attr{}, false, nil
	}
	g := f.attrs.generation()
	type ent struct {
		name string
		a    kernel.Attr
	}
	var ents []ent
	big := false
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT d.name, `+attrCols+` FROM dentries d JOIN inodes i ON i.ino = d.ino
			WHERE d.parent = ? LIMIT ?`, dir, loadDirMax+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if len(ents) == loadDirMax {
				big = true
				return nil
			}
			var e ent
			if e.a, err = scanAttr(namedRow{rows, &e.name}); err != nil {
				return err
			}
			ents = append(ents, e)
		}
		return rows.Err()
	})
	if err != nil {
		return kernel.Attr{}, false, err
	}
	if big {
		f.attrs.markLoaded(dir, true, false, g)
		return kernel.Attr{}, false, nil
	}
	complete := true
	for _, e := range ents {
		if f.commits(e.a.Ino) != 0 {
			// Open: its overlay and commits are readAttr's to weigh.
			complete = false
			continue
		}
		f.attrs.put(e.a, &dentKey{dir, e.name}, g)
	}
	f.attrs.markLoaded(dir, false, complete, g)
	for _, e := range ents {
		if e.name == name {
			if f.commits(e.a.Ino) != 0 {
				return kernel.Attr{}, false, nil
			}
			return f.finish(e.a), true, nil
		}
	}
	// The whole directory was read: name is not in it.
	return kernel.Attr{}, true, kernel.E(kernel.NotExist, "no such file or directory")
}

// namedRow scans a row of a name and then attrCols.
type namedRow struct {
	s    scanner
	name *string
}

func (r namedRow) Scan(dest ...any) error { return r.s.Scan(append([]any{r.name}, dest...)...) }

// ReadDir implements kernel.FileSystem.
func (f *FS) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	var out []kernel.DirEntry
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		if _, err := dirMode(tx, dir); err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT d.name, d.ino, i.mode FROM dentries d JOIN inodes i ON i.ino = d.ino
			WHERE d.parent = ? ORDER BY d.name`, dir)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e kernel.DirEntry
			var mode int64
			if err := rows.Scan(&e.Name, &e.Ino, &mode); err != nil {
				return err
			}
			e.Mode = uint32(mode)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// dirMode returns the mode of dir, which must be a directory.
func dirMode(tx *storage.Tx, dir uint64) (uint32, error) {
	var mode int64
	if err := tx.QueryRow(`SELECT mode FROM inodes WHERE ino = ?`, dir).Scan(&mode); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return 0, notExist(dir)
		}
		return 0, err
	}
	if uint32(mode)&syscall.S_IFMT != syscall.S_IFDIR {
		return 0, kernel.E(kernel.NotDir, "not a directory")
	}
	return uint32(mode), nil
}

// Readlink implements kernel.FileSystem.
func (f *FS) Readlink(ctx context.Context, ino uint64) (string, error) {
	var mode int64
	var target *string
	if err := f.row(ctx, `SELECT mode, target FROM inodes WHERE ino = ?`, []any{ino}, &mode, &target); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return "", notExist(ino)
		}
		return "", err
	}
	if uint32(mode)&syscall.S_IFMT != syscall.S_IFLNK || target == nil {
		return "", kernel.E(kernel.Invalid, "not a symbolic link")
	}
	return *target, nil
}

// Statfs implements kernel.FileSystem: the space of the disk that holds the
// database, since that is where new content goes.
func (f *FS) Statfs(ctx context.Context) (kernel.Statfs, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(f.db.Path()), &st); err != nil {
		return kernel.Statfs{}, fmt.Errorf("statfs: %w", err)
	}
	var files uint64
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM inodes`).Scan(&files); err != nil {
		return kernel.Statfs{}, err
	}
	// Report in 4 KiB blocks whatever the disk's block size.
	scale := func(n uint64) uint64 { return n * uint64(st.Bsize) / 4096 }
	// A new file costs a few hundred bytes of database, not a disk inode:
	// count one free inode per free block.
	free := scale(st.Bavail)
	return kernel.Statfs{
		Bsize:   4096,
		Blocks:  scale(st.Blocks),
		Bfree:   scale(st.Bfree),
		Bavail:  scale(st.Bavail),
		Files:   files + free,
		Ffree:   free,
		NameMax: kernel.MaxName,
	}, nil
}

func nowNs() int64 { return time.Now().UnixNano() }

// row runs a one-row query that sees every change made so far.
func (f *FS) row(ctx context.Context, q string, args []any, dest ...any) error {
	return f.db.View(ctx, func(tx *storage.Tx) error { return tx.QueryRow(q, args...).Scan(dest...) })
}

// attrRow reads attributes with a one-row query that sees every change.
func (f *FS) attrRow(ctx context.Context, q string, args ...any) (a kernel.Attr, err error) {
	err = f.db.View(ctx, func(tx *storage.Tx) error {
		a, err = scanAttr(tx.QueryRow(q, args...))
		return err
	})
	return a, err
}

// OpenFiles is the number of files open through any handle.
func (f *FS) OpenFiles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open)
}

// CacheBytes is the size of the chunk cache.
func (f *FS) CacheBytes() int64 { return f.cache.Bytes() }
