package posixtest

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// All lists the tests by name.
var All = map[string]func(*testing.T, string){
	"RenameOverExisting":   RenameOverExisting,
	"RenameDirectory":      RenameDirectory,
	"UnlinkWhileOpen":      UnlinkWhileOpen,
	"TruncateExtend":       TruncateExtend,
	"SparseWrites":         SparseWrites,
	"HardLinkCounts":       HardLinkCounts,
	"SymlinkLoop":          SymlinkLoop,
	"PermissionBits":       PermissionBits,
	"NameTooLong":          NameTooLong,
	"Exist":                Exist,
	"NotEmpty":             NotEmpty,
	"IsDir":                IsDir,
	"NotDir":               NotDir,
	"AppendMode":           AppendMode,
	"TimesNanoseconds":     TimesNanoseconds,
	"RandomReadWrite":      RandomReadWrite,
	"ReadDirMany":          ReadDirMany,
	"OverwriteWithTrunc":   OverwriteWithTrunc,
	"RenameOnSave":         RenameOnSave,
	"DirectoryNlink":       DirectoryNlink,
	"ExclusiveCreate":      ExclusiveCreate,
	"SymlinkRelativeChain": SymlinkRelativeChain,
	"SpecialFiles":         SpecialFiles,
	"DirectoryFsync":       DirectoryFsync,
	"CtimeAtOnce":          CtimeAtOnce,
	"ReadDirDots":          ReadDirDots,
	"Fallocate":            Fallocate,
	"SeekDataHole":         SeekDataHole,
	"CopyFileRange":        CopyFileRange,
	"Xattrs":               Xattrs,
	"RenameCtime":          RenameCtime,
	"SetIDCleared":         SetIDCleared,
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErrno(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	var got syscall.Errno
	if !errors.As(err, &got) || got != want {
		t.Fatalf("err = %v, want %v (%d)", err, want, want)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(s), 0o644))
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return string(b)
}

func RenameOverExisting(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "new")
	write(t, b, "old")
	fb, err := os.Open(b) // an open reader of the replaced file keeps reading it
	must(t, err)
	defer fb.Close()
	must(t, os.Rename(a, b))
	if read(t, b) != "new" {
		t.Fatal("target not replaced")
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source still exists: %v", err)
	}
	got := make([]byte, 10)
	n, _ := fb.Read(got)
	if string(got[:n]) != "old" {
		t.Fatalf("open handle of replaced file reads %q", got[:n])
	}
}

func RenameDirectory(t *testing.T, dir string) {
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "x", "y"), 0o755))
	write(t, filepath.Join(src, "x", "y", "f"), "deep")
	wantErrno(t, os.Rename(src, filepath.Join(src, "x", "inside")), syscall.EINVAL)
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	// syscall.Rename: os.Rename refuses an existing directory target itself.
	must(t, syscall.Rename(src, filepath.Join(dir, "empty")))
	if read(t, filepath.Join(dir, "empty", "x", "y", "f")) != "deep" {
		t.Fatal("subtree lost")
	}
	must(t, os.Mkdir(filepath.Join(dir, "full"), 0o755))
	write(t, filepath.Join(dir, "full", "f"), "")
	err := syscall.Rename(filepath.Join(dir, "empty"), filepath.Join(dir, "full"))
	var errno syscall.Errno
	if !errors.As(err, &errno) || (errno != syscall.ENOTEMPTY && errno != syscall.EEXIST) {
		t.Fatalf("rename over non-empty dir: %v", err)
	}
}

func UnlinkWhileOpen(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	f, err := os.Create(p)
	must(t, err)
	defer f.Close()
	_, err = f.WriteString("before")
	must(t, err)
	must(t, os.Remove(p))
	_, err = f.WriteString(" after")
	must(t, err)
	b := make([]byte, 32)
	n, err := f.ReadAt(b, 0)
	if string(b[:n]) != "before after" {
		t.Fatalf("read %q (%v)", b[:n], err)
	}
	st, err := f.Stat()
	must(t, err)
	if st.Sys().(*syscall.Stat_t).Nlink != 0 {
		t.Fatalf("nlink %d", st.Sys().(*syscall.Stat_t).Nlink)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("name still there")
	}
}

func TruncateExtend(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, "0123456789")
	must(t, os.Truncate(p, 4))
	if read(t, p) != "0123" {
		t.Fatal("shrink")
	}
	must(t, os.Truncate(p, 8))
	if read(t, p) != "0123\x00\x00\x00\x00" {
		t.Fatalf("extend: %q", read(t, p))
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	must(t, err)
	must(t, f.Truncate(1<<20+5))
	_, err = f.WriteAt([]byte("z"), 1<<20+4)
	must(t, err)
	must(t, f.Truncate(2))
	must(t, f.Close())
	if read(t, p) != "01" {
		t.Fatalf("ftruncate: %d bytes", len(read(t, p)))
	}
}

func SparseWrites(t *testing.T, dir string) {
	p := filepath.Join(dir, "sparse")
	f, err := os.Create(p)
	must(t, err)
	_, err = f.WriteAt([]byte("head"), 0)
	must(t, err)
	_, err = f.WriteAt([]byte("tail"), 64<<20)
	must(t, err)
	must(t, f.Close())
	st, err := os.Stat(p)
	must(t, err)
	if st.Size() != 64<<20+4 {
		t.Fatalf("size %d", st.Size())
	}
	f, err = os.Open(p)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1<<20)
	_, err = f.ReadAt(b, 30<<20)
	must(t, err)
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatal("hole not zero")
	}
	_, err = f.ReadAt(b[:4], 64<<20)
	must(t, err)
	if string(b[:4]) != "tail" {
		t.Fatalf("tail %q", b[:4])
	}
}

func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Lstat(p)
	must(t, err)
	return uint64(st.Sys().(*syscall.Stat_t).Nlink)
}

func HardLinkCounts(t *testing.T, dir string) {
	a := filepath.Join(dir, "a")
	write(t, a, "x")
	for i := 0; i < 3; i++ {
		must(t, os.Link(a, filepath.Join(dir, "l"+string(rune('0'+i)))))
	}
	if nlink(t, a) != 4 {
		t.Fatalf("nlink %d, want 4", nlink(t, a))
	}
	sa, _ := os.Stat(a)
	sl, _ := os.Stat(filepath.Join(dir, "l1"))
	if !os.SameFile(sa, sl) {
		t.Fatal("links are not the same file")
	}
	must(t, os.Remove(a))
	if nlink(t, filepath.Join(dir, "l0")) != 3 {
		t.Fatal("unlink did not drop nlink")
	}
	write(t, filepath.Join(dir, "l2"), "changed")
	if read(t, filepath.Join(dir, "l0")) != "changed" {
		t.Fatal("links do not share content")
	}
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	wantErrno(t, os.Link(filepath.Join(dir, "d"), filepath.Join(dir, "d2")), syscall.EPERM)
}

func SymlinkLoop(t *testing.T, dir string) {
	must(t, os.Symlink("b", filepath.Join(dir, "a")))
	must(t, os.Symlink("a", filepath.Join(dir, "b")))
	_, err := os.Stat(filepath.Join(dir, "a"))
	wantErrno(t, err, syscall.ELOOP)
	if tgt, err := os.Readlink(filepath.Join(dir, "a")); err != nil || tgt != "b" {
		t.Fatalf("readlink %q %v", tgt, err)
	}
	st, err := os.Lstat(filepath.Join(dir, "a"))
	must(t, err)
	if st.Mode()&os.ModeSymlink == 0 || st.Size() != 1 {
		t.Fatalf("lstat %v size %d", st.Mode(), st.Size())
	}
}

func PermissionBits(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, "x")
	for _, m := range []uint32{0o600, 0o755, 0o000, 0o4711, 0o2640, 0o1777} {
		must(t, syscall.Chmod(p, m))
		var st syscall.Stat_t
		must(t, syscall.Stat(p, &st))
		if st.Mode != syscall.S_IFREG|m {
			t.Errorf("chmod %o: mode %o", m, st.Mode)
		}
	}
	d := filepath.Join(dir, "d")
	must(t, os.Mkdir(d, 0o700))
	st, _ := os.Stat(d)
	if st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Fatalf("mkdir 0700: %v", st.Mode())
	}
}

func NameTooLong(t *testing.T, dir string) {
	long := strings.Repeat("n", 256)
	_, err := os.Create(filepath.Join(dir, long))
	wantErrno(t, err, syscall.ENAMETOOLONG)
	wantErrno(t, os.Mkdir(filepath.Join(dir, long), 0o755), syscall.ENAMETOOLONG)
	ok := strings.Repeat("n", 255)
	write(t, filepath.Join(dir, ok), "fits")
	if read(t, filepath.Join(dir, ok)) != "fits" {
		t.Fatal("255-byte name")
	}
}

func Exist(t *testing.T, dir string) {
	d := filepath.Join(dir, "d")
	must(t, os.Mkdir(d, 0o755))
	wantErrno(t, os.Mkdir(d, 0o755), syscall.EEXIST)
	write(t, filepath.Join(dir, "f"), "")
	wantErrno(t, os.Symlink("x", filepath.Join(dir, "f")), syscall.EEXIST)
	wantErrno(t, os.Link(filepath.Join(dir, "f"), d), syscall.EEXIST)
}

func NotEmpty(t *testing.T, dir string) {
	d := filepath.Join(dir, "d")
	must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	wantErrno(t, syscall.Rmdir(d), syscall.ENOTEMPTY)
	must(t, os.Remove(filepath.Join(d, "sub")))
	must(t, syscall.Rmdir(d))
}

func IsDir(t *testing.T, dir string) {
	d := filepath.Join(dir, "d")
	must(t, os.Mkdir(d, 0o755))
	_, err := os.OpenFile(d, os.O_WRONLY, 0)
	wantErrno(t, err, syscall.EISDIR)
	wantErrno(t, syscall.Unlink(d), syscall.EISDIR)
	write(t, filepath.Join(dir, "f"), "")
	wantErrno(t, syscall.Rename(filepath.Join(dir, "f"), d), syscall.EISDIR)
}

func NotDir(t *testing.T, dir string) {
	f := filepath.Join(dir, "f")
	write(t, f, "")
	_, err := os.Stat(filepath.Join(f, "x"))
	wantErrno(t, err, syscall.ENOTDIR)
	wantErrno(t, syscall.Rmdir(f), syscall.ENOTDIR)
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	wantErrno(t, os.Rename(filepath.Join(dir, "d"), f), syscall.ENOTDIR)
}

func AppendMode(t *testing.T, dir string) {
	p := filepath.Join(dir, "log")
	for i := 0; i < 5; i++ {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		must(t, err)
		_, err = f.WriteString("line\n")
		must(t, err)
		must(t, f.Close())
	}
	if read(t, p) != strings.Repeat("line\n", 5) {
		t.Fatalf("append: %q", read(t, p))
	}
}

func TimesNanoseconds(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, "x")
	mt := time.Date(2001, 2, 3, 4, 5, 6, 789012345, time.UTC)
	at := time.Date(2002, 2, 3, 4, 5, 6, 123, time.UTC)
	must(t, os.Chtimes(p, at, mt))
	st, err := os.Stat(p)
	must(t, err)
	if !st.ModTime().Equal(mt) {
		t.Fatalf("mtime %v, want %v", st.ModTime(), mt)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if got := time.Unix(sys.Atim.Sec, sys.Atim.Nsec); !got.Equal(at) {
		t.Fatalf("atime %v, want %v", got, at)
	}
	// A write moves mtime to now.
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	must(t, err)
	f.WriteString("y")
	must(t, f.Close())
	st, _ = os.Stat(p)
	if time.Since(st.ModTime()) > time.Minute {
		t.Fatalf("write did not update mtime: %v", st.ModTime())
	}
}

// RandomReadWrite writes random ranges of a 3 MB file through one handle and
// checks reads through another against a model.
func RandomReadWrite(t *testing.T, dir string) {
	p := filepath.Join(dir, "rw")
	w, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer w.Close()
	rng := rand.New(rand.NewSource(7))
	model := make([]byte, 0)
	for i := 0; i < 200; i++ {
		off := rng.Int63n(3 << 20)
		buf := make([]byte, rng.Intn(300_000))
		rng.Read(buf)
		_, err := w.WriteAt(buf, off)
		must(t, err)
		if end := off + int64(len(buf)); end > int64(len(model)) {
			model = append(model, make([]byte, end-int64(len(model)))...)
		}
		copy(model[off:], buf)
	}
	must(t, w.Sync())
	got, err := os.ReadFile(p)
	must(t, err)
	if !bytes.Equal(got, model) {
		t.Fatalf("content differs: %d bytes, want %d", len(got), len(model))
	}
}

func ReadDirMany(t *testing.T, dir string) {
	var want []string
	for i := 0; i < 1500; i++ {
		n := "f" + strings.Repeat("x", i%40) + string(rune('a'+i%26)) + "-" + itoa(i)
		write(t, filepath.Join(dir, n), "")
		want = append(want, n)
	}
	ents, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(want)
	if strings.Join(got, "/") != strings.Join(want, "/") {
		t.Fatalf("listed %d entries, want %d", len(got), len(want))
	}
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

// OverwriteWithTrunc is what "cp new old" and "echo x > f" do.
func OverwriteWithTrunc(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, strings.Repeat("long old content ", 1000))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	f.WriteString("short")
	must(t, f.Close())
	if read(t, p) != "short" {
		t.Fatalf("got %q", read(t, p))
	}
}

// RenameOnSave is how editors, sed -i and rsync replace a file.
func RenameOnSave(t *testing.T, dir string) {
	p := filepath.Join(dir, "page.html")
	write(t, p, "v1")
	must(t, os.Chmod(p, 0o640))
	tmp := filepath.Join(dir, ".page.html.swp")
	write(t, tmp, "v2")
	must(t, os.Chmod(tmp, 0o640))
	must(t, os.Rename(tmp, p))
	if read(t, p) != "v2" {
		t.Fatal("rename-on-save")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d entries after save", len(ents))
	}
}

func DirectoryNlink(t *testing.T, dir string) {
	d := filepath.Join(dir, "d")
	must(t, os.Mkdir(d, 0o755))
	for _, s := range []string{"a", "b", "c"} {
		must(t, os.Mkdir(filepath.Join(d, s), 0o755))
	}
	write(t, filepath.Join(d, "file"), "")
	// find(1) relies on nlink = 2 + subdirectories.
	if n := nlink(t, d); n != 5 {
		t.Fatalf("nlink %d, want 5", n)
	}
}

func ExclusiveCreate(t *testing.T, dir string) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	must(t, err)
	f.Close()
	_, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	wantErrno(t, err, syscall.EEXIST)
}

func SymlinkRelativeChain(t *testing.T, dir string) {
	must(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	write(t, filepath.Join(dir, "a", "b", "target"), "found")
	must(t, os.Symlink("b/target", filepath.Join(dir, "a", "l1")))
	must(t, os.Symlink("a/l1", filepath.Join(dir, "l2")))
	if read(t, filepath.Join(dir, "l2")) != "found" {
		t.Fatal("symlink chain")
	}
}
