package mount

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/internal/fusetest"
	"github.com/fazt-sh/fazt/internal/posixtest"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
	"github.com/fazt-sh/fazt/vfs"
	gofuseposix "github.com/hanwen/go-fuse/v2/posixtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	k   *kernel.Kernel
	fs  *vfs.FS
	db  *storage.DB
	mnt string
}

// mountTest boots a kernel with /fs on a fresh database and mounts it.
func mountTest(t *testing.T) *env {
	t.Helper()
	fusetest.Require(t)
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, filepath.Join(dir, "fazt.db"), storage.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Open(ctx, db, vfs.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	k := kernel.New("test", quiet)
	if err := k.NS.Bind("fs", f); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// As root, other users may come in (the POSIX suite writes as one),
	// the file modes deciding, as with fazt fs mount --allow-other.
	m, err := New(k, mnt, Options{AllowOther: os.Geteuid() == 0, Xattrs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(false); err != nil {
			t.Logf("unmount: %v; detaching", err)
			Detach(mnt)
		}
		m.Wait()
		db.Close()
	})
	return &env{k: k, fs: f, db: db, mnt: mnt}
}

// The POSIX suite, on a plain directory (proving the suite) and on fazt.
func TestPosix(t *testing.T) {
	e := mountTest(t)
	names := make([]string, 0, len(posixtest.All))
	for n := range posixtest.All {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run("plain/"+n, func(t *testing.T) { posixtest.All[n](t, t.TempDir()) })
		t.Run("fazt/"+n, func(t *testing.T) {
			dir := filepath.Join(e.mnt, "fs", n)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			posixtest.All[n](t, dir)
		})
	}
}

// go-fuse's own POSIX tests, minus one that no local file system passes.
func TestGoFusePosix(t *testing.T) {
	e := mountTest(t)
	skip := map[string]string{
		// It wants a second descriptor of the same process to conflict;
		// POSIX record locks belong to the process (ext4 says nil too).
		// Locks here are the host kernel's, as on a local file system.
		"FcntlFlockLocksFile": "expects what no local file system does",
	}
	names := make([]string, 0, len(gofuseposix.All))
	for n := range gofuseposix.All {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if why, ok := skip[n]; ok {
			t.Logf("not run: %s (%s)", n, why)
			continue
		}
		t.Run(n, func(t *testing.T) {
			dir := filepath.Join(e.mnt, "fs", "gofuse-"+n)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			gofuseposix.All[n](t, dir)
		})
	}
}

// Changes that do not come through the mount reach it at once, despite the
// kernel's entry, attribute and page caches.
func TestInvalidation(t *testing.T) {
	e := mountTest(t)
	ctx := context.Background()
	p := filepath.Join(e.mnt, "fs", "page.html")
	if err := os.WriteFile(p, []byte("version 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // warm every cache
		if b, _ := os.ReadFile(p); string(b) != "version 1" {
			t.Fatal("setup")
		}
	}
	if err := e.k.FS.WriteFile(ctx, "/fs/page.html", []byte("version 2, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool { b, _ := os.ReadFile(p); return string(b) == "version 2, longer" })

	// A name the kernel has cached as missing.
	q := filepath.Join(e.mnt, "fs", "new.txt")
	if _, err := os.Stat(q); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := e.k.FS.WriteFile(ctx, "/fs/new.txt", []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool { _, err := os.Stat(q); return err == nil })

	// A removed name, and one renamed.
	if err := e.k.FS.Rename(ctx, "/fs/new.txt", "/fs/moved.txt"); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool {
		_, err1 := os.Stat(q)
		b, _ := os.ReadFile(filepath.Join(e.mnt, "fs", "moved.txt"))
		return errors.Is(err1, os.ErrNotExist) && string(b) == "hi"
	})
	if err := e.k.FS.Chmod(ctx, "/fs/moved.txt", 0o600); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool {
		st, err := os.Stat(filepath.Join(e.mnt, "fs", "moved.txt"))
		return err == nil && st.Mode().Perm() == 0o600
	})

	// A directory's listing, which the host kernel keeps (FOPEN_CACHE_DIR):
	// names it never looked up appear, removed ones go.
	d := filepath.Join(e.mnt, "fs", "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, ",")
	}
	for i := 0; i < 3; i++ {
		if got := list(); got != "a" {
			t.Fatalf("listing %q, want a", got)
		}
	}
	if err := e.k.FS.WriteFile(ctx, "/fs/d/b", []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool { return list() == "a,b" })
	if err := e.k.FS.Remove(ctx, "/fs/d/a"); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool { return list() == "b" })

	// A hard link made beside the mount: the link count the kernel has.
	if _, err := os.Stat(filepath.Join(d, "b")); err != nil {
		t.Fatal(err)
	}
	if err := e.k.FS.Link(ctx, "/fs/d/b", "/fs/d/c"); err != nil {
		t.Fatal(err)
	}
	settled(t, e, func() bool {
		st, err := os.Stat(filepath.Join(d, "b"))
		return err == nil && st.Sys().(*syscall.Stat_t).Nlink == 2 && list() == "b,c"
	})
}

// settled checks a change made beside the mount once the kernel says the
// mount's invalidations for it are sent (Namespace.Settle); /fs is cached
// for an hour, so a pass cannot come from expiry.
func settled(t *testing.T, e *env, cond func() bool) {
	t.Helper()
	e.k.NS.Settle(context.Background())
	if !cond() {
		t.Fatal("change not visible through the mount once settled")
	}
}

// A big file written through the mount arrives intact, without being held
// in memory, and reads back the same.
func TestLargeFile(t *testing.T) {
	e := mountTest(t)
	p := filepath.Join(e.mnt, "fs", "large")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		for j := range chunk {
			chunk[j] = byte(i + j/4096)
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		if _, err := io.ReadFull(g, got); err != nil {
			t.Fatal(err)
		}
		for j := range chunk {
			chunk[j] = byte(i + j/4096)
		}
		if !bytes.Equal(got, chunk) {
			t.Fatalf("MiB %d differs", i)
		}
	}
}

// The root shows the bound file systems and refuses new top-level names.
func TestRoot(t *testing.T) {
	e := mountTest(t)
	ents, err := os.ReadDir(e.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "fs" || !ents[0].IsDir() {
		t.Fatalf("root: %v", ents)
	}
	if err := os.Mkdir(filepath.Join(e.mnt, "x"), 0o755); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("mkdir in root: %v", err)
	}
	var st syscallStatfs
	if err := statfs(filepath.Join(e.mnt, "fs"), &st); err != nil || st.Blocks == 0 || st.Namelen != 255 {
		t.Fatalf("statfs: %+v %v", st, err)
	}
	// df of the mount point itself shows the same disk.
	var root syscallStatfs
	if err := statfs(e.mnt, &root); err != nil || root.Blocks != st.Blocks || root.Bsize != st.Bsize {
		t.Fatalf("statfs of the root: %+v %v; of /fs: %+v", root, err, st)
	}
}

// panicky is a file system whose lookup of "boom" panics.
type panicky struct{ kernel.FileSystem }

func (p panicky) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	if name == "boom" {
		var m map[string]int
		m["x"]++ // a nil map: the kind of bug that must not take the mount down
	}
	return p.FileSystem.Lookup(ctx, dir, name)
}

// A panic under a FUSE request is EIO for the tool that made it, logged
// with its stack; the mount goes on serving.
func TestPanicThroughMount(t *testing.T) {
	e := mountTest(t)
	var logged bytes.Buffer
	var mu sync.Mutex // guards logged
	e.k.Log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	e.k.NS.Log = e.k.Log
	if err := e.k.NS.Bind("p", panicky{e.fs}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		out, err := exec.Command("ls", filepath.Join(e.mnt, "p", "boom")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Input/output error") {
			t.Fatalf("ls of a panicking lookup: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(e.mnt, "fs", "after.txt"), []byte("ok"), 0o644); err != nil {
			t.Fatalf("after the panic: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "panic") || !strings.Contains(logged.String(), "stack=") {
		t.Fatalf("log: %s", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// No process the kernel starts inherits a mount's /dev/fuse descriptor
// (a successor that held its dead predecessor's mount hung on it).
func TestFuseDescriptorCloseOnExec(t *testing.T) {
	mountTest(t)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); target != "/dev/fuse" {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("/dev/fuse descriptor %d is inherited by children", fd)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no /dev/fuse descriptor found")
	}
}

// cp within the mount (coreutils asks copy_file_range, answered by
// sharing blocks: vfs TestCopyRangeShares) makes an equal copy, stores
// no new chunk, and a later write to the copy leaves the source as it
// was.
func TestCopySharesContent(t *testing.T) {
	e := mountTest(t)
	ctx := context.Background()
	data := make([]byte, 16<<20+1000)
	rand.New(rand.NewSource(7)).Read(data)
	src, dst := filepath.Join(e.mnt, "fs", "big"), filepath.Join(e.mnt, "fs", "copy")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	chunks := func() (n, bytes int64) {
		e.fs.Commit(ctx)
		e.db.View(ctx, func(tx *storage.Tx) error {
			return tx.QueryRow(`SELECT count(*), coalesce(sum(size), 0) FROM chunks`).Scan(&n, &bytes)
		})
		return n, bytes
	}
	n0, b0 := chunks()
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the copy differs (%v)", err)
	}
	if n, b := chunks(); n != n0 || b != b0 {
		t.Fatalf("cp stored new content: %d chunks (%d bytes), were %d (%d)", n, b, n0, b0)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("changed"), 5)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(src); !bytes.Equal(got, data) {
		t.Fatal("a write to the copy changed the source")
	}
}

// As root the mount reads ahead 1 MiB, not FUSE's 128 KiB.
func TestReadahead(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root, which CI has")
		}
		t.Skip("needs root")
	}
	e := mountTest(t)
	if kb, err := readahead(e.mnt); err != nil || kb != readaheadKB {
		t.Fatalf("readahead of the mount: %d KiB %v, want %d", kb, err, readaheadKB)
	}
}
