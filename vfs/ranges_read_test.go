package vfs

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

// Small reads of chunks missing from the cache read only the bytes asked
// for: every range, at block edges, in holes, past the last chunk's end,
// comes back as the file has it.
func TestSmallReadsOfUncachedChunks(t *testing.T) {
	e := newEnv(t, Options{})
	bs := e.fs.BlockSize()
	rnd := rand.New(rand.NewSource(3))
	want := make([]byte, 3*bs+bs/3)
	rnd.Read(want)
	clear(want[bs : bs+bs/2]) // half a block of zeros: stored or a hole, read alike
	e.write("/fs/f", want)
	// A hole of whole blocks after the data.
	f, err := e.k.FS.Open(e.ctx, "/fs/f", kernel.ORdwr, 0)
	if err != nil {
		t.Fatal(err)
	}
	tail := []byte("the end")
	if _, err := f.WriteAt(e.ctx, tail, int64(len(want))+2*bs); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want = append(append(want, make([]byte, 2*bs)...), tail...)

	check := func(h *kernel.File, off int64, n int) {
		t.Helper()
		got := make([]byte, n)
		m, err := h.ReadAt(e.ctx, got, off)
		end := min(off+int64(n), int64(len(want)))
		if int64(m) != end-off || !bytes.Equal(got[:m], want[off:end]) {
			t.Fatalf("read %d at %d: %d bytes (%v), differ from the file's", n, off, m, err)
		}
	}
	for round := range 2 {
		e.reopen(Options{}) // the chunk cache empty
		h, err := e.k.FS.Open(e.ctx, "/fs/f", kernel.ORdonly, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, 1, bs - 1, bs - 4096, bs, bs + bs/2 - 10, 3*bs + bs/3 - 5, 3*bs + bs/3, 4 * bs, int64(len(want)) - 3} {
			check(h, off, 4096)
			check(h, off, 1)
		}
		for range 300 {
			check(h, rnd.Int63n(int64(len(want))), 1+rnd.Intn(40<<10))
		}
		if round == 1 {
			// Whole chunks cached by a large read; small reads of them then.
			check(h, 0, int(bs))
			check(h, 100, 4096)
		}
		h.Close()
	}
}
