package vfs

import (
	"fmt"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

// A lookup's miss reads the whole directory into the cache, and its
// listing answers missing names until an entry is added or removed: every
// answer stays the database's, through creates, removals, renames, an
// open file being written, and directories too large to read whole.
func TestLookupsAfterADirectoryIsRead(t *testing.T) {
	e := newEnv(t, Options{})
	for _, d := range []string{"/fs/d", "/fs/big"} {
		if err := e.k.FS.MkdirAll(e.ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		e.write("/fs/d/"+n, []byte(n))
	}
	if err := e.k.FS.Mkdir(e.ctx, "/fs/e", 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range loadDirMax + 5 {
		e.write(fmt.Sprintf("/fs/big/f%04d", i), []byte("x"))
	}
	e.reopen(Options{}) // a cold cache
	fs := e.k.FS
	stat := func(p string, want kernel.Kind, size int64) {
		t.Helper()
		a, err := fs.Stat(e.ctx, p)
		if want != 0 {
			wantKind(t, err, want)
			return
		}
		if err != nil || a.Size != size {
			t.Fatalf("stat %s: size %d, %v; want %d", p, a.Size, err, size)
		}
	}
	stat("/fs/d/a", 0, 1)
	stat("/fs/d/nope", kernel.NotExist, 0)
	stat("/fs/d/b", 0, 1)

	e.write("/fs/d/nope", []byte("now"))
	stat("/fs/d/nope", 0, 3)
	if err := fs.Remove(e.ctx, "/fs/d/b"); err != nil {
		t.Fatal(err)
	}
	stat("/fs/d/b", kernel.NotExist, 0)
	if err := fs.Rename(e.ctx, "/fs/d/c", "/fs/e/c"); err != nil {
		t.Fatal(err)
	}
	stat("/fs/d/c", kernel.NotExist, 0)
	stat("/fs/e/c", 0, 1)
	// Names that come into a directory read whole, by rename and by link.
	e.fs.attrs.reset()
	stat("/fs/d/a", 0, 1)
	if err := fs.Rename(e.ctx, "/fs/e/c", "/fs/d/moved"); err != nil {
		t.Fatal(err)
	}
	stat("/fs/d/moved", 0, 1)
	stat("/fs/e/c", kernel.NotExist, 0)
	stat("/fs/e/linked", kernel.NotExist, 0)
	if err := fs.Link(e.ctx, "/fs/d/moved", "/fs/e/linked"); err != nil {
		t.Fatal(err)
	}
	stat("/fs/e/linked", 0, 1)

	// An open file's size is its writer's, also when its directory is
	// read whole for the first time.
	f, err := fs.Open(e.ctx, "/fs/d/a", kernel.ORdwr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(e.ctx, []byte("longer"), 0); err != nil {
		t.Fatal(err)
	}
	e.fs.attrs.reset()
	stat("/fs/d/nope", 0, 3)
	stat("/fs/d/a", 0, 6)
	stat("/fs/d/zzz", kernel.NotExist, 0)

	stat("/fs/big/f0003", 0, 1)
	stat("/fs/big/missing", kernel.NotExist, 0)
	stat(fmt.Sprintf("/fs/big/f%04d", loadDirMax+4), 0, 1)
	e.write("/fs/big/missing", []byte("here"))
	stat("/fs/big/missing", 0, 4)
}
