package vfs

import (
	"context"
	"math"
	"sync"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// openFile is the state shared by all open handles of one file: the overlay
// of changes not committed yet. See the package documentation.
type openFile struct {
	fs  *FS
	ino uint64

	// Guarded by fs.mu.
	refs    int
	writers int
	orphan  bool // unlinked while open: deleted at the last release

	// flushMu orders this file's writes, truncations and commits. It is
	// held across their SQLite writes; readers never take it.
	flushMu sync.Mutex

	mu         sync.Mutex // guards the fields below; never held across a SQLite call
	size       int64      // size including uncommitted changes
	base       int64      // committed size
	holeFrom   int64      // committed blocks from this index on read as holes (uncommitted truncation)
	dirty      map[int64]*dirtyBlock
	dirtyBytes int64
	changed    bool
	attrs      pendingAttrs // attribute changes to commit with the content
	superseded []int64      // pinned chunks no longer in the overlay, to unpin at the next commit

	// committed caches which chunk each committed block points to (0 for a
	// hole). Only this file's commits change that; each bumps gen and
	// clears the cache.
	committed map[int64]int64
	gen       uint64
}

// pendingAttrs are attribute changes made while a file is open for writing
// (tar sets times, owner and mode on the open file before closing it). They
// are committed with the content, in the same transaction.
type pendingAttrs struct {
	set          kernel.SetMask // which of the fields below are set
	mode         uint32         // permission bits
	uid, gid     uint32
	atime, mtime time.Time
	// ctime is when the last of these changes (or of the content) was
	// made: shown at once, committed as it is (POSIX marks ctime at the
	// change, not at close).
	ctime time.Time
}

func (p *pendingAttrs) apply(a *kernel.Attr) {
	if p.set&kernel.SetMode != 0 {
		a.Mode = a.Mode&syscall.S_IFMT | p.mode
	}
	if p.set&kernel.SetUID != 0 {
		a.UID = p.uid
	}
	if p.set&kernel.SetGID != 0 {
		a.GID = p.gid
	}
	if p.set&kernel.SetAtime != 0 {
		a.Atime = p.atime
	}
	if p.set&kernel.SetMtime != 0 {
		a.Mtime = p.mtime
	}
	if !p.ctime.IsZero() {
		a.Ctime = p.ctime
	}
}

// modified records a change of content: mtime moves to now. of.mu must be
// held.
func (of *openFile) modified() {
	now := time.Now()
	of.attrs.mtime, of.attrs.ctime = now, now
	of.attrs.set |= kernel.SetMtime
	of.changed = true
}

// merge adds the changes of set, made at now.
func (p *pendingAttrs) merge(set kernel.SetAttr, now time.Time) {
	p.ctime = now
	if set.Valid&kernel.SetMode != 0 {
		p.mode, p.set = set.Mode&0o7777, p.set|kernel.SetMode
	}
	if set.Valid&kernel.SetUID != 0 {
		p.uid, p.set = set.UID, p.set|kernel.SetUID
	}
	if set.Valid&kernel.SetGID != 0 {
		p.gid, p.set = set.GID, p.set|kernel.SetGID
	}
	switch {
	case set.Valid&kernel.SetAtimeNow != 0:
		p.atime, p.set = now, p.set|kernel.SetAtime
	case set.Valid&kernel.SetAtime != 0:
		p.atime, p.set = set.Atime, p.set|kernel.SetAtime
	}
	switch {
	case set.Valid&kernel.SetMtimeNow != 0:
		p.mtime, p.set = now, p.set|kernel.SetMtime
	case set.Valid&kernel.SetMtime != 0:
		p.mtime, p.set = set.Mtime, p.set|kernel.SetMtime
	}
}

// updateInode writes the attributes of p (and the size, unless it is -1) to
// inode ino, with ctime p's, or now, and returns the row it leaves. It
// fails with NotExist if ino is gone.
func updateInode(tx *storage.Tx, ino uint64, size int64, p pendingAttrs, now int64) (kernel.Attr, error) {
	if !p.ctime.IsZero() {
		now = p.ctime.UnixNano()
	}
	a, err := scanAttr(tx.QueryRow(`UPDATE inodes SET
		size = CASE WHEN ? THEN ? ELSE size END,
		mode = CASE WHEN ? THEN (mode & 61440) | ? ELSE mode END,
		uid = CASE WHEN ? THEN ? ELSE uid END,
		gid = CASE WHEN ? THEN ? ELSE gid END,
		atime = CASE WHEN ? THEN ? ELSE atime END,
		mtime = CASE WHEN ? THEN ? ELSE mtime END,
		ctime = ?
		WHERE ino = ? RETURNING `+returnedAttrs,
		size >= 0, size,
		p.set&kernel.SetMode != 0, p.mode,
		p.set&kernel.SetUID != 0, p.uid,
		p.set&kernel.SetGID != 0, p.gid,
		p.set&kernel.SetAtime != 0, p.atime.UnixNano(),
		p.set&kernel.SetMtime != 0, p.mtime.UnixNano(),
		now, ino))
	if kernel.KindOf(err) == kernel.NotExist {
		return kernel.Attr{}, notExist(ino)
	}
	return a, err
}

// setAttrs records attribute changes in the overlay. flushMu must be held.
func (of *openFile) setAttrs(set kernel.SetAttr) {
	of.mu.Lock()
	defer of.mu.Unlock()
	of.attrs.merge(set, time.Now())
	of.changed = true
}

// dirtyBlock is an uncommitted block: its content in data, or, once stored
// early, in the pinned chunk; both empty means a block of zeros.
type dirtyBlock struct {
	data  []byte
	chunk int64
}

const noHole = math.MaxInt64

func (f *FS) newOpenFile(ino uint64, size int64) *openFile {
	return &openFile{fs: f, ino: ino, size: size, base: size, holeFrom: noHole,
		dirty: make(map[int64]*dirtyBlock), committed: make(map[int64]int64)}
}

// acquire returns the open state of regular file ino, creating it if this is
// the first open.
func (f *FS) acquire(ctx context.Context, ino uint64, writable bool) (*openFile, error) {
	for {
		f.mu.Lock()
		if of := f.open[ino]; of != nil {
			of.refs++
			if writable {
				of.writers++
			}
			f.mu.Unlock()
			return of, nil
		}
		gen := f.gen
		f.mu.Unlock()

		// The first open reads the committed size. If meanwhile an
		// openFile of ino went (its last commit may postdate the
		// read) or an inode was deleted, read again.
		var size, mode, nlink int64
		err := f.row(ctx, `SELECT size, mode, nlink FROM inodes WHERE ino = ?`, []any{ino}, &size, &mode, &nlink)
		if kernel.KindOf(err) == kernel.NotExist || err == nil && nlink <= 0 {
			return nil, notExist(ino)
		}
		if err != nil {
			return nil, err
		}
		a := kernel.Attr{Mode: uint32(mode)}
		switch {
		case a.IsDir():
			return nil, kernel.E(kernel.IsDir, "is a directory")
		case !a.IsRegular():
			return nil, kernel.E(kernel.Invalid, "not a regular file")
		}
		f.mu.Lock()
		if f.gen != gen || f.open[ino] != nil || f.deleting[ino] {
			deleting := f.deleting[ino]
			f.mu.Unlock()
			if deleting {
				return nil, notExist(ino)
			}
			continue
		}
		of := f.newOpenFile(ino, size)
		f.open[ino] = of
		of.refs++
		if writable {
			of.writers++
		}
		f.mu.Unlock()
		return of, nil
	}
}

// acquireNew is acquire for a file this process just created: its size is
// known to be zero.
func (f *FS) acquireNew(ino uint64, writable bool) *openFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	of := f.open[ino]
	if of == nil {
		of = f.newOpenFile(ino, 0)
		f.open[ino] = of
	}
	of.refs++
	if writable {
		of.writers++
	}
	return of
}

// openForWrite returns, with a reference taken, the open state of ino if the
// file is open for writing or has uncommitted changes; nil otherwise.
func (f *FS) openForWrite(ino uint64) *openFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	of := f.open[ino]
	if of == nil {
		return nil
	}
	of.mu.Lock()
	pending := of.changed
	of.mu.Unlock()
	if of.writers == 0 && !pending {
		return nil
	}
	of.refs++
	return of
}

// release drops one reference to of. The last one commits what is left,
// frees the overlay and, for a file unlinked while open, deletes it.
func (f *FS) release(ctx context.Context, of *openFile, writable bool) error {
	f.mu.Lock()
	of.refs--
	if writable {
		of.writers--
	}
	last := of.refs == 0
	orphan := of.orphan
	f.mu.Unlock()
	if !last {
		return nil
	}
	var err error
	if !orphan {
		err = of.commit(ctx, false)
	}
	f.mu.Lock()
	if of.refs > 0 { // opened again meanwhile; it keeps the overlay
		f.mu.Unlock()
		return err
	}
	delete(f.open, of.ino)
	f.gen++
	orphan = of.orphan
	if orphan {
		f.deleting[of.ino] = true
	}
	f.mu.Unlock()

	of.flushMu.Lock()
	of.mu.Lock()
	pinned := of.dropOverlay()
	of.mu.Unlock()
	of.flushMu.Unlock()
	if uerr := f.unpin(ctx, pinned); err == nil {
		err = uerr
	}
	if orphan {
		derr := f.db.WriteFreeing(ctx, func(tx *storage.Tx) error { return f.dropInode(tx, of.ino) })
		f.mu.Lock()
		delete(f.deleting, of.ino)
		f.mu.Unlock()
		if err == nil {
			err = derr
		}
	}
	return err
}

func (of *openFile) overlayAttr(a *kernel.Attr) {
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.changed {
		a.Size = of.size
	}
	of.attrs.apply(a)
}

// image makes sure the overlay holds block idx's content in memory, loading
// it from a stored chunk or the committed file if need be. flushMu must be
// held.
func (of *openFile) image(ctx context.Context, idx int64) (*dirtyBlock, error) {
	bs := of.fs.blockSize
	of.mu.Lock()
	e := of.dirty[idx]
	if e != nil && e.data != nil {
		of.mu.Unlock()
		return e, nil
	}
	var chunk int64
	committed := false
	if e != nil {
		chunk = e.chunk
	} else if idx < of.holeFrom && idx*bs < of.base {
		committed = true
	}
	of.mu.Unlock()

	if committed {
		var err error
		if chunk, err = of.committedChunk(ctx, idx); err != nil {
			return nil, err
		}
	}
	var src []byte
	if chunk != 0 {
		var err error
		if src, err = of.fs.chunk(ctx, chunk); err != nil {
			return nil, err
		}
	}
	data := make([]byte, len(src))
	copy(data, src)

	of.mu.Lock()
	defer of.mu.Unlock()
	if e == nil {
		e = &dirtyBlock{}
		of.dirty[idx] = e
	}
	if e.chunk != 0 {
		of.superseded = append(of.superseded, e.chunk)
		e.chunk = 0
	}
	e.data = data
	of.dirtyBytes += int64(len(data))
	return e, nil
}

func (of *openFile) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	of.mu.Lock()
	size := of.size
	of.mu.Unlock()
	if off >= size || len(p) == 0 {
		return 0, nil
	}
	n := int(min(int64(len(p)), size-off))
	p = p[:n]
	bs := of.fs.blockSize
	for pos := off; pos < off+int64(n); {
		idx := pos / bs
		start := idx * bs
		lo := pos - start
		hi := min(off+int64(n), start+bs) - start
		dst := p[pos-off : pos-off+(hi-lo)]
		if err := of.readBlock(ctx, idx, lo, dst); err != nil {
			return int(pos - off), err
		}
		pos = start + hi
	}
	return n, nil
}

// readBlock fills dst from block idx at offset lo.
func (of *openFile) readBlock(ctx context.Context, idx, lo int64, dst []byte) error {
	for attempt := 0; ; attempt++ {
		of.mu.Lock()
		e := of.dirty[idx]
		if e != nil && (e.data != nil || e.chunk == 0) {
			fill(dst, e.data, lo)
			of.mu.Unlock()
			return nil
		}
		var chunk int64
		committed := false
		if e != nil {
			chunk = e.chunk
		} else if idx < of.holeFrom {
			committed = true
		}
		of.mu.Unlock()

		if committed {
			var err error
			if chunk, err = of.committedChunk(ctx, idx); err != nil {
				return err
			}
		}
		var src []byte
		at := lo // where dst starts in src
		if chunk != 0 {
			var err error
			if len(dst) <= rangeReadMax {
				src, err = of.fs.chunkRange(ctx, chunk, lo, len(dst))
				at = 0
			} else {
				src, err = of.fs.chunk(ctx, chunk)
			}
			// A concurrent write or commit may have replaced the block and
			// freed its chunk: look again.
			if kernel.KindOf(err) == kernel.NotExist && attempt < 3 {
				of.mu.Lock()
				delete(of.committed, idx)
				of.mu.Unlock()
				continue
			}
			if err != nil {
				return err
			}
		}
		fill(dst, src, at)
		return nil
	}
}

// committedChunk returns the chunk that committed block idx points to, or 0
// for a hole.
func (of *openFile) committedChunk(ctx context.Context, idx int64) (int64, error) {
	of.mu.Lock()
	id, ok := of.committed[idx]
	gen := of.gen
	of.mu.Unlock()
	if ok {
		return id, nil
	}
	err := of.fs.row(ctx, `SELECT chunk FROM blocks WHERE ino = ? AND idx = ?`, []any{of.ino, idx}, &id)
	if kernel.KindOf(err) == kernel.NotExist {
		id, err = 0, nil
	}
	if err != nil {
		return 0, err
	}
	of.mu.Lock()
	if of.gen == gen {
		of.committed[idx] = id
	}
	of.mu.Unlock()
	return id, nil
}

// fill copies src[lo:] into dst and zeroes what src does not cover.
func fill(dst, src []byte, lo int64) {
	n := 0
	if lo < int64(len(src)) {
		n = copy(dst, src[lo:])
	}
	clear(dst[n:])
}

func (of *openFile) writeAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	end := off + int64(len(p))
	if end > maxFileSize {
		return 0, kernel.E(kernel.TooLarge, "file too large")
	}
	if len(p) == 0 {
		return 0, nil
	}
	of.flushMu.Lock()
	defer of.flushMu.Unlock()
	bs := of.fs.blockSize
	for pos := off; pos < end; {
		idx := pos / bs
		start := idx * bs
		lo := pos - start
		hi := min(end, start+bs) - start
		var e *dirtyBlock
		if lo == 0 && hi == bs {
			// The whole block is overwritten: its old content is not needed.
			of.mu.Lock()
			if e = of.dirty[idx]; e == nil {
				e = &dirtyBlock{}
				of.dirty[idx] = e
			}
			if e.chunk != 0 {
				of.superseded = append(of.superseded, e.chunk)
				e.chunk = 0
			}
			of.mu.Unlock()
		} else {
			var err error
			if e, err = of.image(ctx, idx); err != nil {
				return int(pos - off), err
			}
		}
		of.mu.Lock()
		if n := int64(len(e.data)); n < hi {
			if int64(cap(e.data)) < hi {
				grown := make([]byte, n, min(bs, max(hi, 2*int64(cap(e.data)))))
				copy(grown, e.data)
				e.data = grown
			}
			e.data = e.data[:hi]
			clear(e.data[n:hi])
			of.dirtyBytes += hi - n
		}
		copy(e.data[lo:hi], p[pos-off:])
		of.mu.Unlock()
		pos = start + hi
	}
	of.mu.Lock()
	if end > of.size {
		of.size = end
	}
	of.modified()
	spill := of.dirtyBytes > of.fs.spill
	of.mu.Unlock()
	if spill {
		if err := of.spillLocked(ctx); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// truncate sets the size in the overlay. flushMu must be held.
func (of *openFile) truncate(ctx context.Context, size int64) error {
	if size < 0 {
		return kernel.E(kernel.Invalid, "negative size")
	}
	if size > maxFileSize {
		return kernel.E(kernel.TooLarge, "file too large")
	}
	bs := of.fs.blockSize
	of.mu.Lock()
	old := of.size
	of.mu.Unlock()
	if size < old && size%bs != 0 {
		// The new last block keeps only its head: bring it into memory.
		if _, err := of.image(ctx, size/bs); err != nil {
			return err
		}
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	if size < old {
		keep := (size + bs - 1) / bs
		for idx, e := range of.dirty {
			if idx >= keep {
				if e.chunk != 0 {
					of.superseded = append(of.superseded, e.chunk)
				}
				of.dirtyBytes -= int64(len(e.data))
				delete(of.dirty, idx)
			}
		}
		if e := of.dirty[size/bs]; e != nil && size%bs != 0 && int64(len(e.data)) > size%bs {
			of.dirtyBytes -= int64(len(e.data)) - size%bs
			e.data = e.data[:size%bs]
		}
		of.holeFrom = min(of.holeFrom, keep)
	}
	of.size = size
	of.modified()
	return nil
}

type spillItem struct {
	idx int64
	h   hashed
	id  int64
}

// spillLocked stores the overlay's in-memory blocks as chunks, pinned, so
// the overlay only keeps their ids. flushMu must be held.
func (of *openFile) spillLocked(ctx context.Context) error {
	of.mu.Lock()
	items := make([]spillItem, 0, len(of.dirty))
	for idx, e := range of.dirty {
		if len(e.data) > 0 {
			items = append(items, spillItem{idx: idx, h: hashed{data: e.data}})
		}
	}
	of.mu.Unlock()
	var need int64
	for i := range items {
		items[i].h = hashBlock(items[i].h.data)
		need += int64(len(items[i].h.data))
	}
	if err := of.fs.db.Room(need); err != nil {
		return err
	}
	var pinned []int64
	err := of.fs.db.Write(ctx, func(tx *storage.Tx) error {
		for i := range items {
			if items[i].h.zero {
				continue
			}
			id, err := of.fs.storeChunk(tx, items[i].h, 0)
			if err != nil {
				return err
			}
			items[i].id = id
			of.fs.pin(id)
			pinned = append(pinned, id)
		}
		return nil
	})
	if err != nil {
		of.fs.unpin(ctx, pinned)
		return err
	}
	of.mu.Lock()
	for _, it := range items {
		e := of.dirty[it.idx]
		of.dirtyBytes -= int64(len(e.data))
		e.data, e.chunk = nil, it.id
	}
	of.mu.Unlock()
	return nil
}

type commitItem struct {
	idx   int64
	h     hashed
	chunk int64 // a stored chunk, when the content is not in memory
}

// commit writes the overlay to the database in one transaction. With
// durable it is on disk when commit returns.
func (of *openFile) commit(ctx context.Context, durable bool) error {
	of.flushMu.Lock()
	defer of.flushMu.Unlock()
	f := of.fs
	bs := f.blockSize
	of.mu.Lock()
	if !of.changed {
		of.mu.Unlock()
		if durable {
			return f.Sync(ctx)
		}
		return nil
	}
	size, base, holeFrom := of.size, of.base, of.holeFrom
	attrs := of.attrs
	items := make([]commitItem, 0, len(of.dirty))
	for idx, e := range of.dirty {
		it := commitItem{idx: idx, chunk: e.chunk}
		if e.data != nil {
			// Never commit bytes beyond the end of the file.
			it.h.data = e.data[:min(int64(len(e.data)), max(0, size-idx*bs))]
		}
		items = append(items, it)
	}
	superseded := of.superseded
	of.mu.Unlock()

	var need int64
	for i := range items {
		if items[i].h.data != nil {
			items[i].h = hashBlock(items[i].h.data)
			need += int64(len(items[i].h.data))
		}
	}
	if need > 0 {
		if err := f.db.Room(need); err != nil {
			return err
		}
	}
	now := nowNs()
	c := kernel.Change{Op: kernel.ContentChanged, Ino: of.ino, Origin: kernel.OriginFrom(ctx)}
	var a kernel.Attr
	var g uint64
	write := f.db.Write
	switch {
	case durable:
		write = f.db.WriteSync
	case holeFrom != noHole && need <= bs:
		// A truncation (at most its last block rewritten): it frees
		// space, and must work on a full disk.
		write = f.db.WriteFreeing
	}
	err := write(ctx, func(tx *storage.Tx) error {
		delta := map[int64]int{}
		if holeFrom != noHole {
			if err := dropBlocks(tx, of.ino, holeFrom, delta); err != nil {
				return err
			}
		}
		for _, it := range items {
			var old int64
			if it.idx < holeFrom && it.idx*bs < base {
				err := tx.QueryRow(`SELECT chunk FROM blocks WHERE ino = ? AND idx = ?`, of.ino, it.idx).Scan(&old)
				if err != nil && kernel.KindOf(err) != kernel.NotExist {
					return err
				}
			}
			var id int64
			switch {
			case it.h.data != nil && !it.h.zero:
				var err error
				if id, err = f.storeChunk(tx, it.h, 1); err != nil {
					return err
				}
			case it.h.data == nil && it.chunk != 0:
				id = it.chunk
				delta[id]++
			}
			// id 0 is a hole. A new reference is counted by now.
			if old == id {
				delta[id]-- // the same chunk: undo the new reference
				continue
			}
			var err error
			if id == 0 {
				_, err = tx.Exec(`DELETE FROM blocks WHERE ino = ? AND idx = ?`, of.ino, it.idx)
			} else {
				_, err = tx.Exec(`INSERT OR REPLACE INTO blocks(ino, idx, chunk) VALUES (?, ?, ?)`, of.ino, it.idx, id)
			}
			if err != nil {
				return err
			}
			if old != 0 {
				delta[old]--
			}
		}
		if err := f.adjustRefs(tx, delta); err != nil {
			return err
		}
		var err error
		if a, err = updateInode(tx, of.ino, size, attrs, now); err != nil {
			return err
		}
		g = f.settle(c)
		return nil
	})
	if err != nil {
		return err
	}
	// The committed attributes are cached before the overlay stops
	// standing in for them: in between, a stat that read the row from
	// before the commit would give the old size (and the host kernel,
	// told a smaller size, drops its pages: SQLite in WAL mode read
	// short). The just-written file's stat then costs no query.
	f.attrs.put(a, nil, g)
	var committed []int64
	of.mu.Lock()
	for _, it := range items {
		if it.h.data == nil && it.chunk != 0 {
			committed = append(committed, it.chunk)
		}
		delete(of.dirty, it.idx)
	}
	of.dirtyBytes = 0
	of.gen++
	clear(of.committed)
	of.base, of.holeFrom = size, noHole
	of.changed, of.attrs = false, pendingAttrs{}
	of.superseded = nil // writers, which add to it, are held off by flushMu
	of.mu.Unlock()
	// Chunks stored early are now referenced by blocks; dropping their pins
	// frees nothing. Superseded ones may now be garbage.
	f.dropPins(committed)
	uerr := f.unpin(ctx, superseded)
	f.announce(c)
	return uerr
}

// Sync implements kernel.Syncer: every commit so far is durable when it
// returns.
func (f *FS) Sync(ctx context.Context) error {
	return f.db.WriteSync(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('vfs.fsyncs', '1')
			ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`)
		return err
	})
}

// handle is one open of a file.
type handle struct {
	of       *openFile
	writable bool
}

var _ kernel.Handle = (*handle)(nil)

func (h *handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return h.of.readAt(ctx, p, off)
}

func (h *handle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if !h.writable {
		return 0, kernel.E(kernel.Permission, "file not open for writing")
	}
	return h.of.writeAt(ctx, p, off)
}

func (h *handle) Flush(ctx context.Context) error {
	if !h.writable {
		return nil
	}
	return h.of.commit(ctx, false)
}

func (h *handle) Fsync(ctx context.Context) error {
	return h.of.commit(ctx, true)
}

func (h *handle) Release(ctx context.Context) error {
	return h.of.fs.release(ctx, h.of, h.writable)
}

// dropOverlay forgets the uncommitted blocks and returns the stored
// chunks they pinned, to unpin. flushMu and mu must be held.
func (of *openFile) dropOverlay() []int64 {
	pinned := of.superseded
	for _, e := range of.dirty {
		if e.data == nil && e.chunk != 0 {
			pinned = append(pinned, e.chunk)
		}
	}
	of.dirty, of.superseded, of.dirtyBytes = nil, nil, 0
	return pinned
}

// Discard implements kernel.Discarder: when this is the file's only
// writer, what it wrote and did not commit is dropped (its stored chunks
// unpinned), so the file stays as it was; then the handle is released.
func (h *handle) Discard(ctx context.Context) (err error) {
	of, f := h.of, h.of.fs
	f.mu.Lock()
	alone := h.writable && of.writers == 1
	f.mu.Unlock()
	if alone {
		of.flushMu.Lock()
		of.mu.Lock()
		pinned := of.dropOverlay()
		of.size, of.holeFrom = of.base, noHole
		of.attrs, of.changed = pendingAttrs{}, false
		of.dirty = make(map[int64]*dirtyBlock)
		of.mu.Unlock()
		of.flushMu.Unlock()
		err = f.unpin(ctx, pinned)
	}
	if rerr := f.release(ctx, of, h.writable); err == nil {
		err = rerr
	}
	return err
}

// Open implements kernel.FileSystem.
func (f *FS) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	writable := flags&kernel.OAccess != kernel.ORdonly
	of, err := f.acquire(ctx, ino, writable)
	if err != nil {
		return nil, err
	}
	if flags&kernel.OTrunc != 0 && writable {
		of.flushMu.Lock()
		err := of.truncate(ctx, 0)
		of.flushMu.Unlock()
		if err != nil {
			f.release(ctx, of, writable)
			return nil, err
		}
	}
	return &handle{of: of, writable: writable}, nil
}
