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

// BenchmarkDeployFile is what a deploy does per file of a site (about
// 12 KiB a file, 37 files a directory), through the kernel's path calls:
// open with O_CREAT|O_TRUNC, write, close.
func BenchmarkDeployFile(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	ctx := e.ctx
	data := make([]byte, 12<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := fmt.Sprintf("/fs/site/d%05d", i/37)
		if i%37 == 0 {
			if err := e.k.FS.MkdirAll(ctx, dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		f, err := e.k.FS.Open(ctx, fmt.Sprintf("%s/f%03d.html", dir, i%37), kernel.OWronly|kernel.OCreate|kernel.OTrunc, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Writer(ctx).Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFiles is BenchmarkDeployFile's work through WriteFiles, 100
// files a call: the cost per file.
func BenchmarkWriteFiles(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	ctx := e.ctx
	var batch []kernel.NewFile
	for i := 0; i < b.N; i++ {
		dir := fmt.Sprintf("/fs/site/d%05d", i/37)
		if i%37 == 0 {
			if err := e.k.FS.MkdirAll(ctx, dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		data := make([]byte, 12<<10)
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		batch = append(batch, kernel.NewFile{Path: fmt.Sprintf("%s/f%03d.html", dir, i%37), Mode: 0o644, Data: data})
		if len(batch) == 100 || i == b.N-1 {
			if err := e.k.FS.WriteFiles(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkManifest is the manifest of a tree of 20,000 small files, per
// file.
func BenchmarkManifest(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	ctx := e.ctx
	var batch []kernel.NewFile
	const n = 20000
	for i := 0; i < n; i++ {
		dir := fmt.Sprintf("/fs/site%d/d%03d", i/4000, i%37)
		if i%4000 < 37 {
			if err := e.k.FS.MkdirAll(ctx, dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		data := make([]byte, 12<<10)
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		batch = append(batch, kernel.NewFile{Path: fmt.Sprintf("%s/f%05d.html", dir, i), Mode: 0o644, Data: data})
		if len(batch) == 500 {
			if err := e.k.FS.WriteFiles(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	e.db.Commit(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := e.k.FS.Manifest(ctx, "/fs")
		if err != nil || len(m) < n {
			b.Fatal(len(m), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/file")
}

// BenchmarkUnlink is rm of small files: each holds one 4 KiB chunk of its
// own.
func BenchmarkUnlink(b *testing.B) {
	e := newEnv(&testing.T{}, Options{})
	root, _ := e.k.FS.Stat(e.ctx, "/fs")
	data := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		_, h, err := e.k.NS.Create(e.ctx, root.Ino, fmt.Sprintf("f%07d", i), kernel.OWronly|kernel.OExcl, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		h.WriteAt(e.ctx, data, 0)
		h.Flush(e.ctx)
		h.Release(e.ctx)
	}
	e.db.Commit(e.ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.k.NS.Unlink(e.ctx, root.Ino, fmt.Sprintf("f%07d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
