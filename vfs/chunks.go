package vfs

import (
	"bytes"
	"context"
	"crypto/sha256"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// A chunk is one distinct block content. Blocks point to chunks; chunks
// count those pointers in refs. A chunk with no references survives only
// while an open file's overlay pins it (a block stored early, before the
// file's commit); otherwise it is deleted in the transaction that drops its
// last reference, or at the next start.

type hashed struct {
	data []byte
	sum  [32]byte
	zero bool // all zeros: stored as a hole, not as a chunk
}

var zeros [64 << 10]byte

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func hashBlock(data []byte) hashed {
	if isZero(data) {
		return hashed{data: data, zero: true}
	}
	return hashed{data: data, sum: sha256.Sum256(data)}
}

// storeChunk returns the id of the chunk holding h.data, inserting it if no
// chunk has that content yet, and adds refs references to it. A chunk stored
// with no reference must be pinned in the same transaction.
func (f *FS) storeChunk(tx *storage.Tx, h hashed, refs int) (int64, error) {
	var id, n int64
	err := tx.QueryRow(`INSERT INTO chunks(id, hash, size, refs) VALUES (?, ?, ?, ?)
		ON CONFLICT(hash) DO UPDATE SET refs = refs + excluded.refs RETURNING id, refs`,
		f.lastChunk.Add(1), h.sum[:], len(h.data), refs).Scan(&id, &n)
	if err != nil {
		return 0, err
	}
	if n <= int64(refs) {
		// New, or kept alive only by pins: its data may be missing.
		if _, err := tx.Exec(`INSERT OR IGNORE INTO chunk_data(id, data) VALUES (?, ?)`, id, h.data); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// adjustRefs applies reference count changes and deletes chunks that lost
// their last reference and are not pinned. It runs inside the write
// transaction that changed the blocks.
func (f *FS) adjustRefs(tx *storage.Tx, delta map[int64]int) error {
	for id, d := range delta {
		if id == 0 || d == 0 {
			continue
		}
		if d < 0 && !f.pinned(id) {
			// Most chunks lose their last reference when they lose one
			// (content is rarely shared): try the deletion first, one
			// statement instead of an update and a deletion.
			res, err := tx.Exec(`DELETE FROM chunks WHERE id = ? AND refs + ? <= 0`, id, d)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if _, err := tx.Exec(`DELETE FROM chunk_data WHERE id = ?`, id); err != nil {
					return err
				}
				continue
			}
		}
		var refs int64
		if err := tx.QueryRow(`UPDATE chunks SET refs = refs + ? WHERE id = ? RETURNING refs`, d, id).Scan(&refs); err != nil {
			return err
		}
		if refs <= 0 && !f.pinned(id) {
			if err := deleteChunk(tx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func deleteChunk(tx *storage.Tx, id int64) error {
	if _, err := tx.Exec(`DELETE FROM chunks WHERE id = ?`, id); err != nil {
		return err
	}
	_, err := tx.Exec(`DELETE FROM chunk_data WHERE id = ?`, id)
	return err
}

// pin keeps chunk id alive while an overlay refers to it. Call it inside the
// write transaction that stored or found the chunk.
func (f *FS) pin(id int64) {
	f.pinMu.Lock()
	f.pins[id]++
	f.pinMu.Unlock()
}

func (f *FS) pinned(id int64) bool {
	f.pinMu.Lock()
	defer f.pinMu.Unlock()
	return f.pins[id] > 0
}

// unpin drops overlay references and deletes the chunks that nothing
// references any more.
func (f *FS) unpin(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	f.dropPins(ids)
	return f.db.WriteFreeing(ctx, func(tx *storage.Tx) error {
		for _, id := range ids {
			var refs int64
			err := tx.QueryRow(`SELECT refs FROM chunks WHERE id = ?`, id).Scan(&refs)
			if kernel.KindOf(err) == kernel.NotExist {
				continue
			}
			if err != nil {
				return err
			}
			if refs <= 0 && !f.pinned(id) {
				if err := deleteChunk(tx, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// dropPins drops overlay references without collecting garbage: for
// chunks that blocks reference now, or that unpin checks itself.
func (f *FS) dropPins(ids []int64) {
	f.pinMu.Lock()
	defer f.pinMu.Unlock()
	for _, id := range ids {
		if f.pins[id]--; f.pins[id] <= 0 {
			delete(f.pins, id)
		}
	}
}

// chunk returns the content of chunk id, from the cache if it is there. The
// result must not be modified.
func (f *FS) chunk(ctx context.Context, id int64) ([]byte, error) {
	return f.readChunk(ctx, id, true)
}

// rangeReadMax is the largest read that a chunk missing from the cache
// answers with only the bytes asked for: a random 4 KiB read would
// otherwise read the whole chunk (64 times as much) from SQLite, which
// reads a blob's overflow pages only as far as substr needs them (3x the
// rate on cold random reads). Larger reads, sequential ones through the
// kernel's read-ahead, read the chunk whole and cache it.
const rangeReadMax = 32 << 10

// chunkRange returns bytes [lo, lo+n) of chunk id, fewer at its end: from
// the cache if the chunk is there, else only those bytes from the
// database, not cached.
func (f *FS) chunkRange(ctx context.Context, id, lo int64, n int) ([]byte, error) {
	if d, ok := f.cache.get(id); ok {
		if lo >= int64(len(d)) {
			return nil, nil
		}
		return d[lo:min(lo+int64(n), int64(len(d)))], nil
	}
	return f.chunkRow(ctx, `SELECT substr(data, ?, ?) FROM chunk_data WHERE id = ?`, lo+1, n, id)
}

// chunkRow reads a chunk's bytes with a one-row query. Chunks never
// change: the reader pool serves committed ones without waiting for the
// writer; a chunk of the open batch needs the writer.
func (f *FS) chunkRow(ctx context.Context, q string, args ...any) ([]byte, error) {
	var data []byte
	err := f.db.QueryRow(ctx, q, args...).Scan(&data)
	if kernel.KindOf(err) == kernel.NotExist {
		err = f.row(ctx, q, args, &data)
	}
	return data, err
}

// readChunk reads a chunk through the cache; keep says whether a chunk
// read from the database is cached (not for readers that keep their own
// copy: the site server and its store).
func (f *FS) readChunk(ctx context.Context, id int64, keep bool) ([]byte, error) {
	if d, ok := f.cache.get(id); ok {
		return d, nil
	}
	g := f.cache.generation()
	data, err := f.chunkRow(ctx, `SELECT data FROM chunk_data WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if keep {
		f.cache.put(id, data, g)
	}
	return data, nil
}

// Snapshot implements kernel.Snapshotter: the committed content of a file,
// read in one transaction, so uncommitted writes and concurrent commits are
// invisible.
func (f *FS) Snapshot(ctx context.Context, ino uint64) ([]byte, error) {
	var out []byte
	g := f.cache.generation() // before the transaction's snapshot
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		var size, mode int64
		if err := tx.QueryRow(`SELECT size, mode FROM inodes WHERE ino = ?`, ino).Scan(&size, &mode); err != nil {
			if kernel.KindOf(err) == kernel.NotExist {
				return notExist(ino)
			}
			return err
		}
		if a := (kernel.Attr{Mode: uint32(mode)}); !a.IsRegular() {
			return kernel.E(kernel.Invalid, "not a regular file")
		}
		out = make([]byte, size)
		rows, err := tx.Query(`SELECT idx, chunk FROM blocks WHERE ino = ?`, ino)
		if err != nil {
			return err
		}
		type block struct{ idx, chunk int64 }
		var blocks []block
		for rows.Next() {
			var b block
			if err := rows.Scan(&b.idx, &b.chunk); err != nil {
				rows.Close()
				return err
			}
			blocks = append(blocks, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, b := range blocks {
			data, ok := f.cache.get(b.chunk)
			if !ok {
				if err := tx.QueryRow(`SELECT data FROM chunk_data WHERE id = ?`, b.chunk).Scan(&data); err != nil {
					return err
				}
				f.cache.put(b.chunk, data, g)
			}
			if off := b.idx * f.blockSize; off < size {
				copy(out[off:], data)
			}
		}
		return nil
	})
	return out, err
}

// dropBlocks deletes the blocks of ino from index from on and counts the
// references they held in delta.
func dropBlocks(tx *storage.Tx, ino uint64, from int64, delta map[int64]int) error {
	return countChunks(tx, delta, -1, `DELETE FROM blocks WHERE ino = ? AND idx >= ? RETURNING chunk`, ino, from)
}

// shareBlocks gives the inode to the blocks of the inode from and counts
// the references their chunks gain in delta.
func shareBlocks(tx *storage.Tx, from, to uint64, delta map[int64]int) error {
	return countChunks(tx, delta, +1, `INSERT INTO blocks(ino, idx, chunk) SELECT ?, idx, chunk FROM blocks WHERE ino = ? RETURNING chunk`, to, from)
}

// countChunks runs q, which returns the chunk of each block row it
// changed, and adds by to each chunk's count in delta.
func countChunks(tx *storage.Tx, delta map[int64]int, by int, q string, args ...any) error {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		delta[id] += by
	}
	return rows.Err()
}

// dropInode deletes an inode, its blocks and the chunks only it referenced.
func (f *FS) dropInode(tx *storage.Tx, ino uint64) error {
	delta := map[int64]int{}
	if err := dropBlocks(tx, ino, 0, delta); err != nil {
		return err
	}
	if err := f.adjustRefs(tx, delta); err != nil {
		return err
	}
	if f.anyXattrs.Load() {
		if _, err := tx.Exec(`DELETE FROM xattrs WHERE ino = ?`, ino); err != nil {
			return err
		}
	}
	_, err := tx.Exec(`DELETE FROM inodes WHERE ino = ?`, ino)
	f.attrs.forget(kernel.Change{Op: kernel.AttrChanged, Ino: ino})
	return err
}
