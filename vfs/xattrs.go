package vfs

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Extended attributes in the user. namespace (setfattr, rsync -X, cp
// --preserve=xattr), a row each in xattrs. Other namespaces are not kept:
// security.* and system.* (capabilities, ACLs) are the host's business, and
// a name in them reads as absent without a query: the host kernel asks for
// security.capability at every open for writing.

var _ kernel.Xattrs = (*FS)(nil)

const (
	xattrPrefix = "user."
	// maxXattrBytes caps what one inode's attributes hold, names and
	// values (ext4 keeps them in one block; this is more generous).
	maxXattrBytes = 1 << 20
)

func kept(name string) bool { return strings.HasPrefix(name, xattrPrefix) }

// Getxattr implements kernel.Xattrs.
func (f *FS) Getxattr(ctx context.Context, ino uint64, name string) ([]byte, error) {
	if !kept(name) {
		return nil, kernel.E(kernel.NoAttr, "no such attribute")
	}
	var v []byte
	err := f.row(ctx, `SELECT value FROM xattrs WHERE ino = ? AND name = ?`, []any{ino, name}, &v)
	if kernel.KindOf(err) == kernel.NotExist {
		if _, err := f.Getattr(ctx, ino); err != nil {
			return nil, err
		}
		return nil, kernel.E(kernel.NoAttr, "no such attribute")
	}
	if v == nil {
		v = []byte{}
	}
	return v, err
}

// Listxattr implements kernel.Xattrs.
func (f *FS) Listxattr(ctx context.Context, ino uint64) ([]string, error) {
	var names []string
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT name FROM xattrs WHERE ino = ? ORDER BY name`, ino)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rows.Err()
	})
	return names, err
}

// Setxattr implements kernel.Xattrs. The inode's ctime moves.
func (f *FS) Setxattr(ctx context.Context, ino uint64, name string, value []byte, flags uint32) error {
	switch {
	case !kept(name):
		return kernel.E(kernel.NotSupported, "only user. attributes are kept")
	case len(name) == len(xattrPrefix) || len(name) > 255:
		return kernel.E(kernel.Invalid, "an attribute name is user. and 1 to 250 bytes")
	case flags&^uint32(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 || flags == unix.XATTR_CREATE|unix.XATTR_REPLACE:
		return kernel.E(kernel.Invalid, "bad setxattr flags")
	}
	if err := f.db.Room(int64(len(name) + len(value))); err != nil {
		return err
	}
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		var old, total int64
		err := tx.QueryRow(`SELECT coalesce(sum(CASE WHEN name = ? THEN 1 ELSE 0 END), 0),
			coalesce(sum(CASE WHEN name = ? THEN 0 ELSE length(name) + length(value) END), 0)
			FROM xattrs WHERE ino = ?`, name, name, ino).Scan(&old, &total)
		if err != nil {
			return err
		}
		switch {
		case flags&unix.XATTR_CREATE != 0 && old > 0:
			return kernel.E(kernel.Exist, "the attribute exists")
		case flags&unix.XATTR_REPLACE != 0 && old == 0:
			return kernel.E(kernel.NoAttr, "no such attribute")
		case total+int64(len(name)+len(value)) > maxXattrBytes:
			return kernel.E(kernel.NoSpace, fmt.Sprintf("a file's attributes hold at most %d bytes", maxXattrBytes))
		}
		if err := touchXattrInode(tx, ino); err != nil {
			return err
		}
		f.anyXattrs.Store(true) // before the row exists: a deletion that follows sees it
		_, err = tx.Exec(`INSERT INTO xattrs(ino, name, value) VALUES (?, ?, ?)
			ON CONFLICT(ino, name) DO UPDATE SET value = excluded.value`, ino, name, value)
		return err
	})
	if err != nil {
		return err
	}
	f.changed(ctx, kernel.AttrChanged, ino, 0, "")
	return nil
}

// Removexattr implements kernel.Xattrs.
func (f *FS) Removexattr(ctx context.Context, ino uint64, name string) error {
	if !kept(name) {
		return kernel.E(kernel.NoAttr, "no such attribute")
	}
	err := f.db.WriteFreeing(ctx, func(tx *storage.Tx) error {
		if err := touchXattrInode(tx, ino); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM xattrs WHERE ino = ? AND name = ?`, ino, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kernel.E(kernel.NoAttr, "no such attribute") // the change, ctime too, is taken back
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.changed(ctx, kernel.AttrChanged, ino, 0, "")
	return nil
}

// touchXattrInode moves the ctime of ino, whose attributes change, and
// checks that it exists and may have user. attributes: a regular file or a
// directory, as Linux allows (an error takes the change back).
func touchXattrInode(tx *storage.Tx, ino uint64) error {
	var mode int64
	if err := tx.QueryRow(`UPDATE inodes SET ctime = ? WHERE ino = ? RETURNING mode`, nowNs(), ino).Scan(&mode); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return notExist(ino)
		}
		return err
	}
	a := kernel.Attr{Mode: uint32(mode)}
	if !a.IsRegular() && !a.IsDir() {
		return kernel.E(kernel.NotPermitted, "user. attributes are for files and directories")
	}
	return nil
}
