package vfs

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Byte-range operations on an open file: fallocate(2), lseek(2)'s
// SEEK_DATA and SEEK_HOLE, copy_file_range(2). The store has holes already
// (a block without a row reads as zeros), so these are bookkeeping on the
// file's overlay of blocks: a punched block becomes a hole, a copied block
// points to the source's chunk, and a seek asks which blocks hold data.
// They are committed with the file's other changes.

var (
	_ kernel.Allocator   = (*handle)(nil)
	_ kernel.DataSeeker  = (*handle)(nil)
	_ kernel.RangeCopier = (*handle)(nil)
)

// maxShare bounds the blocks one copy_file_range call shares: the caller
// (cp, the host kernel) asks again for the rest.
const maxShare = 4096

// Allocate implements kernel.Allocator. Space is not reserved (blocks are
// stored when written, and identical ones once): mode 0 and KEEP_SIZE
// check that the disk has room for the range, as a file system that
// reserves would refuse it.
func (h *handle) Allocate(ctx context.Context, off, length int64, mode uint32) error {
	switch {
	case !h.writable:
		return kernel.E(kernel.Permission, "file not open for writing")
	case off < 0 || length <= 0:
		return kernel.E(kernel.Invalid, "fallocate: negative offset or length not positive")
	case off+length > maxFileSize || off+length < 0:
		return kernel.E(kernel.TooLarge, "file too large")
	}
	switch mode {
	case 0, unix.FALLOC_FL_KEEP_SIZE:
		return h.of.allocate(ctx, off+length, mode == 0)
	case unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE:
		return h.of.punch(ctx, off, length)
	}
	return kernel.E(kernel.NotSupported, "fallocate: modes are 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE")
}

// allocate makes sure the disk has room for the file to reach end and,
// with grow, makes it that long (a hole).
func (of *openFile) allocate(ctx context.Context, end int64, grow bool) error {
	of.flushMu.Lock()
	defer of.flushMu.Unlock()
	of.mu.Lock()
	size := of.size
	of.mu.Unlock()
	if end <= size {
		return nil
	}
	if err := of.fs.db.Room(end - size); err != nil {
		return err
	}
	if !grow {
		return nil
	}
	return of.truncate(ctx, end)
}

// punch makes [off, off+length) read as zeros; whole blocks become holes.
func (of *openFile) punch(ctx context.Context, off, length int64) error {
	of.flushMu.Lock()
	defer of.flushMu.Unlock()
	bs := of.fs.blockSize
	of.mu.Lock()
	size := of.size
	of.mu.Unlock()
	end := min(off+length, size)
	for pos := off; pos < end; {
		idx := pos / bs
		start := idx * bs
		lo, hi := pos-start, min(end, start+bs)-start
		if lo == 0 && (hi == bs || start+hi == size) {
			of.mu.Lock()
			e := of.dirty[idx]
			if e == nil {
				e = &dirtyBlock{}
				of.dirty[idx] = e
			}
			if e.chunk != 0 {
				of.superseded = append(of.superseded, e.chunk)
			}
			of.dirtyBytes -= int64(len(e.data))
			e.data, e.chunk = nil, 0 // a block of zeros: committed as a hole
			of.mu.Unlock()
		} else {
			e, err := of.image(ctx, idx)
			if err != nil {
				return err
			}
			of.mu.Lock()
			if lo < int64(len(e.data)) {
				clear(e.data[lo:min(hi, int64(len(e.data)))])
			}
			of.mu.Unlock()
		}
		pos = start + hi
	}
	if off < end {
		of.mu.Lock()
		of.modified()
		of.mu.Unlock()
	}
	return nil
}

// SeekData implements kernel.DataSeeker, to the block: a block the file
// has never written, or has punched, is a hole.
func (h *handle) SeekData(ctx context.Context, off int64, hole bool) (int64, error) {
	of := h.of
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	bs := of.fs.blockSize
	// Commits move blocks from the overlay to the database: none may run
	// between reading the one and the other, or data would look like a
	// hole.
	of.flushMu.Lock()
	defer of.flushMu.Unlock()
	of.mu.Lock()
	size := of.size
	of.mu.Unlock()
	if off >= size {
		return 0, kernel.E(kernel.NoData, "offset at or past the end of the file")
	}
	start, blocks := off/bs, (size+bs-1)/bs
	stored := map[int64]bool{}
	err := of.fs.db.View(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT idx FROM blocks WHERE ino = ? AND idx >= ? AND idx < ?`, of.ino, start, blocks)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int64
			if err := rows.Scan(&idx); err != nil {
				return err
			}
			stored[idx] = true
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	data := func(idx int64) bool {
		if e, ok := of.dirty[idx]; ok {
			return e.data != nil || e.chunk != 0
		}
		return idx < of.holeFrom && idx*bs < of.base && stored[idx]
	}
	if hole {
		// Each step is a block with data, so this ends within the
		// blocks the file has.
		for idx := start; idx < blocks; idx++ {
			if !data(idx) {
				return max(off, idx*bs), nil
			}
		}
		return size, nil
	}
	first := int64(-1)
	consider := func(idx int64) {
		if idx >= start && idx < blocks && (first < 0 || idx < first) && data(idx) {
			first = idx
		}
	}
	for idx := range of.dirty {
		consider(idx)
	}
	for idx := range stored {
		consider(idx)
	}
	if first < 0 {
		return 0, kernel.E(kernel.NoData, "no data after that offset")
	}
	return max(off, first*bs), nil
}

// CopyRange implements kernel.RangeCopier. Whole blocks are shared with
// the source (cp of a big file within the mount takes metadata time and no
// new space); the rest is copied here, never through the caller. The
// source's writes so far are committed first.
func (h *handle) CopyRange(ctx context.Context, src kernel.Handle, srcOff, dstOff, n int64) (int64, error) {
	s, ok := src.(*handle)
	switch {
	case !ok || s.of.fs != h.of.fs:
		return 0, kernel.E(kernel.CrossDevice, "copy from another file system")
	case !h.writable:
		return 0, kernel.E(kernel.Permission, "file not open for writing")
	case srcOff < 0 || dstOff < 0 || n < 0:
		return 0, kernel.E(kernel.Invalid, "negative offset or length")
	}
	return h.of.copyFrom(ctx, s.of, srcOff, dstOff, n)
}

func (dst *openFile) copyFrom(ctx context.Context, src *openFile, srcOff, dstOff, n int64) (int64, error) {
	bs := dst.fs.blockSize
	if err := src.commit(ctx, false); err != nil {
		return 0, err
	}
	src.mu.Lock()
	size := src.size
	src.mu.Unlock()
	if srcOff >= size || n == 0 {
		return 0, nil
	}
	n = min(n, size-srcOff, maxShare*bs)
	switch {
	case dstOff+n > maxFileSize:
		return 0, kernel.E(kernel.TooLarge, "file too large")
	case src == dst && srcOff < dstOff+n && dstOff < srcOff+n:
		return 0, kernel.E(kernel.Invalid, "the ranges overlap")
	}
	var done int64
	copyBytes := func(k int64) error {
		buf := make([]byte, min(k, bs))
		for k > 0 {
			m := min(k, int64(len(buf)))
			got, err := src.readAt(ctx, buf[:m], srcOff+done)
			if err != nil {
				return err
			}
			if got == 0 {
				return nil // the source shrank meanwhile
			}
			if _, err := dst.writeAt(ctx, buf[:got], dstOff+done); err != nil {
				return err
			}
			done += int64(got)
			k -= int64(got)
		}
		return nil
	}
	if srcOff%bs != dstOff%bs {
		// No block of one lines up with a block of the other.
		err := copyBytes(n)
		return done, err
	}
	if head := (bs - srcOff%bs) % bs; head > 0 {
		if err := copyBytes(min(head, n)); err != nil || done == n {
			return done, err
		}
	}
	blocks := (n - done) / bs
	// The source's last block, shorter than a block, is shared too when
	// the copy ends at the end of both files (beyond it a shared block
	// reads as zeros).
	dst.mu.Lock()
	dsize := dst.size
	dst.mu.Unlock()
	if rest := (n - done) % bs; rest > 0 && srcOff+n == size && dstOff+n >= dsize {
		blocks++
	}
	if blocks > 0 {
		k := min(blocks*bs, n-done)
		if err := dst.share(ctx, src.ino, (srcOff+done)/bs, (dstOff+done)/bs, blocks, dstOff+done+k); err != nil {
			return done, err
		}
		done += k
	}
	err := copyBytes(n - done)
	return done, err
}

// share points count blocks of this file, from dstIdx on, to the chunks of
// the committed blocks of srcIno from srcIdx on, and makes the file at
// least end bytes long.
func (dst *openFile) share(ctx context.Context, srcIno uint64, srcIdx, dstIdx, count, end int64) error {
	f := dst.fs
	dst.flushMu.Lock()
	defer dst.flushMu.Unlock()
	chunks := map[int64]int64{}
	var pinned []int64
	// A write transaction: the chunks are pinned where they are found, so
	// none can go before the overlay holds them.
	err := f.db.Write(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT idx, chunk FROM blocks WHERE ino = ? AND idx >= ? AND idx < ?`, srcIno, srcIdx, srcIdx+count)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx, id int64
			if err := rows.Scan(&idx, &id); err != nil {
				return err
			}
			chunks[idx-srcIdx] = id
			f.pin(id)
			pinned = append(pinned, id)
		}
		return rows.Err()
	})
	if err != nil {
		f.dropPins(pinned)
		return err
	}
	bs := f.blockSize
	dst.mu.Lock()
	defer dst.mu.Unlock()
	for i := range count {
		idx := dstIdx + i
		id := chunks[i]
		e := dst.dirty[idx]
		if e == nil {
			if id == 0 && !(idx < dst.holeFrom && idx*bs < dst.base) {
				continue // a hole onto nothing: nothing to record
			}
			e = &dirtyBlock{}
			dst.dirty[idx] = e
		}
		if e.chunk != 0 {
			dst.superseded = append(dst.superseded, e.chunk)
		}
		dst.dirtyBytes -= int64(len(e.data))
		e.data, e.chunk = nil, id
	}
	if end > dst.size {
		dst.size = end
	}
	dst.modified()
	return nil
}
