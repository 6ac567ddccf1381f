package kernel_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestKindTables(t *testing.T) {
	seen := map[syscall.Errno]bool{}
	for k := kernel.Internal; k <= kernel.Unavailable; k++ {
		if k.Errno() == 0 {
			t.Errorf("%v has no errno", k)
		}
		if k.HTTPStatus() < 400 {
			t.Errorf("%v has HTTP status %d", k, k.HTTPStatus())
		}
		if strings.HasPrefix(k.String(), "unknown") {
			t.Errorf("kind %d has no name", k)
		}
		seen[k.Errno()] = true
	}
	if kernel.Internal.Errno() != syscall.EIO || kernel.Internal.HTTPStatus() != http.StatusInternalServerError {
		t.Error("Internal must be EIO and 500")
	}
	if kernel.Kind(200).Errno() != syscall.EIO || kernel.Kind(200).HTTPStatus() != 500 {
		t.Error("an unknown kind must be EIO and 500")
	}
	if kernel.NotExist.Errno() != syscall.ENOENT || kernel.NotExist.HTTPStatus() != 404 {
		t.Error("NotExist must be ENOENT and 404")
	}
}

func TestKindOf(t *testing.T) {
	base := kernel.E(kernel.NotEmpty, "directory not empty")
	cases := []struct {
		err  error
		want kernel.Kind
	}{
		{base, kernel.NotEmpty},
		{fmt.Errorf("wrapped: %w", base), kernel.NotEmpty},
		{kernel.At("rmdir", "/fs/d", base), kernel.NotEmpty},
		{os.ErrNotExist, kernel.Internal}, // never guessed from the standard library
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, kernel.Internal},
		{errors.New("anything"), kernel.Internal},
		{kernel.At("open", "/x", errors.New("boom")), kernel.Internal},
	}
	for _, c := range cases {
		if got := kernel.KindOf(c.err); got != c.want {
			t.Errorf("KindOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	e := kernel.At("rmdir", "/fs/d", base)
	if e.Error() != "rmdir /fs/d: directory not empty" {
		t.Errorf("message %q", e.Error())
	}
	// An error that already names its operation keeps it.
	if again := kernel.At("remove", "/fs/d", e); again != e {
		t.Errorf("At re-wrapped a located error: %v", again)
	}
	if !errors.Is(kernel.At("open", "/x", kernel.E(kernel.NotExist, "gone")), fs.ErrNotExist) {
		t.Error("errors.Is(NotExist, fs.ErrNotExist) is false")
	}
	if errors.Is(kernel.E(kernel.Exist, "x"), fs.ErrNotExist) {
		t.Error("Exist matches fs.ErrNotExist")
	}
	var ke *kernel.Error
	if !errors.As(e, &ke) || ke.Reason() != "directory not empty" {
		t.Errorf("Reason %q", ke.Reason())
	}
}

func TestCleanPath(t *testing.T) {
	good := map[string]string{
		"/":                 "/",
		"/fs/a/../b":        "/fs/b",
		"/../../etc/passwd": "/etc/passwd",
		"//fs///x/":         "/fs/x",
	}
	for in, want := range good {
		if got, err := kernel.CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]kernel.Kind{
		"relative":                        kernel.Invalid,
		"/a\x00b":                         kernel.Invalid,
		"/fs/" + strings.Repeat("x", 256): kernel.NameTooLong,
	}
	for in, want := range bad {
		if _, err := kernel.CleanPath(in); kernel.KindOf(err) != want {
			t.Errorf("CleanPath(%q): %v, want %v", in, err, want)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", "a\x00"} {
		if kernel.KindOf(kernel.ValidName(n)) != kernel.Invalid {
			t.Errorf("ValidName(%q) accepted", n)
		}
	}
}

// memFS is a tiny file system for namespace tests: directories and
// symbolic links, made through Writer.
type memFS struct {
	nodes map[uint64]*memNode
	next  uint64
}

type memNode struct {
	attr     kernel.Attr
	children map[string]uint64
	target   string
}

func newMemFS() *memFS {
	m := &memFS{nodes: map[uint64]*memNode{}, next: 1}
	m.nodes[1] = &memNode{attr: kernel.Attr{Ino: 1, Mode: syscall.S_IFDIR | 0o755, Nlink: 2}, children: map[string]uint64{}}
	return m
}

func (m *memFS) Root() uint64 { return 1 }
func (m *memFS) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	if n, ok := m.nodes[ino]; ok {
		return n.attr, nil
	}
	return kernel.Attr{}, kernel.E(kernel.NotExist, "no inode")
}
func (m *memFS) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	if c, ok := m.nodes[dir].children[name]; ok {
		return m.nodes[c].attr, nil
	}
	return kernel.Attr{}, kernel.E(kernel.NotExist, "no such file or directory")
}
func (m *memFS) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	var out []kernel.DirEntry
	for name, c := range m.nodes[dir].children {
		out = append(out, kernel.DirEntry{Name: name, Ino: c, Mode: m.nodes[c].attr.Mode})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
func (m *memFS) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	return nil, kernel.E(kernel.NotSupported, "no files")
}
func (m *memFS) Readlink(ctx context.Context, ino uint64) (string, error) {
	return m.nodes[ino].target, nil
}
func (m *memFS) Statfs(ctx context.Context) (kernel.Statfs, error) { return kernel.Statfs{}, nil }
func (m *memFS) add(dir uint64, name string, mode uint32, target string) (kernel.Attr, error) {
	if _, ok := m.nodes[dir].children[name]; ok {
		return kernel.Attr{}, kernel.E(kernel.Exist, "file exists")
	}
	m.next++
	n := &memNode{attr: kernel.Attr{Ino: m.next, Mode: mode, Nlink: 1}, target: target}
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		n.children = map[string]uint64{}
	}
	m.nodes[m.next] = n
	m.nodes[dir].children[name] = m.next
	return n.attr, nil
}
func (m *memFS) Create(ctx context.Context, dir uint64, name string, flags int, mode uint32, cred kernel.Cred) (kernel.Attr, kernel.Handle, error) {
	return kernel.Attr{}, nil, kernel.E(kernel.NotSupported, "no files")
}
func (m *memFS) Mkdir(ctx context.Context, dir uint64, name string, mode uint32, cred kernel.Cred) (kernel.Attr, error) {
	return m.add(dir, name, syscall.S_IFDIR|mode, "")
}
func (m *memFS) Symlink(ctx context.Context, dir uint64, name, target string, cred kernel.Cred) (kernel.Attr, error) {
	return m.add(dir, name, syscall.S_IFLNK|0o777, target)
}
func (m *memFS) Link(ctx context.Context, ino, dir uint64, name string) (kernel.Attr, error) {
	return kernel.Attr{}, kernel.E(kernel.NotSupported, "")
}
func (m *memFS) Unlink(ctx context.Context, dir uint64, name string) error { return nil }
func (m *memFS) Rmdir(ctx context.Context, dir uint64, name string) error  { return nil }
func (m *memFS) Rename(ctx context.Context, od uint64, on string, nd uint64, nn string, flags uint32) error {
	return nil
}
func (m *memFS) Setattr(ctx context.Context, ino uint64, set kernel.SetAttr) (kernel.Attr, error) {
	return m.nodes[ino].attr, nil
}

// readOnlyFS is memFS without Writer.
type readOnlyFS struct{ kernel.FileSystem }

func TestNamespace(t *testing.T) {
	ctx := context.Background()
	k := kernel.New("test", nil)
	a, b := newMemFS(), newMemFS()
	if err := k.NS.Bind("a", a); err != nil {
		t.Fatal(err)
	}
	if err := k.NS.Bind("b", readOnlyFS{b}); err != nil {
		t.Fatal(err)
	}
	if kernel.KindOf(k.NS.Bind("a", newMemFS())) != kernel.Exist {
		t.Fatal("bound a name twice")
	}
	// Both file systems have a local inode 1; the namespace keeps them apart.
	ra, _ := k.FS.Stat(ctx, "/a")
	rb, _ := k.FS.Stat(ctx, "/b")
	if ra.Ino == rb.Ino || ra.Ino == kernel.RootIno {
		t.Fatalf("inode numbers collide: /a %d, /b %d", ra.Ino, rb.Ino)
	}
	ents, _ := k.FS.ReadDir(ctx, "/")
	if len(ents) != 2 || ents[0].Name != "a" || ents[1].Name != "b" {
		t.Fatalf("root lists %v", ents)
	}
	root, _ := k.FS.Stat(ctx, "/")
	if root.Ino != kernel.RootIno || root.Mode != syscall.S_IFDIR|0o555 || root.Nlink != 4 {
		t.Fatalf("root %+v", root)
	}

	if err := k.FS.MkdirAll(ctx, "/a/x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	k.FS.Symlink(ctx, "x/y", "/a/rel")     // relative to its directory
	k.FS.Symlink(ctx, "/a/x", "/a/abs")    // absolute: inside the namespace
	k.FS.Symlink(ctx, "/etc", "/a/escape") // never the host's /etc
	k.FS.Symlink(ctx, "loop", "/a/loop")   // itself
	if st, err := k.FS.Stat(ctx, "/a/rel"); err != nil || !st.IsDir() {
		t.Errorf("relative link: %+v %v", st, err)
	}
	if st, err := k.FS.Stat(ctx, "/a/abs/y"); err != nil || !st.IsDir() {
		t.Errorf("absolute link in the middle: %+v %v", st, err)
	}
	if _, err := k.FS.Stat(ctx, "/a/escape"); kernel.KindOf(err) != kernel.NotExist {
		t.Errorf("a link to /etc resolved outside the tree: %v", err)
	}
	if _, err := k.FS.Stat(ctx, "/a/loop"); kernel.KindOf(err) != kernel.Loop {
		t.Errorf("loop: %v", err)
	}
	if st, err := k.FS.Lstat(ctx, "/a/loop"); err != nil || !st.IsSymlink() {
		t.Errorf("lstat of a link: %+v %v", st, err)
	}

	for _, c := range []struct {
		err  error
		want kernel.Kind
	}{
		{k.FS.Mkdir(ctx, "/top", 0o755), kernel.NotPermitted},
		{k.FS.Remove(ctx, "/a"), kernel.NotPermitted},
		{k.FS.Rename(ctx, "/a/x", "/b/x"), kernel.CrossDevice},
		{k.FS.Mkdir(ctx, "/b/new", 0o755), kernel.ReadOnly},
		{k.FS.Chmod(ctx, "/b", 0o700), kernel.Permission},
		{k.FS.Mkdir(ctx, "/a/x", 0o755), kernel.Exist},
		{k.FS.Mkdir(ctx, "/a/nope/x", 0o755), kernel.NotExist},
	} {
		if kernel.KindOf(c.err) != c.want {
			t.Errorf("%v: kind %v, want %v", c.err, kernel.KindOf(c.err), c.want)
		}
	}

}

// panicFS panics on lookups of "boom".
type panicFS struct{ *memFS }

func (p panicFS) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	if name == "boom" {
		var m map[string]int
		m["x"]++ // a nil map: the kind of bug that must not take the kernel down
	}
	return p.memFS.Lookup(ctx, dir, name)
}

// A panic in a bound file system is an Internal error for the caller,
// logged with its stack; the kernel goes on.
func TestPanicRecovered(t *testing.T) {
	var logged strings.Builder
	k := kernel.New("test", slog.New(slog.NewTextHandler(&logged, nil)))
	if err := k.NS.Bind("m", panicFS{newMemFS()}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := k.FS.Stat(ctx, "/m/boom")
	if kernel.KindOf(err) != kernel.Internal || !strings.Contains(err.Error(), "internal error in lookup") {
		t.Fatalf("Stat of a panicking lookup: %v", err)
	}
	if !strings.Contains(logged.String(), "panic in a file system call") || !strings.Contains(logged.String(), "stack=") {
		t.Fatalf("log: %s", logged.String())
	}
	if _, err := k.FS.Stat(ctx, "/m"); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}
