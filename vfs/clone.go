package vfs

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// maxClone bounds the inodes one clone copies, so that one transaction
// stays reasonable.
const maxClone = 1_000_000

// Clone implements kernel.Cloner: ino and everything below it are copied
// to dir/name in one transaction. The copies share the originals' chunks
// (their reference counts go up), so only inodes, entries and block rows
// are written. Hard links inside the tree stay links; writes not yet
// flushed by open files are not in the copy.
func (f *FS) Clone(ctx context.Context, ino, dir uint64, name string, cred kernel.Cred) (kernel.Attr, error) {
	return f.writeEntry(ctx, dir, name, func(tx *storage.Tx) (kernel.Attr, error) {
		return f.cloneIn(tx, ino, dir, name, cred)
	})
}

// cloneIn is Clone's transaction; it returns the copy's attributes.
func (f *FS) cloneIn(tx *storage.Tx, ino, dir uint64, name string, cred kernel.Cred) (kernel.Attr, error) {
	now := nowNs()
	var mode, nlink uint32
	if err := tx.QueryRow(`SELECT mode, nlink FROM inodes WHERE ino = ?`, ino).Scan(&mode, &nlink); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return kernel.Attr{}, notExist(ino)
		}
		return kernel.Attr{}, err
	}
	// A directory cannot be cloned into itself.
	if isDir(mode) {
		for d := dir; ; {
			if d == ino {
				return kernel.Attr{}, kernel.E(kernel.Invalid, "cannot clone a directory into itself")
			}
			if d == rootIno {
				break
			}
			if err := tx.QueryRow(`SELECT parent FROM inodes WHERE ino = ?`, d).Scan(&d); err != nil {
				return kernel.Attr{}, err
			}
		}
	}
	var pmode uint32
	if err := tx.QueryRow(`SELECT mode FROM inodes WHERE ino = ?`, dir).Scan(&pmode); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return kernel.Attr{}, notExist(dir)
		}
		return kernel.Attr{}, err
	}
	if !isDir(pmode) {
		return kernel.Attr{}, kernel.E(kernel.NotDir, "not a directory")
	}
	c := newCloner(f, tx)
	root, err := c.copy(ino, mode, nlink, dir)
	if err != nil {
		return kernel.Attr{}, err
	}
	if _, err := tx.Exec(`INSERT INTO dentries(parent, name, ino) VALUES (?, ?, ?)`, dir, name, root); err != nil {
		return kernel.Attr{}, err
	}
	if !isDir(mode) {
		c.links[root]++
	}
	// Files linked from several places in the tree keep one inode.
	if err := c.finish(); err != nil {
		return kernel.Attr{}, err
	}
	if isDir(mode) {
		if _, err := tx.Exec(`UPDATE inodes SET nlink = nlink + 1 WHERE ino = ?`, dir); err != nil {
			return kernel.Attr{}, err
		}
	}
	if err := touch(tx, dir, now); err != nil {
		return kernel.Attr{}, err
	}
	var size, mtime, atime, ctime int64
	var uid, gid uint32
	if err := tx.QueryRow(`SELECT mode, nlink, uid, gid, size, atime, mtime, ctime FROM inodes WHERE ino = ?`, root).
		Scan(&mode, &nlink, &uid, &gid, &size, &atime, &mtime, &ctime); err != nil {
		return kernel.Attr{}, err
	}
	return kernel.Attr{Ino: root, Mode: mode, Nlink: nlink, UID: uid, GID: gid, Size: size, Blocks: (size + 511) / 512,
		Atime: time.Unix(0, atime), Mtime: time.Unix(0, mtime), Ctime: time.Unix(0, ctime)}, nil
}

// cloner copies one tree inside a transaction. Its statements are few
// per file (an inode, its blocks, its entry), since a deploy clones its
// whole site each time: modes and link counts come with each directory's
// listing, chunk references are counted here and added once per chunk.
type cloner struct {
	f      *FS
	tx     *storage.Tx
	mapped map[uint64]uint64 // original inode -> its copy
	links  map[uint64]int    // copy of a non-directory -> entries pointing to it
	nlink  map[uint64]uint32 // copy of a non-directory -> its original's link count
	refs   map[int64]int     // chunk -> references the copies add
	count  int
}

func newCloner(f *FS, tx *storage.Tx) *cloner {
	return &cloner{f: f, tx: tx, mapped: map[uint64]uint64{}, links: map[uint64]int{},
		nlink: map[uint64]uint32{}, refs: map[int64]int{}}
}

// copy copies ino (of the given mode and link count), whose copy goes in
// the directory parent (a copy), and returns the copy's inode number.
func (c *cloner) copy(ino uint64, mode, nlink uint32, parent uint64) (uint64, error) {
	if n, ok := c.mapped[ino]; ok { // a hard link already copied
		return n, nil
	}
	if c.count++; c.count > maxClone {
		return 0, kernel.E(kernel.TooLarge, "too many files to clone at once")
	}
	n := c.f.lastIno.Add(1)
	c.mapped[ino] = n
	newParent := uint64(0)
	if isDir(mode) {
		newParent = parent
	}
	if _, err := c.tx.Exec(`INSERT INTO inodes(ino, mode, nlink, uid, gid, size, atime, mtime, ctime, btime, parent, target, rdev)
		SELECT ?, mode, nlink, uid, gid, size, atime, mtime, ctime, btime, ?, target, rdev FROM inodes WHERE ino = ?`, n, newParent, ino); err != nil {
		return 0, err
	}
	if _, err := c.tx.Exec(`INSERT INTO xattrs(ino, name, value) SELECT ?, name, value FROM xattrs WHERE ino = ?`, n, ino); err != nil {
		return 0, err
	}
	if !isDir(mode) {
		c.nlink[n] = nlink
		return n, shareBlocks(c.tx, ino, n, c.refs)
	}
	rows, err := c.tx.Query(`SELECT d.name, d.ino, i.mode, i.nlink FROM dentries d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ?`, ino)
	if err != nil {
		return 0, err
	}
	type ent struct {
		name        string
		ino         uint64
		mode, nlink uint32
	}
	var ents []ent
	for rows.Next() {
		var e ent
		if err := rows.Scan(&e.name, &e.ino, &e.mode, &e.nlink); err != nil {
			rows.Close()
			return 0, err
		}
		ents = append(ents, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, e := range ents {
		child, err := c.copy(e.ino, e.mode, e.nlink, n)
		if err != nil {
			return 0, err
		}
		if _, err := c.tx.Exec(`INSERT INTO dentries(parent, name, ino) VALUES (?, ?, ?)`, n, e.name, child); err != nil {
			return 0, err
		}
		if !isDir(e.mode) {
			c.links[child]++
		}
	}
	return n, nil
}

// finish adds the copies' chunk references and sets the link count of
// each copied file to the entries the copy has (a file linked from outside
// the tree has fewer in the copy).
func (c *cloner) finish() error {
	if err := c.f.adjustRefs(c.tx, c.refs); err != nil {
		return err
	}
	for copyIno, k := range c.links {
		if uint32(k) == c.nlink[copyIno] {
			continue
		}
		if _, err := c.tx.Exec(`UPDATE inodes SET nlink = ? WHERE ino = ?`, k, copyIno); err != nil {
			return err
		}
	}
	return nil
}

// Digest implements kernel.Digester: the SHA-256 of the concatenated
// SHA-256 of each block of the file (a hole counts as zeros), computed from
// the chunks' hashes without reading the content. A client computes the
// same over its file with BlockSize blocks. It is of what is committed, as
// a reader sees it after the writer's close.
func (f *FS) Digest(ctx context.Context, ino uint64) ([]byte, error) {
	var size int64
	hashes := map[int64][]byte{}
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		var mode uint32
		if err := tx.QueryRow(`SELECT mode, size FROM inodes WHERE ino = ?`, ino).Scan(&mode, &size); err != nil {
			if kernel.KindOf(err) == kernel.NotExist {
				return notExist(ino)
			}
			return err
		}
		if mode&syscall.S_IFMT != syscall.S_IFREG {
			return kernel.E(kernel.Invalid, "not a regular file")
		}
		rows, err := tx.Query(`SELECT b.idx, c.hash, c.size FROM blocks b JOIN chunks c ON c.id = b.chunk WHERE b.ino = ?`, ino)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx, csize int64
			var h []byte
			if err := rows.Scan(&idx, &h, &csize); err != nil {
				return err
			}
			hashes[idx] = f.fullBlock(h, csize, idx, size)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return f.digestOf(ctx, ino, size, hashes)
}

// fullBlock is a chunk's hash when the chunk fills its block, else nil: a
// chunk shorter than its block (zeros follow) is hashed as read.
func (f *FS) fullBlock(h []byte, csize, idx, size int64) []byte {
	if csize != min(f.blockSize, size-idx*f.blockSize) {
		return nil
	}
	return h
}

// digestOf combines the blocks' hashes of a file of size bytes; blocks
// absent from hashes are holes, nil ones are read.
func (f *FS) digestOf(ctx context.Context, ino uint64, size int64, hashes map[int64][]byte) ([]byte, error) {
	all := sha256.New()
	n := (size + f.blockSize - 1) / f.blockSize
	var zero []byte
	for idx := int64(0); idx < n; idx++ {
		want := min(f.blockSize, size-idx*f.blockSize)
		h, ok := hashes[idx]
		if !ok || h == nil {
			b, err := f.readBlock(ctx, ino, idx, want, ok)
			if err != nil {
				return nil, err
			}
			if b == nil {
				if int64(len(zero)) != want {
					zero = make([]byte, want)
				}
				b = zero
			}
			s := sha256.Sum256(b)
			h = s[:]
		}
		all.Write(h)
	}
	return all.Sum(nil), nil
}

// readBlock reads block idx of ino (want bytes), or returns nil for a hole.
func (f *FS) readBlock(ctx context.Context, ino uint64, idx, want int64, present bool) ([]byte, error) {
	if !present {
		return nil, nil
	}
	b := make([]byte, want)
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		var data []byte
		if err := tx.QueryRow(`SELECT data FROM chunk_data WHERE id = (SELECT chunk FROM blocks WHERE ino = ? AND idx = ?)`, ino, idx).Scan(&data); err != nil {
			return err
		}
		copy(b, data)
		return nil
	})
	return b, err
}

// subtree selects every entry below the directory ?1, with its path,
// mode, size and target, but for the entries of ?1 named in the JSON
// array ?2 and what is below them.
const subtree = `WITH RECURSIVE t(ino, path, mode, size, target) AS (
	SELECT d.ino, d.name, i.mode, i.size, i.target FROM dentries d JOIN inodes i ON i.ino = d.ino
	WHERE d.parent = ?1 AND d.name NOT IN (SELECT value FROM json_each(?2))
	UNION ALL
	SELECT d.ino, t.path || '/' || d.name, i.mode, i.size, i.target FROM t JOIN dentries d ON d.parent = t.ino JOIN inodes i ON i.ino = d.ino
	WHERE (t.mode & 61440) = 16384
)`

// Manifest implements kernel.Manifester: one query for the whole tree
// (its entries, each with the chunk hashes of its blocks), digests as
// Digest. It reads the committed tree on the reader pool, after a commit,
// so that a large tree does not hold up the writers.
func (f *FS) Manifest(ctx context.Context, dir uint64, skip []string) ([]kernel.ManifestEntry, error) {
	if err := f.db.Commit(ctx); err != nil {
		return nil, err
	}
	skipJSON, err := json.Marshal(append([]string{}, skip...)) // never null
	if err != nil {
		return nil, err
	}
	var out []kernel.ManifestEntry
	var entryIno []uint64 // by entry of out
	type file struct {
		size   int64
		blocks map[int64][]byte // block -> hash (nil: read it)
		digest []byte
	}
	files := map[uint64]*file{} // regular files by inode: hard links share one
	err = f.db.Read(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(subtree+` SELECT t.path, t.ino, t.mode, t.size, coalesce(t.target, ''), b.idx, c.hash, c.size
			FROM t LEFT JOIN blocks b ON b.ino = t.ino AND (t.mode & 61440) = 32768 LEFT JOIN chunks c ON c.id = b.chunk
			ORDER BY t.path, b.idx`, dir, string(skipJSON))
		if err != nil {
			return err
		}
		defer rows.Close()
		last := ""
		for rows.Next() {
			var e kernel.ManifestEntry
			var ino uint64
			var idx, csize *int64
			var h []byte
			if err := rows.Scan(&e.Path, &ino, &e.Mode, &e.Size, &e.Target, &idx, &h, &csize); err != nil {
				return err
			}
			if len(out) == 0 || e.Path != last {
				if len(out) >= maxClone {
					return kernel.E(kernel.TooLarge, "too many entries")
				}
				last = e.Path
				out = append(out, e)
				entryIno = append(entryIno, ino)
				if e.Mode&syscall.S_IFMT == syscall.S_IFREG && files[ino] == nil {
					files[ino] = &file{size: e.Size, blocks: map[int64][]byte{}}
				}
			}
			if idx != nil && h != nil && csize != nil {
				fl := files[ino]
				fl.blocks[*idx] = f.fullBlock(h, *csize, *idx, fl.size)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for ino, fl := range files {
		if fl.digest, err = f.digestOf(ctx, ino, fl.size, fl.blocks); err != nil {
			return nil, err
		}
	}
	for i, ino := range entryIno {
		if fl := files[ino]; fl != nil {
			out[i].Digest = fl.digest
		}
	}
	return out, nil
}
