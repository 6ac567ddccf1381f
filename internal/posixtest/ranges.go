package posixtest

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Offsets here are whole MiB: every file system's blocks line up with them
// (ext4's 4 KiB, fazt's 256 KiB).
const mib = 1 << 20

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func fileSize(t *testing.T, f *os.File) int64 {
	t.Helper()
	fi, err := f.Stat()
	must(t, err)
	return fi.Size()
}

// Fallocate: mode 0 grows the file (zeros), KEEP_SIZE leaves the size,
// PUNCH_HOLE|KEEP_SIZE zeroes a range and keeps the size; other modes
// are refused without changing anything.
func Fallocate(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "f"))
	must(t, err)
	defer f.Close()
	fd := int(f.Fd())
	must(t, unix.Fallocate(fd, 0, 0, 3*mib))
	if n := fileSize(t, f); n != 3*mib {
		t.Fatalf("size after fallocate: %d", n)
	}
	must(t, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, 5*mib))
	if n := fileSize(t, f); n != 3*mib {
		t.Fatalf("size after KEEP_SIZE: %d", n)
	}
	data := randomBytes(3*mib, 1)
	_, err = f.WriteAt(data, 0)
	must(t, err)
	// A hole across a whole MiB and parts of its neighbours.
	from, to := int64(mib-100), int64(2*mib+100)
	must(t, unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, to-from))
	clear(data[from:to])
	got := make([]byte, len(data))
	_, err = f.ReadAt(got, 0)
	must(t, err)
	if !bytes.Equal(got, data) || fileSize(t, f) != 3*mib {
		t.Fatalf("after punching a hole: content differs or size %d", fileSize(t, f))
	}
	// Read back through a new open too (the committed file).
	must(t, f.Sync())
	again, err := os.ReadFile(f.Name())
	must(t, err)
	if !bytes.Equal(again, data) {
		t.Fatal("after punching a hole: a new open reads other content")
	}
	// PUNCH_HOLE without KEEP_SIZE is refused.
	if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE, 0, mib); err == nil {
		t.Fatal("PUNCH_HOLE without KEEP_SIZE succeeded")
	}
	if n := fileSize(t, f); n != 3*mib {
		t.Fatalf("a refused fallocate changed the size: %d", n)
	}
}

// SeekDataHole: SEEK_DATA and SEEK_HOLE find a sparse file's data and holes;
// past the end is ENXIO.
func SeekDataHole(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	defer f.Close()
	fd := int(f.Fd())
	_, err = f.WriteAt([]byte("head"), 0)
	must(t, err)
	_, err = f.WriteAt([]byte("tail"), 8*mib)
	must(t, err)
	size := int64(8*mib + 4)
	check := func(when string) {
		t.Helper()
		hole, err := unix.Seek(fd, 0, unix.SEEK_HOLE)
		must(t, err)
		if hole < 4 || hole > 4*mib {
			t.Fatalf("%s: SEEK_HOLE from 0 = %d, want a hole between the two writes", when, hole)
		}
		data, err := unix.Seek(fd, hole, unix.SEEK_DATA)
		must(t, err)
		if data <= hole || data > 8*mib {
			t.Fatalf("%s: SEEK_DATA from %d = %d, want the tail's block", when, hole, data)
		}
		if end, err := unix.Seek(fd, 8*mib, unix.SEEK_HOLE); err != nil || end != size {
			t.Fatalf("%s: SEEK_HOLE in the tail = %d %v, want the end %d", when, end, err, size)
		}
		if _, err := unix.Seek(fd, size, unix.SEEK_DATA); err != syscall.ENXIO {
			t.Fatalf("%s: SEEK_DATA at the end: %v, want ENXIO", when, err)
		}
		if _, err := unix.Seek(fd, size+10, unix.SEEK_HOLE); err != syscall.ENXIO {
			t.Fatalf("%s: SEEK_HOLE past the end: %v, want ENXIO", when, err)
		}
	}
	check("written")
	must(t, f.Sync())
	check("committed")
}

// CopyFileRange: a whole file and ranges of it, aligned and not, copied
// by copy_file_range(2); overlapping ranges of one file are refused.
func CopyFileRange(t *testing.T, dir string) {
	data := randomBytes(5*mib+12345, 2)
	src := filepath.Join(dir, "src")
	must(t, os.WriteFile(src, data, 0o644))
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	copyAll := func(name string, offIn, offOut, n int64) []byte {
		t.Helper()
		out, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
		must(t, err)
		defer out.Close()
		for done := int64(0); done < n; {
			rin, rout := offIn+done, offOut+done
			k, err := unix.CopyFileRange(int(in.Fd()), &rin, int(out.Fd()), &rout, int(n-done), 0)
			must(t, err)
			if k == 0 {
				break
			}
			done += int64(k)
		}
		must(t, out.Close())
		b, err := os.ReadFile(filepath.Join(dir, name))
		must(t, err)
		return b
	}
	if got := copyAll("whole", 0, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatalf("whole copy: %d bytes, differs", len(got))
	}
	// Into the middle of an existing file, at an offset that lines up.
	base := randomBytes(4*mib, 3)
	must(t, os.WriteFile(filepath.Join(dir, "mid"), base, 0o644))
	want := append([]byte(nil), base...)
	copy(want[mib:], data[mib:3*mib])
	if got := copyAll("mid", mib, mib, 2*mib); !bytes.Equal(got, want) {
		t.Fatal("a copy of aligned blocks into a file: content differs")
	}
	// Offsets that do not line up.
	want = make([]byte, 777+mib)
	copy(want[777:], data[333:333+mib])
	if got := copyAll("odd", 333, 777, mib); !bytes.Equal(got, want) {
		t.Fatal("an unaligned copy: content differs")
	}
	// Past the source's end: nothing.
	out, err := os.OpenFile(filepath.Join(dir, "whole"), os.O_RDWR, 0)
	must(t, err)
	defer out.Close()
	rin, rout := int64(len(data)), int64(0)
	if k, err := unix.CopyFileRange(int(in.Fd()), &rin, int(out.Fd()), &rout, 100, 0); k != 0 || err != nil {
		t.Fatalf("copy from the end: %d %v", k, err)
	}
	// Overlapping ranges of one file.
	self, err := os.OpenFile(src, os.O_RDWR, 0)
	must(t, err)
	defer self.Close()
	rin, rout = 0, 100
	if _, err := unix.CopyFileRange(int(self.Fd()), &rin, int(self.Fd()), &rout, mib, 0); err != syscall.EINVAL {
		t.Fatalf("overlapping copy within a file: %v, want EINVAL", err)
	}
	if b, _ := os.ReadFile(src); !bytes.Equal(b, data) {
		t.Fatal("a refused copy changed the source")
	}
}
