package posixtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SpecialFiles: FIFOs, sockets and devices are nodes like any other: made,
// stat'ed with their type and device number, listed, renamed, linked,
// chmod'ed, chown'ed and removed.
func SpecialFiles(t *testing.T, dir string) {
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o640))
	sock := filepath.Join(dir, "sock")
	// bind(2) of a Unix socket makes its node (Go's listeners unlink it
	// on Close; a raw socket leaves it).
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	must(t, err)
	must(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}))
	syscall.Close(fd)
	want := map[string]uint32{"fifo": syscall.S_IFIFO, "sock": syscall.S_IFSOCK}
	dev := unix.Mkdev(1, 3) // /dev/null's number
	if os.Geteuid() == 0 {
		must(t, syscall.Mknod(filepath.Join(dir, "chr"), syscall.S_IFCHR|0o600, int(dev)))
		must(t, syscall.Mknod(filepath.Join(dir, "blk"), syscall.S_IFBLK|0o600, int(unix.Mkdev(7, 200))))
		want["chr"], want["blk"] = syscall.S_IFCHR, syscall.S_IFBLK
	} else {
		wantErrno(t, syscall.Mknod(filepath.Join(dir, "chr"), syscall.S_IFCHR|0o600, int(dev)), syscall.EPERM)
	}
	for name, typ := range want {
		var st syscall.Stat_t
		must(t, syscall.Lstat(filepath.Join(dir, name), &st))
		if st.Mode&syscall.S_IFMT != typ {
			t.Fatalf("%s: type %o, want %o", name, st.Mode&syscall.S_IFMT, typ)
		}
		switch name {
		case "chr":
			if st.Rdev != dev {
				t.Fatalf("chr: rdev %#x, want %#x", st.Rdev, dev)
			}
		case "blk":
			if unix.Major(st.Rdev) != 7 || unix.Minor(st.Rdev) != 200 {
				t.Fatalf("blk: rdev %d:%d, want 7:200", unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
		case "fifo":
			if st.Mode&0o7777 != 0o640&^uint32(umask()) {
				t.Fatalf("fifo: mode %o", st.Mode&0o7777)
			}
		}
	}
	// Listed with their types.
	ents, err := os.ReadDir(dir)
	must(t, err)
	types := map[string]os.FileMode{}
	for _, e := range ents {
		types[e.Name()] = e.Type()
	}
	if types["fifo"] != os.ModeNamedPipe || types["sock"] != os.ModeSocket {
		t.Fatalf("readdir types: %v", types)
	}
	// Renamed, linked, chmod'ed, chown'ed, removed.
	moved := filepath.Join(dir, "fifo2")
	must(t, os.Rename(fifo, moved))
	must(t, os.Link(moved, fifo))
	if n := nlink(t, moved); n != 2 {
		t.Fatalf("fifo nlink %d after a link, want 2", n)
	}
	must(t, os.Chmod(moved, 0o600))
	if os.Geteuid() == 0 {
		must(t, os.Lchown(moved, 1234, 5678))
	}
	var st syscall.Stat_t
	must(t, syscall.Lstat(fifo, &st))
	if st.Mode&0o7777 != 0o600 || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		t.Fatalf("after chmod: mode %o", st.Mode)
	}
	if os.Geteuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Fatalf("after chown: %d:%d", st.Uid, st.Gid)
	}
	// The FIFO works: its I/O is the host kernel's.
	done := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		done <- string(b)
	}()
	w, err := os.OpenFile(moved, os.O_WRONLY, 0)
	must(t, err)
	w.WriteString("through the pipe")
	w.Close()
	select {
	case got := <-done:
		if got != "through the pipe" {
			t.Fatalf("read from the fifo: %q", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the fifo's reader never finished")
	}
	for name := range want {
		must(t, os.Remove(filepath.Join(dir, name)))
	}
	must(t, os.Remove(moved))
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func umask() int {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return m
}

// DirectoryFsync: fsync and fdatasync of a directory (after a rename, to
// make it durable) succeed.
func DirectoryFsync(t *testing.T, dir string) {
	write(t, filepath.Join(dir, "tmp"), "x")
	must(t, os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "final")))
	d, err := os.Open(dir)
	must(t, err)
	defer d.Close()
	must(t, d.Sync())
	must(t, unix.Fdatasync(int(d.Fd())))
}

// CtimeAtOnce: a write, an ftruncate and a chmod on an open file move its
// ctime as they happen, never behind the mtime.
func CtimeAtOnce(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, "hello")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	times := func() (m, c time.Time) {
		var st unix.Stat_t
		must(t, unix.Fstat(int(f.Fd()), &st))
		return time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())
	}
	_, c0 := times()
	step := func(what string, fn func() error) {
		t.Helper()
		time.Sleep(20 * time.Millisecond)
		_, before := times()
		must(t, fn())
		m, c := times()
		if !c.After(before) || c.Before(m) {
			t.Fatalf("%s: ctime %v (was %v), mtime %v", what, c, before, m)
		}
	}
	step("write", func() error { _, err := f.WriteAt([]byte("x"), 1); return err })
	step("ftruncate", func() error { return f.Truncate(2) })
	step("fchmod", func() error { return f.Chmod(0o600) })
	if _, c := times(); !c.After(c0) {
		t.Fatalf("ctime did not move: %v", c)
	}
	// And the times stay where they were when the file is closed.
	m1, c1 := times()
	must(t, f.Sync())
	var st unix.Stat_t
	must(t, unix.Stat(p, &st))
	if m, c := time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix()); !m.Equal(m1) || !c.Equal(c1) {
		t.Fatalf("after fsync: mtime %v ctime %v, were %v %v", m, c, m1, c1)
	}
}

// ReadDirDots: readdir returns "." and ".." with the inode numbers of the
// directory and its parent.
func ReadDirDots(t *testing.T, dir string) {
	sub := filepath.Join(dir, "sub")
	must(t, os.Mkdir(sub, 0o755))
	write(t, filepath.Join(sub, "f"), "x")
	fd, err := unix.Open(sub, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, err)
	defer unix.Close(fd)
	got := map[string]uint64{}
	buf := make([]byte, 8192)
	for range 100 {
		n, err := unix.Getdents(fd, buf)
		must(t, err)
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(b[16]) | int(b[17])<<8
			ino := uint64(0)
			for i := 7; i >= 0; i-- {
				ino = ino<<8 | uint64(b[i])
			}
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			got[string(name)] = ino
			b = b[reclen:]
		}
	}
	inoOf := func(p string) uint64 {
		var st unix.Stat_t
		must(t, unix.Stat(p, &st))
		return st.Ino
	}
	if len(got) != 3 || got["."] != inoOf(sub) || got[".."] != inoOf(dir) || got["f"] == 0 {
		t.Fatalf("readdir: %v; want . = %d, .. = %d and f", got, inoOf(sub), inoOf(dir))
	}
}
