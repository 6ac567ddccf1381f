package vfs

import (
	"bytes"
	"math/rand"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
)

// handle opens name, in the root of /fs.
func (e *env) handle(name string, flags int) *handle {
	e.t.Helper()
	a, err := e.fs.Lookup(e.ctx, e.fs.Root(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := e.fs.Open(e.ctx, a.Ino, flags)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { h.Release(e.ctx) })
	return h.(*handle)
}

// copy_file_range shares whole blocks: the copy's overlay holds the
// source's chunks and no bytes, and once committed its blocks point to the
// same chunks; the source's short last block is shared too when the copy
// ends both files.
func TestCopyRangeShares(t *testing.T) {
	e := newEnv(t, Options{})
	bs := e.fs.BlockSize()
	data := make([]byte, 5*bs+1000)
	rand.New(rand.NewSource(1)).Read(data)
	e.write("/fs/src", data)
	e.write("/fs/dst", nil)
	src, dst := e.handle("src", kernel.ORdonly), e.handle("dst", kernel.ORdwr)
	n, err := dst.CopyRange(e.ctx, src, 0, 0, int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("CopyRange: %d %v", n, err)
	}
	dst.of.mu.Lock()
	held, entries := dst.of.dirtyBytes, len(dst.of.dirty)
	dst.of.mu.Unlock()
	if held != 0 || entries != 6 {
		t.Fatalf("the copy's overlay holds %d bytes in %d blocks, want 0 bytes, 6 shared blocks", held, entries)
	}
	chunks := e.count(`SELECT count(*) FROM chunks`)
	if err := dst.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.read("/fs/dst"); !bytes.Equal(got, data) {
		t.Fatal("the copy differs")
	}
	if n := e.count(`SELECT count(*) FROM chunks`); n != chunks {
		t.Fatalf("%d chunks after the copy, were %d", n, chunks)
	}
	if n := e.count(`SELECT count(*) FROM blocks a JOIN blocks b ON a.idx = b.idx AND a.chunk = b.chunk AND a.ino < b.ino`); n != 6 {
		t.Fatalf("%d blocks shared, want 6", n)
	}
	if n := e.count(`SELECT count(*) FROM chunks WHERE refs = 2`); n != 6 {
		t.Fatalf("%d chunks with two references, want 6", n)
	}
	// Offsets that do not line up copy bytes; a range past the end
	// copies nothing; overlapping ranges of one file are refused.
	if n, err := dst.CopyRange(e.ctx, src, 10, 3, 100); err != nil || n != 100 {
		t.Fatalf("unaligned CopyRange: %d %v", n, err)
	}
	want := append([]byte(nil), data...)
	copy(want[3:], data[10:110])
	dst.Flush(e.ctx)
	if got := e.read("/fs/dst"); !bytes.Equal(got, want) {
		t.Fatal("after an unaligned copy the content differs")
	}
	if n, err := dst.CopyRange(e.ctx, src, int64(len(data)), 0, 10); n != 0 || err != nil {
		t.Fatalf("from the end: %d %v", n, err)
	}
	_, err = dst.CopyRange(e.ctx, dst, 0, bs/2, bs)
	wantKind(t, err, kernel.Invalid)
}

// A punched hole frees its whole blocks: no rows remain for them, the
// chunks they held go, and SEEK_DATA skips them.
func TestPunchHoleFrees(t *testing.T) {
	e := newEnv(t, Options{})
	bs := e.fs.BlockSize()
	data := make([]byte, 4*bs)
	rand.New(rand.NewSource(2)).Read(data)
	e.write("/fs/f", data)
	h := e.handle("f", kernel.ORdwr)
	if err := h.Allocate(e.ctx, bs/2, 2*bs+bs/2, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	// Blocks 1 and 2 were whole in the range: holes. Block 0 keeps its
	// first half.
	if n := e.count(`SELECT count(*) FROM blocks`); n != 2 {
		t.Fatalf("%d blocks stored, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM chunks`); n != 2 {
		t.Fatalf("%d chunks stored, want 2", n)
	}
	at, err := h.SeekData(e.ctx, bs/2, true)
	if err != nil || at != bs {
		t.Fatalf("SEEK_HOLE from the middle of block 0: %d %v, want %d", at, err, bs)
	}
	at, err = h.SeekData(e.ctx, bs, false)
	if err != nil || at != 3*bs {
		t.Fatalf("SEEK_DATA from block 1: %d %v, want %d", at, err, 3*bs)
	}
	clear(data[bs/2 : 3*bs])
	if got := e.read("/fs/f"); !bytes.Equal(got, data) {
		t.Fatal("content after the punch differs")
	}
	wantKind(t, h.Allocate(e.ctx, 0, bs, unix.FALLOC_FL_COLLAPSE_RANGE), kernel.NotSupported)
}
