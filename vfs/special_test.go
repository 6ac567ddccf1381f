package vfs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
)

// Special files are inodes with a type and, for devices, a number: a FIFO
// keeps none, a clone (a deploy's staging copy) keeps the device's, and
// opening one is refused (its I/O is the host kernel's).
func TestSpecialFiles(t *testing.T) {
	e := newEnv(t, Options{})
	root := e.fs.Root()
	dev := uint32(unix.Mkdev(8, 1))
	blk, err := e.fs.Mknod(e.ctx, root, "sda1", unix.S_IFBLK|0o660, dev, kernel.Cred{})
	if err != nil || blk.Rdev != dev || blk.Mode != unix.S_IFBLK|0o660 {
		t.Fatalf("mknod of a block device: %+v %v", blk, err)
	}
	fifo, err := e.fs.Mknod(e.ctx, root, "pipe", unix.S_IFIFO|0o644, dev, kernel.Cred{})
	if err != nil || fifo.Rdev != 0 {
		t.Fatalf("mknod of a fifo: %+v %v", fifo, err)
	}
	_, err = e.fs.Mknod(e.ctx, root, "file", unix.S_IFREG|0o644, 0, kernel.Cred{})
	wantKind(t, err, kernel.Invalid)
	_, err = e.fs.Mknod(e.ctx, root, "pipe", unix.S_IFIFO|0o644, 0, kernel.Cred{})
	wantKind(t, err, kernel.Exist)
	if _, err := e.fs.Mkdir(e.ctx, root, "d", 0o755, kernel.Cred{}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.fs.Lookup(e.ctx, root, "d")
	if err := e.fs.Rename(e.ctx, root, "sda1", d.Ino, "sda1", 0); err != nil {
		t.Fatal(err)
	}
	c, err := e.fs.Clone(e.ctx, d.Ino, root, "copy", kernel.Cred{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.fs.Lookup(e.ctx, c.Ino, "sda1")
	if err != nil || got.Rdev != dev || !got.IsSpecial() || got.Ino == blk.Ino {
		t.Fatalf("the clone's device: %+v %v", got, err)
	}
	_, err = e.fs.Open(e.ctx, got.Ino, kernel.ORdonly)
	wantKind(t, err, kernel.Invalid)
}
