package vfs

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"path"
	"strings"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

var _ kernel.Publisher = (*FS)(nil)

// Publish implements kernel.Publisher: one read transaction of the reader
// pool resolves the path and captures the file's blocks, so the HTTP server
// never waits for the writer and never sees a half-committed file.
func (f *FS) Publish(ctx context.Context, at, rel string, inline int64) (*kernel.Content, error) {
	parts := strings.Split(rel, "/")
	if rel == "" {
		parts = nil
	}
	var c *kernel.Content
	err := f.db.Read(ctx, func(tx *storage.Tx) error {
		c = &kernel.Content{Walked: []uint64{rootIno}}
		if err := kernel.Visible(ctx, at); err != nil {
			return err
		}
		cur, hops := uint64(rootIno), 0
		var a kernel.Attr
		for i := 0; i < len(parts); i++ {
			if err := kernel.Visible(ctx, path.Join(at, strings.Join(parts[:i+1], "/"))); err != nil {
				return err
			}
			var target *string
			row := tx.QueryRow(`SELECT `+attrCols+`, i.target FROM inodes i WHERE i.ino = `+entryIno, cur, parts[i])
			var err error
			if a, err = scanAttrTarget(row, &target); err != nil {
				if kernel.KindOf(err) == kernel.NotExist {
					return kernel.E(kernel.NotExist, "no such file or directory")
				}
				return err
			}
			c.Walked = append(c.Walked, a.Ino)
			if a.IsSymlink() && target != nil {
				if hops++; hops > 40 {
					return kernel.E(kernel.Loop, "too many levels of symbolic links")
				}
				// As the namespace resolves it: relative to the link's
				// directory, or from the namespace root.
				var next string
				if strings.HasPrefix(*target, "/") {
					next = path.Join(*target, strings.Join(parts[i+1:], "/"))
				} else {
					next = path.Join(at, strings.Join(parts[:i], "/"), *target, strings.Join(parts[i+1:], "/"))
				}
				next = path.Clean("/" + next)
				switch {
				case next == at:
					parts = nil
				case strings.HasPrefix(next, at+"/"):
					parts = strings.Split(next[len(at)+1:], "/")
				default:
					return kernel.E(kernel.NotExist, "no such file or directory") // not in this file system
				}
				i, cur = -1, rootIno
				continue
			}
			if i < len(parts)-1 && !a.IsDir() {
				return kernel.E(kernel.NotDir, "not a directory")
			}
			cur = a.Ino
		}
		if parts == nil {
			var err error
			if a, err = scanAttr(tx.QueryRow(`SELECT `+attrCols+` FROM inodes i WHERE i.ino = ?`, rootIno)); err != nil {
				return err
			}
		}
		a.Blocks = (a.Size + 511) / 512
		c.Attr = a
		if !a.IsRegular() {
			return nil
		}
		if err := kernel.Readable(ctx, path.Join(at, strings.Join(parts, "/"))); err != nil {
			return err
		}
		return f.capture(tx, c, inline)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// capture reads a file's block list in tx: its ETag (from the chunks'
// hashes), and its data if it is small. Published content is read once
// and kept by its reader (the site server's cache and store): it does not
// fill the chunk cache, which is the mount's.
func (f *FS) capture(tx *storage.Tx, c *kernel.Content, inline int64) error {
	rows, err := tx.Query(`SELECT b.idx, b.chunk, c.hash FROM blocks b JOIN chunks c ON c.id = b.chunk
		WHERE b.ino = ? ORDER BY b.idx`, c.Attr.Ino)
	if err != nil {
		return err
	}
	h := sha256.New()
	var blocks []pubBlock
	for rows.Next() {
		var b pubBlock
		var sum []byte
		if err := rows.Scan(&b.idx, &b.chunk, &sum); err != nil {
			rows.Close()
			return err
		}
		var idx [8]byte
		binary.BigEndian.PutUint64(idx[:], uint64(b.idx))
		h.Write(idx[:])
		h.Write(sum)
		blocks = append(blocks, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(c.Attr.Size))
	h.Write(size[:])
	c.ETag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	r := &pubReader{f: f, blocks: blocks, size: c.Attr.Size}
	if c.Attr.Size > inline {
		c.Reader = r
		return nil
	}
	c.Data = make([]byte, c.Attr.Size)
	for _, b := range blocks {
		data, ok := f.cache.get(b.chunk)
		if !ok {
			if err := tx.QueryRow(`SELECT data FROM chunk_data WHERE id = ?`, b.chunk).Scan(&data); err != nil {
				return err
			}
		}
		if off := b.idx * f.blockSize; off < c.Attr.Size {
			copy(c.Data[off:], data)
		}
	}
	return nil
}

type pubBlock struct{ idx, chunk int64 }

// pubReader reads a published file from the chunks its blocks had.
type pubReader struct {
	f      *FS
	blocks []pubBlock // sorted by idx; missing ones are holes
	size   int64
}

func (r *pubReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	bs := r.f.blockSize
	n := 0
	for n < len(p) && off+int64(n) < r.size {
		pos := off + int64(n)
		idx := pos / bs
		end := min(int64(len(p)-n), (idx+1)*bs-pos, r.size-pos)
		dst := p[n : n+int(end)]
		var data []byte
		if b, ok := r.find(idx); ok {
			var err error
			if data, err = r.f.readChunk(context.Background(), b.chunk, false); err != nil {
				return n, err
			}
		}
		fill(dst, data, pos-idx*bs)
		n += len(dst)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *pubReader) find(idx int64) (pubBlock, bool) {
	lo, hi := 0, len(r.blocks)
	for lo < hi {
		m := (lo + hi) / 2
		if r.blocks[m].idx < idx {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(r.blocks) && r.blocks[lo].idx == idx {
		return r.blocks[lo], true
	}
	return pubBlock{}, false
}
