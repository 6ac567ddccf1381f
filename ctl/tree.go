package ctl

import (
	"context"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Render produces a file's current content.
type Render func(ctx context.Context) ([]byte, error)

// Tree is a synthetic directory tree. Build it with Dir and File before
// binding it; it does not change afterwards.
type Tree struct {
	nodes   []*node // index ino-1; nodes[0] is the root
	created time.Time
	uid     uint32
	gid     uint32
}

type node struct {
	ino      uint64
	name     string
	mode     uint32
	children map[string]*node // directories
	render   Render           // files
}

var _ kernel.FileSystem = (*Tree)(nil)

// New returns a tree holding an empty root directory.
func New() *Tree {
	t := &Tree{created: time.Now(), uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	t.nodes = []*node{{ino: 1, mode: syscall.S_IFDIR | 0o555, children: map[string]*node{}}}
	return t
}

// Dir is a directory of the tree.
type Dir struct {
	t *Tree
	n *node
}

// RootDir returns the root directory, for building.
func (t *Tree) RootDir() Dir { return Dir{t: t, n: t.nodes[0]} }

func (d Dir) add(name string, mode uint32) *node {
	if err := kernel.ValidName(name); err != nil {
		panic(fmt.Sprintf("ctl: %v", err))
	}
	if _, dup := d.n.children[name]; dup {
		panic(fmt.Sprintf("ctl: %q added twice", name))
	}
	n := &node{ino: uint64(len(d.t.nodes) + 1), name: name, mode: mode}
	d.t.nodes = append(d.t.nodes, n)
	d.n.children[name] = n
	return n
}

// Dir adds a subdirectory.
func (d Dir) Dir(name string) Dir {
	n := d.add(name, syscall.S_IFDIR|0o555)
	n.children = map[string]*node{}
	return Dir{t: d.t, n: n}
}

// ReadOnly adds a file whose content is r's rendering, mode 0444.
func (d Dir) ReadOnly(name string, r Render) {
	d.add(name, syscall.S_IFREG|0o444).render = r
}

// Text is a Render of fixed text.
func Text(s string) Render {
	return func(context.Context) ([]byte, error) { return []byte(s), nil }
}

func (t *Tree) node(ino uint64) (*node, error) {
	if ino == 0 || ino > uint64(len(t.nodes)) {
		return nil, kernel.E(kernel.NotExist, "no such file or directory")
	}
	return t.nodes[ino-1], nil
}

func (t *Tree) attr(ctx context.Context, n *node) (kernel.Attr, error) {
	a := kernel.Attr{
		Ino: n.ino, Mode: n.mode, Nlink: 1, UID: t.uid, GID: t.gid,
		Atime: t.created, Mtime: t.created, Ctime: t.created,
	}
	if n.children != nil {
		a.Nlink = 2
		for _, c := range n.children {
			if c.children != nil {
				a.Nlink++
			}
		}
		return a, nil
	}
	b, err := n.render(ctx)
	if err != nil {
		return kernel.Attr{}, err
	}
	a.Size = int64(len(b))
	a.Blocks = (a.Size + 511) / 512
	a.Mtime = time.Now()
	return a, nil
}

// Root implements kernel.FileSystem.
func (t *Tree) Root() uint64 { return 1 }

// Getattr implements kernel.FileSystem.
func (t *Tree) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	n, err := t.node(ino)
	if err != nil {
		return kernel.Attr{}, err
	}
	return t.attr(ctx, n)
}

// Lookup implements kernel.FileSystem.
func (t *Tree) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	d, err := t.node(dir)
	if err != nil {
		return kernel.Attr{}, err
	}
	if d.children == nil {
		return kernel.Attr{}, kernel.E(kernel.NotDir, "not a directory")
	}
	n := d.children[name]
	if n == nil {
		return kernel.Attr{}, kernel.E(kernel.NotExist, "no such file or directory")
	}
	return t.attr(ctx, n)
}

// ReadDir implements kernel.FileSystem.
func (t *Tree) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	d, err := t.node(dir)
	if err != nil {
		return nil, err
	}
	if d.children == nil {
		return nil, kernel.E(kernel.NotDir, "not a directory")
	}
	out := make([]kernel.DirEntry, 0, len(d.children))
	for _, c := range d.children {
		out = append(out, kernel.DirEntry{Name: c.name, Ino: c.ino, Mode: c.mode & syscall.S_IFMT})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open implements kernel.FileSystem: the content is rendered once, here.
func (t *Tree) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	n, err := t.node(ino)
	if err != nil {
		return nil, err
	}
	if n.children != nil {
		return nil, kernel.E(kernel.IsDir, "is a directory")
	}
	if flags&kernel.OAccess != kernel.ORdonly || flags&kernel.OTrunc != 0 {
		return nil, kernel.E(kernel.Permission, "read-only file")
	}
	b, err := n.render(ctx)
	if err != nil {
		return nil, err
	}
	return &snapshot{data: b}, nil
}

// Readlink implements kernel.FileSystem.
func (t *Tree) Readlink(ctx context.Context, ino uint64) (string, error) {
	return "", kernel.E(kernel.Invalid, "not a symbolic link")
}

// Statfs implements kernel.FileSystem.
func (t *Tree) Statfs(ctx context.Context) (kernel.Statfs, error) {
	return kernel.Statfs{Bsize: 4096, NameMax: kernel.MaxName}, nil
}

// snapshot is an open synthetic file: one rendering.
type snapshot struct{ data []byte }

var (
	_ kernel.Handle   = (*snapshot)(nil)
	_ kernel.DirectIO = (*snapshot)(nil)
)

func (s *snapshot) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	if off >= int64(len(s.data)) {
		return 0, nil
	}
	return copy(p, s.data[off:]), nil
}

func (s *snapshot) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, kernel.E(kernel.Permission, "read-only file")
}

func (s *snapshot) Flush(ctx context.Context) error   { return nil }
func (s *snapshot) Fsync(ctx context.Context) error   { return nil }
func (s *snapshot) Release(ctx context.Context) error { return nil }
func (s *snapshot) DirectIO() bool                    { return true }
