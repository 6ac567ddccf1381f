package vfs

import (
	"fmt"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// BenchmarkSmallFile is what tar -x does per file, without FUSE: create,
// write 4 KiB, set times, owner and mode on the open file, close.
func BenchmarkSmallFile(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	root, _ := e.k.FS.Stat(e.ctx, "/fs")
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data[0], data[1] = byte(i), byte(i>>8)
		a, h, err := e.k.NS.Create(e.ctx, root.Ino, fmt.Sprintf("f%07d", i), kernel.OWronly|kernel.OExcl, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		h.WriteAt(e.ctx, data, 0)
		e.k.NS.Setattr(e.ctx, a.Ino, kernel.SetAttr{Valid: kernel.SetMtime, Mtime: time.Unix(1, 0)})
		e.k.NS.Setattr(e.ctx, a.Ino, kernel.SetAttr{Valid: kernel.SetUID | kernel.SetGID})
		e.k.NS.Setattr(e.ctx, a.Ino, kernel.SetAttr{Valid: kernel.SetMode, Mode: 0o644})
		if err := h.Flush(e.ctx); err != nil {
			b.Fatal(err)
		}
		h.Release(e.ctx)
	}
}

func BenchmarkLookup(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	root, _ := e.k.FS.Stat(e.ctx, "/fs")
	for i := 0; i < 5000; i++ {
		_, h, _ := e.k.NS.Create(e.ctx, root.Ino, fmt.Sprintf("f%07d", i), kernel.OWronly, 0o600)
		h.Release(e.ctx)
	}
	e.db.Commit(e.ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.k.NS.Lookup(e.ctx, root.Ino, fmt.Sprintf("f%07d", i%10000))
	}
}

func BenchmarkSelect1(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	var n int
	for i := 0; i < b.N; i++ {
		e.fs.row(e.ctx, `SELECT 1`, nil, &n)
	}
}

func BenchmarkGetattrRow(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	for i := 0; i < b.N; i++ {
		e.fs.Getattr(e.ctx, 1)
	}
}
