package vfs

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestWriteFiles(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := e.ctx
	for _, d := range []string{"/fs/site/a", "/fs/site/b"} {
		if err := e.k.FS.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 600_000) // 3 blocks, the middle one zeros
	rand.New(rand.NewSource(3)).Read(big)
	clear(big[262144:524288])
	e.write("/fs/site/a/old.html", []byte("old"))
	f, err := e.k.FS.Open(ctx, "/fs/site/a/old.html", kernel.ORdonly, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := []kernel.NewFile{
		{Path: "/fs/site/a/index.html", Mode: 0o644, Data: []byte("<h1>a</h1>")},
		{Path: "/fs/site/b/run.sh", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Path: "/fs/site/b/copy.html", Mode: 0o644, Data: []byte("<h1>a</h1>")},
		{Path: "/fs/site/a/old.html", Mode: 0o600, Data: []byte("new")},
		{Path: "/fs/site/big.bin", Mode: 0o644, Data: big},
		{Path: "/fs/site/empty", Mode: 0o644, Data: nil},
	}
	if err := e.k.FS.WriteFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	for _, nf := range files {
		if got := e.read(nf.Path); !bytes.Equal(got, nf.Data) {
			t.Fatalf("%s: %d bytes read, want %d", nf.Path, len(got), len(nf.Data))
		}
		a, err := e.k.FS.Stat(ctx, nf.Path)
		if err != nil || a.Mode&0o7777 != nf.Mode || !a.IsRegular() || a.Size != int64(len(nf.Data)) {
			t.Fatalf("%s: %+v %v", nf.Path, a, err)
		}
	}
	// Replaced as a rename would: the file open before still reads the old.
	b := make([]byte, 10)
	if n, _ := f.ReadAt(ctx, b, 0); string(b[:n]) != "old" {
		t.Fatalf("the open replaced file reads %q", b[:n])
	}
	// Stored once: the two equal files share a chunk; the hole is none.
	if n := e.count(`SELECT count(*) FROM chunks WHERE refs = 2`); n != 1 {
		t.Fatalf("%d chunks with two references, want the one shared", n)
	}
	if n := e.count(`SELECT count(*) FROM blocks b JOIN dentries d ON d.ino = b.ino WHERE d.name = 'big.bin'`); n != 2 {
		t.Fatalf("%d blocks for a file with a hole, want 2", n)
	}
	if err := e.db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFilesAllOrNothing(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := e.ctx
	if err := e.k.FS.MkdirAll(ctx, "/fs/site/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("/fs/site/keep", []byte("kept"))
	inodes := e.count(`SELECT count(*) FROM inodes`)
	chunks := e.count(`SELECT count(*) FROM chunks`)
	for _, c := range []struct {
		bad  kernel.NewFile
		kind kernel.Kind
	}{
		{kernel.NewFile{Path: "/fs/site/dir", Data: []byte("x")}, kernel.IsDir},
		{kernel.NewFile{Path: "/fs/site/nodir/x", Data: []byte("x")}, kernel.NotExist},
		{kernel.NewFile{Path: "/fs/site/keep/x", Data: []byte("x")}, kernel.NotDir},
		{kernel.NewFile{Path: "/fs/site/" + strings.Repeat("n", 300), Data: []byte("x")}, kernel.NameTooLong},
		{kernel.NewFile{Path: "/", Data: []byte("x")}, kernel.NotPermitted},
	} {
		files := []kernel.NewFile{
			{Path: "/fs/site/keep", Mode: 0o644, Data: []byte("replaced")},
			{Path: "/fs/site/new", Mode: 0o644, Data: []byte("new")},
			c.bad,
		}
		err := e.k.FS.WriteFiles(ctx, files)
		wantKind(t, err, c.kind)
		if ke, ok := err.(*kernel.Error); !ok || ke.Path != c.bad.Path {
			t.Fatalf("error %v does not name %s", err, c.bad.Path)
		}
		if got := e.read("/fs/site/keep"); string(got) != "kept" {
			t.Fatalf("%s: a failed write changed a file: %q", c.bad.Path, got)
		}
		if _, err := e.k.FS.Stat(ctx, "/fs/site/new"); kernel.KindOf(err) != kernel.NotExist {
			t.Fatalf("%s: a failed write made a file: %v", c.bad.Path, err)
		}
		if n, m := e.count(`SELECT count(*) FROM inodes`), e.count(`SELECT count(*) FROM chunks`); n != inodes || m != chunks {
			t.Fatalf("%s: %d inodes, %d chunks after a failed write, want %d, %d", c.bad.Path, n, m, inodes, chunks)
		}
	}
	over := make([]byte, kernel.MaxWriteFiles+1)
	wantKind(t, e.k.FS.WriteFiles(ctx, []kernel.NewFile{{Path: "/fs/site/over", Data: over}}), kernel.TooLarge)
}

// A file made From another shares its blocks, as a clone does.
func TestWriteFilesFrom(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := e.ctx
	if err := e.k.FS.MkdirAll(ctx, "/fs/a/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 600_000)
	rand.New(rand.NewSource(4)).Read(big)
	e.write("/fs/a/big.bin", big)
	e.write("/fs/a/small", []byte("small"))
	e.write("/fs/a/old", []byte("old"))
	chunks := e.count(`SELECT count(*) FROM chunks`)
	err := e.k.FS.WriteFiles(ctx, []kernel.NewFile{
		{Path: "/fs/a/sub/big.bin", Mode: 0o600, From: "/fs/a/big.bin"},
		{Path: "/fs/a/old", Mode: 0o644, From: "/fs/a/small"},
		{Path: "/fs/a/sub/new", Mode: 0o644, Data: []byte("new")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.read("/fs/a/sub/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("content of a file made From another")
	}
	if a, _ := e.k.FS.Stat(ctx, "/fs/a/sub/big.bin"); a.Mode&0o7777 != 0o600 || a.Size != int64(len(big)) {
		t.Fatalf("attributes: %+v", a)
	}
	if got := e.read("/fs/a/old"); string(got) != "small" {
		t.Fatalf("replaced From: %q", got)
	}
	// Only "new" is new content; the old file's chunk went with it.
	if n := e.count(`SELECT count(*) FROM chunks`); n != chunks {
		t.Fatalf("%d chunks, want %d", n, chunks)
	}
	e.db.Commit(ctx)
	if n := e.count(`SELECT count(*) FROM chunks c WHERE refs != (SELECT count(*) FROM blocks b WHERE b.chunk = c.id)`); n != 0 {
		t.Fatalf("%d chunks with wrong refs", n)
	}
	// A From that is not there, not a regular file, or the file replaced
	// itself: nothing is made.
	e.write("/fs/a/y", []byte("y"))
	for _, c := range []struct {
		from string
		kind kernel.Kind
	}{{"/fs/a/none", kernel.NotExist}, {"/fs/a/sub", kernel.Invalid}, {"/fs/a/y", kernel.Invalid}} {
		err := e.k.FS.WriteFiles(ctx, []kernel.NewFile{{Path: "/fs/a/x", Data: []byte("x")}, {Path: "/fs/a/y", From: c.from}})
		wantKind(t, err, c.kind)
		if _, err := e.k.FS.Stat(ctx, "/fs/a/x"); kernel.KindOf(err) != kernel.NotExist {
			t.Fatalf("from %s: a failed write made a file", c.from)
		}
	}
	if got := e.read("/fs/a/y"); string(got) != "y" {
		t.Fatalf("a file made from itself: %q", got)
	}
}
