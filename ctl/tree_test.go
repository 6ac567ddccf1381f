package ctl

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestTree(t *testing.T) {
	ctx := context.Background()
	var n atomic.Int64
	tr := New()
	d := tr.RootDir().Dir("sub")
	d.ReadOnly("counter", func(context.Context) ([]byte, error) {
		return []byte(strings.Repeat("x", int(n.Add(1)))), nil
	})
	tr.RootDir().ReadOnly("fixed", Text("hello\n"))
	tr.RootDir().ReadOnly("broken", func(context.Context) ([]byte, error) { return nil, errors.New("boom") })

	ents, err := tr.ReadDir(ctx, tr.Root())
	if err != nil || len(ents) != 3 || ents[0].Name != "broken" || ents[2].Name != "sub" {
		t.Fatalf("root: %v %v", ents, err)
	}
	sub, err := tr.Lookup(ctx, tr.Root(), "sub")
	if err != nil || !sub.IsDir() || sub.Mode&0o777 != 0o555 {
		t.Fatalf("sub: %+v %v", sub, err)
	}
	// stat reports the true size of what a read returns.
	a, err := tr.Lookup(ctx, sub.Ino, "counter")
	if err != nil || a.Size != 1 || a.Mode != syscall.S_IFREG|0o444 {
		t.Fatalf("counter: %+v %v", a, err)
	}
	// One open is one rendering, whatever the reads.
	h, err := tr.Open(ctx, a.Ino, kernel.ORdonly)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := h.(kernel.DirectIO); !ok || !d.DirectIO() {
		t.Fatal("synthetic files must be direct I/O")
	}
	buf := make([]byte, 10)
	first, _ := h.ReadAt(ctx, buf, 0)
	again, _ := h.ReadAt(ctx, buf, 0)
	if first != 2 || again != first {
		t.Fatalf("reads of one open saw %d then %d bytes; want one rendering (2 bytes)", first, again)
	}
	if k, _ := h.ReadAt(ctx, buf, int64(first)); k != 0 {
		t.Fatal("read past the end of the rendering")
	}
	if _, err := h.WriteAt(ctx, []byte("x"), 0); kernel.KindOf(err) != kernel.Permission {
		t.Fatalf("write: %v", err)
	}
	h.Release(ctx)
	fixed, _ := tr.Lookup(ctx, tr.Root(), "fixed")
	h, _ = tr.Open(ctx, fixed.Ino, kernel.ORdonly)
	small := make([]byte, 3) // never more than asked, from the offset asked
	if k, _ := h.ReadAt(ctx, small, 2); k != 3 || string(small) != "llo" {
		t.Fatalf("ReadAt(3 bytes at 2) = %d %q", k, small)
	}
	if _, err := tr.Open(ctx, fixed.Ino, kernel.OWronly); kernel.KindOf(err) != kernel.Permission {
		t.Fatalf("open for writing: %v", err)
	}
	if _, err := tr.Open(ctx, sub.Ino, kernel.ORdonly); kernel.KindOf(err) != kernel.IsDir {
		t.Fatalf("open a directory: %v", err)
	}
	if _, err := tr.Lookup(ctx, tr.Root(), "nope"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("lookup: %v", err)
	}
	if _, err := tr.Lookup(ctx, tr.Root(), "broken"); err == nil || kernel.KindOf(err) != kernel.Internal {
		t.Fatalf("a failing rendering: %v", err)
	}
}
