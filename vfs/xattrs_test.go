package vfs

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
)

// Attributes go with their inode, travel with a clone (a deploy's staging
// copy), and stay within their limits; only user. names are kept.
func TestXattrs(t *testing.T) {
	e := newEnv(t, Options{})
	e.write("/fs/f", []byte("x"))
	a, err := e.fs.Lookup(e.ctx, e.fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Setxattr(e.ctx, a.Ino, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.fs.Setxattr(e.ctx, a.Ino, "security.selinux", []byte("v"), 0), kernel.NotSupported)
	_, err = e.fs.Getxattr(e.ctx, a.Ino, "security.capability")
	wantKind(t, err, kernel.NoAttr)
	wantKind(t, e.fs.Setxattr(e.ctx, a.Ino, "user.", nil, 0), kernel.Invalid)
	wantKind(t, e.fs.Setxattr(e.ctx, a.Ino, "user.k", nil, unix.XATTR_CREATE|unix.XATTR_REPLACE), kernel.Invalid)
	big := bytes.Repeat([]byte("z"), 60<<10)
	var err2 error
	for i := 0; i < 40 && err2 == nil; i++ {
		err2 = e.fs.Setxattr(e.ctx, a.Ino, "user.big"+string(rune('a'+i)), big, 0)
	}
	wantKind(t, err2, kernel.NoSpace)
	c, err := e.fs.Clone(e.ctx, a.Ino, e.fs.Root(), "g", kernel.Cred{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.fs.Getxattr(e.ctx, c.Ino, "user.k"); err != nil || string(v) != "v" {
		t.Fatalf("the clone's user.k: %q %v", v, err)
	}
	before := e.count(`SELECT count(*) FROM xattrs`)
	if err := e.fs.Unlink(e.ctx, e.fs.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	e.fs.Commit(e.ctx)
	if n := e.count(`SELECT count(*) FROM xattrs WHERE ino = ?`, a.Ino); n != 0 {
		t.Fatalf("%d attributes left by a deleted file", n)
	}
	if n := e.count(`SELECT count(*) FROM xattrs`); n >= before || n == 0 {
		t.Fatalf("%d attributes after the delete, were %d", n, before)
	}
}

// A tree opened on a database that holds attributes deletes them with
// their inode (deletions skip the attribute table only while it is empty).
func TestXattrsGoAfterAReopen(t *testing.T) {
	e := newEnv(t, Options{})
	e.write("/fs/plain", []byte("x"))
	if err := e.fs.Unlink(e.ctx, e.fs.Root(), "plain"); err != nil {
		t.Fatal(err)
	}
	e.write("/fs/f", []byte("x"))
	a, err := e.fs.Lookup(e.ctx, e.fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Setxattr(e.ctx, a.Ino, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	e.fs.Commit(e.ctx)
	e.reopen(Options{})
	if err := e.fs.Unlink(e.ctx, e.fs.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM xattrs`); n != 0 {
		t.Fatalf("%d attributes left by a file deleted after a reopen", n)
	}
}
