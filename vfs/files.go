package vfs

import (
	"context"
	"syscall"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// WriteFiles implements kernel.FilesWriter: every file is made in one
// change, with no open file, overlay or lookup of its own. Through the
// path calls a small file costs a create, a write and a commit, each a
// change of its own, plus the lookups of its path: about ten times what
// its rows cost here. A file with From gets that file's blocks (their
// chunks gain a reference), as a clone does.
func (f *FS) WriteFiles(ctx context.Context, files []kernel.FileAt, cred kernel.Cred) (int, error) {
	blocks := make([][]hashed, len(files))
	var need int64
	for i, nf := range files {
		for off := int64(0); off < int64(len(nf.Data)); off += f.blockSize {
			blocks[i] = append(blocks[i], hashBlock(nf.Data[off:min(off+f.blockSize, int64(len(nf.Data)))]))
		}
		need += int64(len(nf.Data))
	}
	if err := f.db.Room(need); err != nil {
		return -1, err
	}
	del := deletions{f: f}
	defer del.done()
	made := make([]kernel.Attr, len(files))
	replaced := make([]uint64, len(files)) // the inode a file took the name of, or 0
	failed := -1
	var changes []kernel.Change
	var g uint64
	origin := kernel.OriginFrom(ctx)
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		changes = changes[:0]
		now := nowNs()
		refs := map[int64]int{} // chunk -> references gained from a From
		for i, nf := range files {
			failed = i
			size := int64(len(nf.Data))
			if nf.From != 0 {
				var mode uint32
				if err := tx.QueryRow(`SELECT mode, size FROM inodes WHERE ino = ?`, nf.From).Scan(&mode, &size); err != nil {
					if kernel.KindOf(err) == kernel.NotExist {
						return notExist(nf.From)
					}
					return err
				}
				if mode&syscall.S_IFMT != syscall.S_IFREG {
					return kernel.E(kernel.Invalid, "not a regular file")
				}
			}
			old, mode, err := lookupTx(tx, nf.Dir, nf.Name)
			switch {
			case err == nil && isDir(mode):
				return kernel.E(kernel.IsDir, "is a directory")
			case err == nil && old == nf.From:
				return kernel.E(kernel.Invalid, "a file cannot be replaced by its own content")
			case err == nil:
				if err := f.unlink(tx, &del, nf.Dir, nf.Name, old, now); err != nil {
					return err
				}
				replaced[i] = old
			case kernel.KindOf(err) != kernel.NotExist:
				return err
			}
			a, err := f.create(tx, nf.Dir, nf.Name, newInode{
				mode: syscall.S_IFREG | nf.Mode&0o7777, nlink: 1, cred: cred, size: size,
			}, now)
			if err != nil {
				return err
			}
			if nf.From != 0 {
				if err := shareBlocks(tx, nf.From, a.Ino, refs); err != nil {
					return err
				}
			}
			for idx, h := range blocks[i] {
				if h.zero {
					continue // a hole
				}
				id, err := f.storeChunk(tx, h, 1)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(`INSERT INTO blocks(ino, idx, chunk) VALUES (?, ?, ?)`, a.Ino, idx, id); err != nil {
					return err
				}
			}
			made[i] = a
		}
		failed = -1
		if err := f.adjustRefs(tx, refs); err != nil {
			return err
		}
		for i, nf := range files {
			if replaced[i] != 0 {
				changes = append(changes, kernel.Change{Op: kernel.EntryRemoved, Ino: replaced[i], Dir: nf.Dir, Name: nf.Name, Origin: origin})
			}
			changes = append(changes, kernel.Change{Op: kernel.EntryAdded, Ino: made[i].Ino, Dir: nf.Dir, Name: nf.Name, Origin: origin})
		}
		for _, c := range changes {
			g = f.settle(c)
		}
		return nil
	})
	if err != nil {
		return failed, err
	}
	for i, nf := range files {
		f.attrs.put(made[i], &dentKey{nf.Dir, nf.Name}, g)
	}
	for _, c := range changes {
		f.announce(c)
	}
	return -1, nil
}
