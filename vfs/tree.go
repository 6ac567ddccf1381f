package vfs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// entryIno is the inode of the entry (parent ?, name ?) as a subquery.
// Measured: a point lookup written as a join of dentries and inodes costs
// about 16 us a query, as this subquery about 6.5 us.
const entryIno = `(SELECT ino FROM dentries WHERE parent = ? AND name = ?)`

// lookupTx finds name in dir inside a transaction.
func lookupTx(tx *storage.Tx, dir uint64, name string) (uint64, uint32, error) {
	var ino uint64
	var mode int64
	err := tx.QueryRow(`SELECT i.ino, i.mode FROM inodes i WHERE i.ino = `+entryIno, dir, name).Scan(&ino, &mode)
	if kernel.KindOf(err) == kernel.NotExist {
		return 0, 0, kernel.E(kernel.NotExist, "no such file or directory")
	}
	return ino, uint32(mode), err
}

func isDir(mode uint32) bool { return mode&syscall.S_IFMT == syscall.S_IFDIR }

// touch sets a directory's mtime and ctime after its entries changed.
func touch(tx *storage.Tx, dir uint64, now int64) error {
	_, err := tx.Exec(`UPDATE inodes SET mtime = ?, ctime = ? WHERE ino = ?`, now, now, dir)
	return err
}

// newInode is the part of a new inode that callers choose.
type newInode struct {
	mode   uint32
	nlink  int
	cred   kernel.Cred
	parent uint64
	target *string
	size   int64
	rdev   uint32
}

// create makes an inode and its entry name in dir. New inodes in a setgid
// directory take its group, and new directories keep the setgid bit.
func (f *FS) create(tx *storage.Tx, dir uint64, name string, n newInode, now int64) (kernel.Attr, error) {
	// The directory is touched (and given the link of a new
	// subdirectory's "..") and read in one statement; a refusal below
	// takes it back with the change.
	var pmode, pgid int64
	links := 0
	if isDir(n.mode) {
		links = 1
	}
	if err := tx.QueryRow(`UPDATE inodes SET mtime = ?, ctime = ?, nlink = nlink + ? WHERE ino = ? RETURNING mode, gid`,
		now, now, links, dir).Scan(&pmode, &pgid); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return kernel.Attr{}, notExist(dir)
		}
		return kernel.Attr{}, err
	}
	if !isDir(uint32(pmode)) {
		return kernel.Attr{}, kernel.E(kernel.NotDir, "not a directory")
	}
	if uint32(pmode)&syscall.S_ISGID != 0 {
		n.cred.GID = uint32(pgid)
		if isDir(n.mode) {
			n.mode |= syscall.S_ISGID
		}
	}
	// The entry's primary key refuses a name that exists (Exist); the
	// transaction then takes the inode back too.
	ino := f.lastIno.Add(1)
	if _, err := tx.Exec(`INSERT INTO dentries(parent, name, ino) VALUES (?, ?, ?)`, dir, name, ino); err != nil {
		return kernel.Attr{}, err
	}
	if _, err := tx.Exec(`INSERT INTO inodes(ino, mode, nlink, uid, gid, size, atime, mtime, ctime, btime, parent, target, rdev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ino, n.mode, n.nlink, n.cred.UID, n.cred.GID, n.size, now, now, now, now, n.parent, n.target, n.rdev); err != nil {
		return kernel.Attr{}, err
	}
	t := time.Unix(0, now)
	return kernel.Attr{
		Ino: ino, Mode: n.mode, Nlink: uint32(n.nlink), UID: n.cred.UID, GID: n.cred.GID,
		Size: n.size, Blocks: (n.size + 511) / 512, Rdev: n.rdev, Atime: t, Mtime: t, Ctime: t,
	}, nil
}

// Create implements kernel.Writer.
func (f *FS) Create(ctx context.Context, dir uint64, name string, flags int, mode uint32, cred kernel.Cred) (kernel.Attr, kernel.Handle, error) {
	a, err := f.writeEntry(ctx, dir, name, func(tx *storage.Tx) (kernel.Attr, error) {
		return f.create(tx, dir, name, newInode{mode: syscall.S_IFREG | mode&0o7777, nlink: 1, cred: cred}, nowNs())
	})
	if kernel.KindOf(err) == kernel.Exist && flags&kernel.OExcl == 0 {
		// Lost a race with another creator: open what is there, as
		// open(2) with O_CREAT does.
		if a, err = f.Lookup(ctx, dir, name); err != nil {
			return kernel.Attr{}, nil, err
		}
		h, err := f.Open(ctx, a.Ino, flags)
		if err != nil {
			return kernel.Attr{}, nil, err
		}
		a, err = f.Getattr(ctx, a.Ino)
		if err != nil {
			h.Release(ctx)
			return kernel.Attr{}, nil, err
		}
		return a, h, nil
	}
	if err != nil {
		return kernel.Attr{}, nil, err
	}
	writable := flags&kernel.OAccess != kernel.ORdonly
	return a, &handle{of: f.acquireNew(a.Ino, writable), writable: writable}, nil
}

// Mkdir implements kernel.Writer.
func (f *FS) Mkdir(ctx context.Context, dir uint64, name string, mode uint32, cred kernel.Cred) (kernel.Attr, error) {
	a, err := f.writeEntry(ctx, dir, name, func(tx *storage.Tx) (kernel.Attr, error) {
		return f.create(tx, dir, name, newInode{mode: syscall.S_IFDIR | mode&0o7777, nlink: 2, cred: cred, parent: dir}, nowNs())
	})
	if err != nil {
		return kernel.Attr{}, err
	}
	a.Size, a.Blocks = 4096, 8
	return a, nil
}

// Symlink implements kernel.Writer.
func (f *FS) Symlink(ctx context.Context, dir uint64, name, target string, cred kernel.Cred) (kernel.Attr, error) {
	switch {
	case target == "":
		return kernel.Attr{}, kernel.E(kernel.NotExist, "empty symbolic link target")
	case len(target) > maxSymlink:
		return kernel.Attr{}, kernel.E(kernel.NameTooLong, fmt.Sprintf("symbolic link target longer than %d bytes", maxSymlink))
	}
	for i := 0; i < len(target); i++ {
		if target[i] == 0 {
			return kernel.Attr{}, kernel.E(kernel.Invalid, "symbolic link target contains NUL")
		}
	}
	return f.writeEntry(ctx, dir, name, func(tx *storage.Tx) (kernel.Attr, error) {
		return f.create(tx, dir, name, newInode{mode: syscall.S_IFLNK | 0o777, nlink: 1, cred: cred, target: &target, size: int64(len(target))}, nowNs())
	})
}

// Mknod implements kernel.NodeMaker: FIFOs, sockets and devices are
// inodes with no content; opening one is the host kernel's business.
func (f *FS) Mknod(ctx context.Context, dir uint64, name string, mode, rdev uint32, cred kernel.Cred) (kernel.Attr, error) {
	if !kernel.IsSpecialMode(mode) {
		return kernel.Attr{}, kernel.E(kernel.Invalid, "mknod makes FIFOs, sockets and devices")
	}
	if mode&syscall.S_IFMT != syscall.S_IFCHR && mode&syscall.S_IFMT != syscall.S_IFBLK {
		rdev = 0
	}
	return f.writeEntry(ctx, dir, name, func(tx *storage.Tx) (kernel.Attr, error) {
		return f.create(tx, dir, name, newInode{mode: mode&syscall.S_IFMT | mode&0o7777, nlink: 1, cred: cred, rdev: rdev}, nowNs())
	})
}

// Link implements kernel.Writer.
func (f *FS) Link(ctx context.Context, ino, dir uint64, name string) (kernel.Attr, error) {
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		var mode, nlink int64
		if err := tx.QueryRow(`SELECT mode, nlink FROM inodes WHERE ino = ?`, ino).Scan(&mode, &nlink); err != nil {
			if kernel.KindOf(err) == kernel.NotExist {
				return notExist(ino)
			}
			return err
		}
		if isDir(uint32(mode)) {
			return kernel.E(kernel.NotPermitted, "hard links to directories are not allowed")
		}
		if nlink <= 0 {
			return kernel.E(kernel.NotExist, "file was deleted")
		}
		if _, err := dirMode(tx, dir); err != nil {
			return err
		}
		now := nowNs()
		// The primary key refuses a name that exists: Exist.
		if _, err := tx.Exec(`INSERT INTO dentries(parent, name, ino) VALUES (?, ?, ?)`, dir, name, ino); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink + 1, ctime = ? WHERE ino = ?`, now, ino); err != nil {
			return err
		}
		return touch(tx, dir, now)
	})
	if err != nil {
		return kernel.Attr{}, err
	}
	f.changed(ctx, kernel.EntryAdded, ino, dir, name)
	f.changed(ctx, kernel.AttrChanged, ino, 0, "")
	return f.Getattr(ctx, ino)
}

// deletions are the inodes a transaction deletes; until it ends they cannot
// be opened.
type deletions struct {
	f    *FS
	inos []uint64
}

// unlinked is called inside the transaction that removed the last link of
// ino: a file still open is deleted at its last release, others now.
func (d *deletions) unlinked(tx *storage.Tx, ino uint64) error {
	f := d.f
	f.mu.Lock()
	if of := f.open[ino]; of != nil {
		of.orphan = true
		f.mu.Unlock()
		return nil
	}
	f.deleting[ino] = true
	f.gen++
	d.inos = append(d.inos, ino)
	f.mu.Unlock()
	return f.dropInode(tx, ino)
}

func (d *deletions) done() {
	if len(d.inos) == 0 {
		return
	}
	d.f.mu.Lock()
	for _, ino := range d.inos {
		delete(d.f.deleting, ino)
	}
	d.f.mu.Unlock()
	d.inos = nil
}

// Unlink implements kernel.Writer.
func (f *FS) Unlink(ctx context.Context, dir uint64, name string) error {
	del := deletions{f: f}
	defer del.done()
	var ino uint64
	err := f.db.WriteFreeing(ctx, func(tx *storage.Tx) error {
		// One statement finds the entry and removes it: an unlink is a
		// few statements, each a round trip into SQLite. A directory's
		// entry comes back with the change's savepoint (dropLink
		// refuses it).
		err := tx.QueryRow(`DELETE FROM dentries WHERE parent = ? AND name = ? RETURNING ino`, dir, name).Scan(&ino)
		if kernel.KindOf(err) == kernel.NotExist {
			return kernel.E(kernel.NotExist, "no such file or directory")
		}
		if err != nil {
			return err
		}
		return f.dropLink(tx, &del, dir, ino, nowNs())
	})
	if err != nil {
		return err
	}
	f.changed(ctx, kernel.EntryRemoved, ino, dir, name)
	return nil
}

// unlink removes the entry dir/name of the non-directory ino.
func (f *FS) unlink(tx *storage.Tx, del *deletions, dir uint64, name string, ino uint64, now int64) error {
	if _, err := tx.Exec(`DELETE FROM dentries WHERE parent = ? AND name = ?`, dir, name); err != nil {
		return err
	}
	return f.dropLink(tx, del, dir, ino, now)
}

// dropLink takes a link from the non-directory ino, whose entry in dir is
// gone, and deletes the inode with its last link. A directory is refused
// (IsDir), for the caller's transaction to take back.
func (f *FS) dropLink(tx *storage.Tx, del *deletions, dir uint64, ino uint64, now int64) error {
	var nlink, mode int64
	if err := tx.QueryRow(`UPDATE inodes SET nlink = nlink - 1, ctime = ? WHERE ino = ? RETURNING nlink, mode`, now, ino).Scan(&nlink, &mode); err != nil {
		return err
	}
	if isDir(uint32(mode)) {
		return kernel.E(kernel.IsDir, "is a directory")
	}
	if err := touch(tx, dir, now); err != nil {
		return err
	}
	if nlink <= 0 {
		return del.unlinked(tx, ino)
	}
	return nil
}

func hasEntries(tx *storage.Tx, dir uint64) (bool, error) {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM dentries WHERE parent = ? LIMIT 1`, dir).Scan(&one)
	if kernel.KindOf(err) == kernel.NotExist {
		return false, nil
	}
	return err == nil, err
}

// Rmdir implements kernel.Writer.
func (f *FS) Rmdir(ctx context.Context, dir uint64, name string) error {
	var ino uint64
	err := f.db.WriteFreeing(ctx, func(tx *storage.Tx) error {
		var mode uint32
		var err error
		if ino, mode, err = lookupTx(tx, dir, name); err != nil {
			return err
		}
		if !isDir(mode) {
			return kernel.E(kernel.NotDir, "not a directory")
		}
		return f.rmdir(tx, dir, name, ino, nowNs())
	})
	if err != nil {
		return err
	}
	f.changed(ctx, kernel.EntryRemoved, ino, dir, name)
	return nil
}

// rmdir removes the empty directory ino, entry dir/name.
func (f *FS) rmdir(tx *storage.Tx, dir uint64, name string, ino uint64, now int64) error {
	full, err := hasEntries(tx, ino)
	if err != nil {
		return err
	}
	if full {
		return kernel.E(kernel.NotEmpty, "directory not empty")
	}
	if _, err := tx.Exec(`DELETE FROM dentries WHERE parent = ? AND name = ?`, dir, name); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM inodes WHERE ino = ?`, ino); err != nil {
		return err
	}
	_, err = tx.Exec(`UPDATE inodes SET nlink = nlink - 1, mtime = ?, ctime = ? WHERE ino = ?`, now, now, dir)
	return err
}

// within reports whether directory dir is anc or lies below it.
func within(tx *storage.Tx, dir, anc uint64) (bool, error) {
	for i := 0; i < 1<<16; i++ {
		if dir == anc {
			return true, nil
		}
		if dir == rootIno {
			return false, nil
		}
		if err := tx.QueryRow(`SELECT parent FROM inodes WHERE ino = ?`, dir).Scan(&dir); err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("directory parents of inode %d form a loop", dir)
}

// Rename implements kernel.Writer.
func (f *FS) Rename(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string, flags uint32) error {
	if flags&^(kernel.RenameNoReplace|kernel.RenameExchange) != 0 ||
		flags&kernel.RenameNoReplace != 0 && flags&kernel.RenameExchange != 0 {
		return kernel.E(kernel.Invalid, "invalid rename flags")
	}
	del := deletions{f: f}
	defer del.done()
	var sino, dino uint64
	var replaced bool
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		var smode, dmode uint32
		var err error
		if sino, smode, err = lookupTx(tx, olddir, oldname); err != nil {
			return err
		}
		if _, err := dirMode(tx, newdir); err != nil {
			return err
		}
		dino, dmode, err = lookupTx(tx, newdir, newname)
		exists := err == nil
		if err != nil && kernel.KindOf(err) != kernel.NotExist {
			return err
		}
		now := nowNs()
		switch {
		case flags&kernel.RenameExchange != 0:
			if !exists {
				return kernel.E(kernel.NotExist, "no such file or directory")
			}
			return f.exchange(tx, olddir, oldname, sino, smode, newdir, newname, dino, dmode, now)
		case exists && flags&kernel.RenameNoReplace != 0:
			return kernel.E(kernel.Exist, "file exists")
		case exists && sino == dino:
			return nil // two names of one file: POSIX says do nothing
		}
		if isDir(smode) {
			if exists && !isDir(dmode) {
				return kernel.E(kernel.NotDir, "not a directory")
			}
			if olddir != newdir {
				cycle, err := within(tx, newdir, sino)
				if err != nil {
					return err
				}
				if cycle {
					return kernel.E(kernel.Invalid, "cannot move a directory into itself")
				}
			}
		} else if exists && isDir(dmode) {
			return kernel.E(kernel.IsDir, "is a directory")
		}
		if exists {
			replaced = true
			if isDir(dmode) {
				if err := f.rmdir(tx, newdir, newname, dino, now); err != nil {
					return err
				}
			} else if err := f.unlink(tx, &del, newdir, newname, dino, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE dentries SET parent = ?, name = ? WHERE parent = ? AND name = ?`,
			newdir, newname, olddir, oldname); err != nil {
			return err
		}
		if isDir(smode) && olddir != newdir {
			if _, err := tx.Exec(`UPDATE inodes SET parent = ? WHERE ino = ?`, newdir, sino); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink - 1 WHERE ino = ?`, olddir); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink + 1 WHERE ino = ?`, newdir); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE inodes SET ctime = ? WHERE ino = ?`, now, sino); err != nil {
			return err
		}
		if err := touch(tx, olddir, now); err != nil {
			return err
		}
		return touch(tx, newdir, now)
	})
	if err != nil {
		return err
	}
	f.changed(ctx, kernel.EntryRemoved, sino, olddir, oldname)
	if replaced || flags&kernel.RenameExchange != 0 {
		f.changed(ctx, kernel.EntryRemoved, dino, newdir, newname)
	}
	f.changed(ctx, kernel.EntryAdded, sino, newdir, newname)
	if flags&kernel.RenameExchange != 0 {
		f.changed(ctx, kernel.EntryAdded, dino, olddir, oldname)
	}
	return nil
}

// exchange swaps two entries (renameat2 RENAME_EXCHANGE).
func (f *FS) exchange(tx *storage.Tx, olddir uint64, oldname string, sino uint64, smode uint32,
	newdir uint64, newname string, dino uint64, dmode uint32, now int64) error {
	if sino == dino {
		return nil
	}
	if olddir != newdir {
		// Neither directory may end up inside itself.
		if isDir(smode) {
			if c, err := within(tx, newdir, sino); err != nil || c {
				return cycleErr(err)
			}
		}
		if isDir(dmode) {
			if c, err := within(tx, olddir, dino); err != nil || c {
				return cycleErr(err)
			}
		}
	}
	if _, err := tx.Exec(`UPDATE dentries SET ino = ? WHERE parent = ? AND name = ?`, dino, olddir, oldname); err != nil {
		return err
	}
	if _, err := tx.Exec(`UPDATE dentries SET ino = ? WHERE parent = ? AND name = ?`, sino, newdir, newname); err != nil {
		return err
	}
	if olddir != newdir {
		for _, m := range []struct {
			ino, to, from uint64
			dir           bool
		}{{sino, newdir, olddir, isDir(smode)}, {dino, olddir, newdir, isDir(dmode)}} {
			if !m.dir {
				continue
			}
			if _, err := tx.Exec(`UPDATE inodes SET parent = ? WHERE ino = ?`, m.to, m.ino); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink - 1 WHERE ino = ?`, m.from); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink + 1 WHERE ino = ?`, m.to); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(`UPDATE inodes SET ctime = ? WHERE ino IN (?, ?)`, now, sino, dino); err != nil {
		return err
	}
	if err := touch(tx, olddir, now); err != nil {
		return err
	}
	return touch(tx, newdir, now)
}

func cycleErr(err error) error {
	if err != nil {
		return err
	}
	return kernel.E(kernel.Invalid, "cannot move a directory into itself")
}

// Setattr implements kernel.Writer. A size change on a file that someone
// has open for writing joins their uncommitted changes; otherwise it is
// committed at once.
func (f *FS) Setattr(ctx context.Context, ino uint64, set kernel.SetAttr) (kernel.Attr, error) {
	if set.Valid&kernel.SetSize != 0 {
		if err := f.setSize(ctx, ino, set.Size); err != nil {
			return kernel.Attr{}, err
		}
	}
	if rest := set; rest.Valid&^kernel.SetSize != 0 {
		rest.Valid &^= kernel.SetSize
		if of := f.openForWrite(ino); of != nil {
			// Committed with the file's content, in one transaction.
			of.flushMu.Lock()
			of.setAttrs(rest)
			of.flushMu.Unlock()
			if err := f.release(ctx, of, false); err != nil {
				return kernel.Attr{}, err
			}
		} else {
			return f.setAttrsNow(ctx, ino, rest)
		}
	}
	f.changed(ctx, kernel.AttrChanged, ino, 0, "")
	return f.Getattr(ctx, ino)
}

// setAttrsNow commits attribute changes of a file nobody writes, and
// returns (and caches) the attributes they leave.
func (f *FS) setAttrsNow(ctx context.Context, ino uint64, set kernel.SetAttr) (kernel.Attr, error) {
	c := kernel.Change{Op: kernel.AttrChanged, Ino: ino, Origin: kernel.OriginFrom(ctx)}
	var a kernel.Attr
	var g uint64
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		now := time.Now()
		var p pendingAttrs
		p.merge(set, now)
		var err error
		if a, err = updateInode(tx, ino, -1, p, now.UnixNano()); err != nil {
			return err
		}
		g = f.settle(c)
		return nil
	})
	if err != nil {
		return kernel.Attr{}, err
	}
	f.attrs.put(a, nil, g)
	f.announce(c)
	return f.finish(a), nil
}

func (f *FS) setSize(ctx context.Context, ino uint64, size int64) error {
	of, err := f.acquire(ctx, ino, false)
	if err != nil {
		return err
	}
	of.flushMu.Lock()
	err = of.truncate(ctx, size)
	of.flushMu.Unlock()
	f.mu.Lock()
	writers := of.writers
	f.mu.Unlock()
	if err == nil && writers == 0 {
		err = of.commit(ctx, false)
	}
	if rerr := f.release(ctx, of, false); err == nil {
		err = rerr
	}
	return err
}
