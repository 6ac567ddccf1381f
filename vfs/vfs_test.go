package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	t   *testing.T
	ctx context.Context
	db  *storage.DB
	fs  *FS
	k   *kernel.Kernel
	dir string
}

func newEnv(t *testing.T, opt Options) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), dir: t.TempDir()}
	e.open(opt)
	return e
}

func (e *env) open(opt Options) {
	t := e.t
	db, err := storage.Open(e.ctx, filepath.Join(e.dir, "fazt.db"), storage.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	opt.Log = quiet
	f, err := Open(e.ctx, db, opt)
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New("test", nil)
	if err := k.NS.Bind("fs", f); err != nil {
		t.Fatal(err)
	}
	e.db, e.fs, e.k = db, f, k
	t.Cleanup(func() { db.Close() })
}

func (e *env) reopen(opt Options) {
	e.db.Close()
	e.open(opt)
}

func (e *env) write(p string, data []byte) {
	e.t.Helper()
	if err := e.k.FS.WriteFile(e.ctx, p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(p string) []byte {
	e.t.Helper()
	b, err := e.k.FS.ReadFile(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.fs.row(e.ctx, q, args, &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wantKind(t *testing.T, err error, k kernel.Kind) {
	t.Helper()
	if kernel.KindOf(err) != k {
		t.Fatalf("err = %v (kind %v), want kind %v", err, kernel.KindOf(err), k)
	}
}

func TestFSTest(t *testing.T) {
	e := newEnv(t, Options{})
	files := map[string]string{
		"index.html":         "<h1>hi</h1>",
		"css/site.css":       "body{}",
		"img/a/b/c/deep.txt": strings.Repeat("x", 300_000),
		"empty":              "",
	}
	for p, c := range files {
		if err := e.k.FS.MkdirAll(e.ctx, "/fs/blog/"+filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		e.write("/fs/blog/"+p, []byte(c))
	}
	if err := fstest.TestFS(e.k.FS.IOFS(e.ctx, "/fs/blog"), "index.html", "css/site.css", "img/a/b/c/deep.txt", "empty"); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		if got := e.read("/fs/blog/" + p); string(got) != c {
			t.Errorf("%s: got %d bytes, want %d", p, len(got), len(c))
		}
	}
}

// model is a file's expected content.
type model []byte

func (m *model) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(*m)) {
		*m = append(*m, make([]byte, end-int64(len(*m)))...)
	}
	copy((*m)[off:], p)
}

func (m *model) truncate(n int64) {
	if n < int64(len(*m)) {
		*m = (*m)[:n]
	} else {
		*m = append(*m, make([]byte, n-int64(len(*m)))...)
	}
}

// Random writes, truncations and reads across block boundaries, with a
// small spill threshold so blocks are stored early, checked against a model
// at every step, after every commit and after a reopen.
func TestRandomWritesMatchModel(t *testing.T) {
	e := newEnv(t, Options{SpillBytes: 600 << 10})
	bs := e.fs.BlockSize()
	rng := rand.New(rand.NewSource(1))
	var m model
	f, err := e.k.FS.Open(e.ctx, "/fs/big", kernel.ORdwr|kernel.OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got := make([]byte, len(m)+100)
		n, _ := f.ReadAt(e.ctx, got, 0)
		if n != len(m) || !bytes.Equal(got[:n], m) {
			t.Fatalf("%s: content differs (got %d bytes, want %d)", when, n, len(m))
		}
		a, err := f.Stat(e.ctx)
		if err != nil || a.Size != int64(len(m)) {
			t.Fatalf("%s: size %d, want %d (%v)", when, a.Size, len(m), err)
		}
	}
	for i := 0; i < 300; i++ {
		switch op := rng.Intn(10); {
		case op < 6:
			off := rng.Int63n(4 * bs)
			p := make([]byte, rng.Intn(int(bs)+1000))
			rng.Read(p)
			if rng.Intn(4) == 0 {
				clear(p) // zeros become holes
			}
			if _, err := f.WriteAt(e.ctx, p, off); err != nil {
				t.Fatal(err)
			}
			m.writeAt(p, off)
		case op < 8:
			n := rng.Int63n(5 * bs)
			if err := e.k.FS.Truncate(e.ctx, "/fs/big", n); err != nil {
				t.Fatal(err)
			}
			m.truncate(n)
		case op < 9:
			if err := f.Sync(e.ctx); err != nil {
				t.Fatal(err)
			}
		default:
			check("step")
		}
	}
	check("end")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.read("/fs/big"); !bytes.Equal(got, m) {
		t.Fatal("content differs after close")
	}
	e.reopen(Options{})
	if got := e.read("/fs/big"); !bytes.Equal(got, m) {
		t.Fatal("content differs after reopen")
	}
	// Every chunk is referenced exactly as often as blocks point to it.
	if n := e.count(`SELECT count(*) FROM chunks c WHERE refs != (SELECT count(*) FROM blocks b WHERE b.chunk = c.id)`); n != 0 {
		t.Fatalf("%d chunks with wrong refs", n)
	}
	if n := e.count(`SELECT count(*) FROM blocks WHERE idx * ? >= ?`, bs, len(m)); n != 0 {
		t.Fatalf("%d blocks beyond the end of the file", n)
	}
}

// Until a handle flushes, the committed tree (what another process, the
// HTTP server or a backup reads) has the old content; then all of the new.
func TestCommitIsAtomic(t *testing.T) {
	e := newEnv(t, Options{SpillBytes: 300 << 10})
	old := bytes.Repeat([]byte("old "), 100_000)
	e.write("/fs/f", old)

	// ReadFile reads the committed state as a snapshot: what the HTTP
	// server, a backup or another process sees.
	committed := func() []byte { return e.read("/fs/f") }
	if !bytes.Equal(committed(), old) {
		t.Fatal("setup")
	}
	f, err := e.k.FS.Open(e.ctx, "/fs/f", kernel.OWronly|kernel.OTrunc, 0)
	if err != nil {
		t.Fatal(err)
	}
	neu := bytes.Repeat([]byte("new!"), 200_000)
	for off := 0; off < len(neu); off += 100_000 {
		if _, err := f.WriteAt(e.ctx, neu[off:off+100_000], int64(off)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed(), old) {
			t.Fatalf("after writing %d bytes the committed file changed", off+100_000)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed(), neu) {
		t.Fatal("after close the committed file is not the new content")
	}
}

func TestUnlinkWhileOpen(t *testing.T) {
	e := newEnv(t, Options{})
	e.write("/fs/a", []byte("hello"))
	f, err := e.k.FS.Open(e.ctx, "/fs/a", kernel.ORdwr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.k.FS.Remove(e.ctx, "/fs/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.FS.Stat(e.ctx, "/fs/a"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("stat after unlink: %v", err)
	}
	if _, err := f.WriteAt(e.ctx, []byte(" world"), 5); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 20)
	n, _ := f.ReadAt(e.ctx, b, 0)
	if string(b[:n]) != "hello world" {
		t.Fatalf("read %q", b[:n])
	}
	if a, err := f.Stat(e.ctx); err != nil || a.Nlink != 0 {
		t.Fatalf("fstat: %+v %v", a, err)
	}
	if e.count(`SELECT count(*) FROM chunks`) == 0 {
		t.Fatal("content of an open unlinked file is gone")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM inodes`); n != 1 {
		t.Fatalf("%d inodes after the last close, want only the root", n)
	}
	if n := e.count(`SELECT count(*) FROM chunks`) + e.count(`SELECT count(*) FROM chunk_data`) + e.count(`SELECT count(*) FROM blocks`); n != 0 {
		t.Fatalf("%d content rows left", n)
	}
}

func TestCrashLeftoversAreCollected(t *testing.T) {
	e := newEnv(t, Options{SpillBytes: 300 << 10})
	e.write("/fs/keep", []byte("keep"))
	// A file deleted while open and chunks stored early, then a "crash":
	// the database is closed without releasing anything.
	f, err := e.k.FS.Open(e.ctx, "/fs/gone", kernel.ORdwr|kernel.OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(e.ctx, bytes.Repeat([]byte{7}, 1<<20), 0)
	f.Sync(e.ctx)
	e.k.FS.Remove(e.ctx, "/fs/gone")
	g, _ := e.k.FS.Open(e.ctx, "/fs/pending", kernel.ORdwr|kernel.OCreate, 0o644)
	g.WriteAt(e.ctx, bytes.Repeat([]byte{9}, 2<<20), 0) // spilled, never committed
	if e.count(`SELECT count(*) FROM chunks WHERE refs = 0`) == 0 {
		t.Fatal("expected spilled chunks")
	}
	e.reopen(Options{})
	if n := e.count(`SELECT count(*) FROM inodes WHERE nlink = 0`); n != 0 {
		t.Fatalf("%d orphans after restart", n)
	}
	if n := e.count(`SELECT count(*) FROM chunks WHERE refs = 0`); n != 0 {
		t.Fatalf("%d unreferenced chunks after restart", n)
	}
	if string(e.read("/fs/keep")) != "keep" {
		t.Fatal("lost a committed file")
	}
	if a, err := e.k.FS.Stat(e.ctx, "/fs/pending"); err != nil || a.Size != 0 {
		t.Fatalf("uncommitted file: %+v %v", a, err)
	}
}

func TestDedup(t *testing.T) {
	e := newEnv(t, Options{})
	data := make([]byte, 640_000) // 3 blocks
	rand.New(rand.NewSource(2)).Read(data)
	e.write("/fs/a", data)
	e.write("/fs/b", data)
	if n := e.count(`SELECT count(*) FROM chunks`); n != 3 {
		t.Fatalf("%d chunks for two identical 3-block files", n)
	}
	if n := e.count(`SELECT sum(refs) FROM chunks`); n != 6 {
		t.Fatalf("refs total %d", n)
	}
	e.k.FS.Remove(e.ctx, "/fs/a")
	if n := e.count(`SELECT sum(refs) FROM chunks`); n != 3 {
		t.Fatalf("refs total %d after one delete", n)
	}
	e.write("/fs/b", []byte("small"))
	if n := e.count(`SELECT count(*) FROM chunks`); n != 1 {
		t.Fatalf("%d chunks after overwrite, want 1", n)
	}
	if !bytes.Equal(e.read("/fs/b"), []byte("small")) {
		t.Fatal("content")
	}
}

func TestSparse(t *testing.T) {
	e := newEnv(t, Options{})
	f, _ := e.k.FS.Open(e.ctx, "/fs/sparse", kernel.OWronly|kernel.OCreate, 0o644)
	if _, err := f.WriteAt(e.ctx, []byte("end"), 100<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a, _ := e.k.FS.Stat(e.ctx, "/fs/sparse")
	if a.Size != 100<<20+3 {
		t.Fatalf("size %d", a.Size)
	}
	if n := e.count(`SELECT count(*) FROM blocks`); n != 1 {
		t.Fatalf("%d blocks stored for a sparse file, want 1", n)
	}
	fl, _ := e.k.FS.Open(e.ctx, "/fs/sparse", kernel.ORdonly, 0)
	defer fl.Close()
	b := make([]byte, 10)
	fl.ReadAt(e.ctx, b, 50<<20)
	if !bytes.Equal(b, make([]byte, 10)) {
		t.Fatal("hole is not zeros")
	}
	fl.ReadAt(e.ctx, b[:3], 100<<20)
	if string(b[:3]) != "end" {
		t.Fatalf("tail %q", b[:3])
	}
}

func TestHardLinks(t *testing.T) {
	e := newEnv(t, Options{})
	e.write("/fs/a", []byte("x"))
	if err := e.k.FS.Link(e.ctx, "/fs/a", "/fs/b"); err != nil {
		t.Fatal(err)
	}
	a, _ := e.k.FS.Stat(e.ctx, "/fs/a")
	b, _ := e.k.FS.Stat(e.ctx, "/fs/b")
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Fatalf("a=%+v b=%+v", a, b)
	}
	e.write("/fs/b", []byte("through b"))
	if string(e.read("/fs/a")) != "through b" {
		t.Fatal("links do not share content")
	}
	e.k.FS.Remove(e.ctx, "/fs/a")
	b, _ = e.k.FS.Stat(e.ctx, "/fs/b")
	if b.Nlink != 1 || string(e.read("/fs/b")) != "through b" {
		t.Fatalf("after unlink: %+v", b)
	}
	e.k.FS.Mkdir(e.ctx, "/fs/d", 0o755)
	wantKind(t, e.k.FS.Link(e.ctx, "/fs/d", "/fs/d2"), kernel.NotPermitted)
	wantKind(t, e.k.FS.Link(e.ctx, "/fs/b", "/fs/d"), kernel.Exist)
}

func TestDirectoryLinkCounts(t *testing.T) {
	e := newEnv(t, Options{})
	nlink := func(p string) uint32 {
		a, err := e.k.FS.Stat(e.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return a.Nlink
	}
	e.k.FS.Mkdir(e.ctx, "/fs/a", 0o755)
	e.k.FS.Mkdir(e.ctx, "/fs/b", 0o755)
	e.k.FS.Mkdir(e.ctx, "/fs/a/x", 0o755)
	e.write("/fs/a/file", nil)
	if nlink("/fs") != 4 || nlink("/fs/a") != 3 || nlink("/fs/b") != 2 {
		t.Fatalf("nlink /fs=%d a=%d b=%d", nlink("/fs"), nlink("/fs/a"), nlink("/fs/b"))
	}
	if err := e.k.FS.Rename(e.ctx, "/fs/a/x", "/fs/b/x"); err != nil {
		t.Fatal(err)
	}
	if nlink("/fs/a") != 2 || nlink("/fs/b") != 3 {
		t.Fatalf("after move a=%d b=%d", nlink("/fs/a"), nlink("/fs/b"))
	}
	e.k.FS.Remove(e.ctx, "/fs/b/x")
	if nlink("/fs/b") != 2 {
		t.Fatalf("after rmdir b=%d", nlink("/fs/b"))
	}
}

func TestRenameRules(t *testing.T) {
	e := newEnv(t, Options{})
	fs := e.k.FS
	ctx := e.ctx
	fs.MkdirAll(ctx, "/fs/d/sub", 0o755)
	fs.Mkdir(ctx, "/fs/empty", 0o755)
	e.write("/fs/f", []byte("f"))
	e.write("/fs/g", []byte("g"))
	e.write("/fs/d/sub/x", []byte("x"))

	wantKind(t, fs.Rename(ctx, "/fs/d", "/fs/d/sub/inside"), kernel.Invalid)
	wantKind(t, fs.Rename(ctx, "/fs/d", "/fs/f"), kernel.NotDir)
	wantKind(t, fs.Rename(ctx, "/fs/f", "/fs/empty"), kernel.IsDir)
	wantKind(t, fs.Rename(ctx, "/fs/empty", "/fs/d"), kernel.NotEmpty)
	wantKind(t, fs.Rename(ctx, "/fs/nope", "/fs/x"), kernel.NotExist)
	wantKind(t, fs.Rename(ctx, "/fs/f", "/fs/nodir/x"), kernel.NotExist)

	// Replace a file: atomic, the old one is gone with its content.
	if err := fs.Rename(ctx, "/fs/g", "/fs/f"); err != nil {
		t.Fatal(err)
	}
	if string(e.read("/fs/f")) != "g" {
		t.Fatal("rename over did not replace")
	}
	if _, err := fs.Stat(ctx, "/fs/g"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatal("source still there")
	}
	// A directory over an empty directory.
	if err := fs.Rename(ctx, "/fs/d", "/fs/empty"); err != nil {
		t.Fatal(err)
	}
	if string(e.read("/fs/empty/sub/x")) != "x" {
		t.Fatal("subtree did not move")
	}
	// No-replace and exchange, through the namespace.
	root, _ := fs.Stat(ctx, "/fs")
	e.write("/fs/p", []byte("p"))
	e.write("/fs/q", []byte("q"))
	wantKind(t, e.k.NS.Rename(ctx, root.Ino, "p", root.Ino, "q", kernel.RenameNoReplace), kernel.Exist)
	if err := e.k.NS.Rename(ctx, root.Ino, "p", root.Ino, "q", kernel.RenameExchange); err != nil {
		t.Fatal(err)
	}
	if string(e.read("/fs/p")) != "q" || string(e.read("/fs/q")) != "p" {
		t.Fatal("exchange")
	}
	// Renaming one link of a file onto another link of it does nothing.
	fs.Link(ctx, "/fs/p", "/fs/p2")
	if err := fs.Rename(ctx, "/fs/p", "/fs/p2"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, "/fs/p"); err != nil {
		t.Fatal("rename between links of one file removed a name")
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, Options{})
	fs, ctx := e.k.FS, e.ctx
	e.write("/fs/file", []byte("x"))
	fs.MkdirAll(ctx, "/fs/dir/sub", 0o755)

	wantKind(t, fs.Mkdir(ctx, "/fs/dir", 0o755), kernel.Exist)
	wantKind(t, fs.Mkdir(ctx, "/fs/file/x", 0o755), kernel.NotDir)
	wantKind(t, fs.Remove(ctx, "/fs/dir"), kernel.NotEmpty)
	// unlink(2) of a directory is refused and changes nothing, neither
	// the entry nor its parent's times (read from the database: the
	// refused statements ran and were taken back).
	times := func(ino uint64) string {
		var s string
		e.fs.row(ctx, `SELECT mtime || ' ' || ctime || ' ' || nlink FROM inodes WHERE ino = ?`, []any{ino}, &s)
		return s
	}
	dir, _ := e.fs.Lookup(ctx, e.fs.Root(), "dir")
	before, beforeDir := times(e.fs.Root()), times(dir.Ino)
	wantKind(t, e.fs.Unlink(ctx, e.fs.Root(), "dir"), kernel.IsDir)
	wantKind(t, e.fs.Unlink(ctx, e.fs.Root(), "nothing"), kernel.NotExist)
	if a, err := fs.Stat(ctx, "/fs/dir/sub"); err != nil || !a.IsDir() {
		t.Fatalf("after a refused unlink: %v %v", a, err)
	}
	if after := times(e.fs.Root()); after != before {
		t.Fatalf("a refused unlink changed its directory: %v -> %v", before, after)
	}
	if after := times(dir.Ino); after != beforeDir {
		t.Fatalf("a refused unlink changed the directory: %v -> %v", beforeDir, after)
	}
	if e.count(`SELECT count(*) FROM dentries WHERE parent = ? AND name = 'dir'`, e.fs.Root()) != 1 {
		t.Fatal("a refused unlink removed the entry")
	}
	// Nor does a file or directory made in a file.
	file, _ := e.fs.Lookup(ctx, e.fs.Root(), "file")
	before = times(file.Ino)
	_, _, err := e.fs.Create(ctx, file.Ino, "x", kernel.OWronly, 0o644, kernel.Cred{})
	wantKind(t, err, kernel.NotDir)
	_, err = e.fs.Mkdir(ctx, file.Ino, "x", 0o755, kernel.Cred{})
	wantKind(t, err, kernel.NotDir)
	if after := times(file.Ino); after != before {
		t.Fatalf("a refused create changed the file: %v -> %v", before, after)
	}
	_, err = fs.ReadFile(ctx, "/fs/dir")
	wantKind(t, err, kernel.IsDir)
	_, err = fs.Open(ctx, "/fs/file", kernel.OWronly|kernel.OCreate|kernel.OExcl, 0o644)
	wantKind(t, err, kernel.Exist)
	wantKind(t, fs.WriteFile(ctx, "/fs/"+strings.Repeat("n", 256), nil, 0o644), kernel.NameTooLong)
	if err := fs.WriteFile(ctx, "/fs/"+strings.Repeat("n", 255), nil, 0o644); err != nil {
		t.Fatalf("255-byte name: %v", err)
	}
	wantKind(t, fs.WriteFile(ctx, "/fs/a\x00b", nil, 0o644), kernel.Invalid)
	wantKind(t, fs.WriteFile(ctx, "fs/relative", nil, 0o644), kernel.Invalid)
	// ".." never climbs above the root.
	if _, err := fs.Stat(ctx, "/fs/../../../fs/file"); err != nil {
		t.Fatal(err)
	}
	// The namespace root is fixed.
	wantKind(t, fs.Mkdir(ctx, "/newtop", 0o755), kernel.NotPermitted)
	wantKind(t, fs.Remove(ctx, "/fs"), kernel.NotPermitted)

	// Symbolic links: loops are ELOOP; a link resolves relative to its dir.
	fs.Symlink(ctx, "loop2", "/fs/loop1")
	fs.Symlink(ctx, "loop1", "/fs/loop2")
	_, err = fs.Stat(ctx, "/fs/loop1")
	wantKind(t, err, kernel.Loop)
	fs.Symlink(ctx, "sub", "/fs/dir/link")
	fs.Symlink(ctx, "../file", "/fs/dir/up")
	if a, err := fs.Stat(ctx, "/fs/dir/link"); err != nil || !a.IsDir() {
		t.Fatalf("stat through link: %+v %v", a, err)
	}
	if string(e.read("/fs/dir/up")) != "x" {
		t.Fatal("relative .. link")
	}
	if tgt, _ := fs.Readlink(ctx, "/fs/dir/up"); tgt != "../file" {
		t.Fatalf("readlink %q", tgt)
	}
	wantKind(t, fs.Symlink(ctx, "", "/fs/emptylink"), kernel.NotExist)

	// A read-only handle cannot write.
	f, _ := fs.Open(ctx, "/fs/file", kernel.ORdonly, 0)
	_, err = f.WriteAt(ctx, []byte("no"), 0)
	wantKind(t, err, kernel.Permission)
	f.Close()
	if !errors.Is(func() error { _, err := fs.Stat(ctx, "/fs/none"); return err }(), fs2ErrNotExist) {
		t.Fatal("errors.Is(fs.ErrNotExist) does not work")
	}
}

var fs2ErrNotExist = fs.ErrNotExist

func TestSetattr(t *testing.T) {
	e := newEnv(t, Options{})
	fs, ctx := e.k.FS, e.ctx
	e.write("/fs/f", []byte("content"))
	mt := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if err := fs.Chtimes(ctx, "/fs/f", mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := fs.Chmod(ctx, "/fs/f", 0o4750); err != nil {
		t.Fatal(err)
	}
	a, _ := fs.Stat(ctx, "/fs/f")
	if !a.Mtime.Equal(mt) || !a.Atime.Equal(mt) || a.Mode != syscall.S_IFREG|0o4750 {
		t.Fatalf("attrs %+v", a)
	}
	if a.Ctime.Before(time.Now().Add(-time.Minute)) {
		t.Fatal("ctime not updated")
	}
	if _, err := fs.Setattr(ctx, "/fs/f", kernel.SetAttr{Valid: kernel.SetUID | kernel.SetGID, UID: 1234, GID: 5678}); err != nil {
		t.Fatal(err)
	}
	a, _ = fs.Stat(ctx, "/fs/f")
	if a.UID != 1234 || a.GID != 5678 {
		t.Fatalf("owner %d:%d", a.UID, a.GID)
	}
	// Truncation with no writer open commits at once.
	fs.Truncate(ctx, "/fs/f", 3)
	if string(e.read("/fs/f")) != "con" {
		t.Fatal("truncate")
	}
	fs.Truncate(ctx, "/fs/f", 6)
	if !bytes.Equal(e.read("/fs/f"), []byte("con\x00\x00\x00")) {
		t.Fatal("extend")
	}
	// setgid directories pass their group down.
	fs.Mkdir(ctx, "/fs/g", 0o755)
	fs.Setattr(ctx, "/fs/g", kernel.SetAttr{Valid: kernel.SetGID | kernel.SetMode, GID: 777, Mode: 0o2775})
	e.write("/fs/g/x", nil)
	fs.Mkdir(ctx, "/fs/g/sub", 0o755)
	x, _ := fs.Stat(ctx, "/fs/g/x")
	sub, _ := fs.Stat(ctx, "/fs/g/sub")
	if x.GID != 777 || sub.GID != 777 || sub.Mode&syscall.S_ISGID == 0 {
		t.Fatalf("setgid inheritance: x=%+v sub=%+v", x, sub)
	}
}

// Many goroutines writing, reading, renaming and deleting at once; run with
// -race.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, Options{SpillBytes: 400 << 10})
	fs, ctx := e.k.FS, e.ctx
	fs.Mkdir(ctx, "/fs/c", 0o755)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; i < 30; i++ {
				p := "/fs/c/" + string(rune('a'+rng.Intn(6)))
				switch rng.Intn(4) {
				case 0:
					// Replace the file the way rsync and editors do:
					// write a temporary file, rename it over. (Two
					// writers of one file mix their bytes on any file
					// system.)
					data := bytes.Repeat([]byte{byte(w)}, rng.Intn(600_000))
					tmp := fmt.Sprintf("/fs/c/.tmp%d", w)
					if err := fs.WriteFile(ctx, tmp, data, 0o644); err != nil {
						errs <- err
					}
					if err := fs.Rename(ctx, tmp, p); err != nil {
						errs <- err
					}
				case 1:
					b, err := fs.ReadFile(ctx, p)
					if err != nil && kernel.KindOf(err) != kernel.NotExist {
						errs <- err
					}
					// Each version of a file comes whole from one
					// writer: all its bytes are the same.
					if len(b) > 0 && !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) {
						errs <- errors.New("torn read of " + p)
					}
				case 2:
					if err := fs.Rename(ctx, p, "/fs/c/"+string(rune('a'+rng.Intn(6)))); err != nil && kernel.KindOf(err) != kernel.NotExist {
						errs <- err
					}
				case 3:
					if err := fs.Remove(ctx, p); err != nil && kernel.KindOf(err) != kernel.NotExist {
						errs <- err
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.count(`SELECT count(*) FROM chunks c WHERE refs != (SELECT count(*) FROM blocks b WHERE b.chunk = c.id)`); n != 0 {
		t.Fatalf("%d chunks with wrong refs", n)
	}
}

// Attributes set on a file open for writing (tar does: times, owner, mode,
// then close) show at once and are committed with the content.
func TestSetattrWhileWriting(t *testing.T) {
	e := newEnv(t, Options{})
	root, _ := e.k.FS.Stat(e.ctx, "/fs")
	a, h, err := e.k.NS.Create(e.ctx, root.Ino, "f", kernel.OWronly|kernel.OExcl, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt(e.ctx, []byte("data"), 0)
	mt := time.Date(2019, 5, 6, 7, 8, 9, 10, time.UTC)
	for _, set := range []kernel.SetAttr{
		{Valid: kernel.SetMtime, Mtime: mt},
		{Valid: kernel.SetUID | kernel.SetGID, UID: 42, GID: 43},
		{Valid: kernel.SetMode, Mode: 0o640},
	} {
		if _, err := e.k.NS.Setattr(e.ctx, a.Ino, set); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		got, err := e.k.FS.Stat(e.ctx, "/fs/f")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Mtime.Equal(mt) || got.UID != 42 || got.GID != 43 || got.Mode != syscall.S_IFREG|0o640 || got.Size != 4 {
			t.Fatalf("%s: %+v", when, got)
		}
	}
	check("while open")
	if err := h.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(e.ctx)
	check("after close")
	e.reopen(Options{})
	check("after reopen")
}
