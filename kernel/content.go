package kernel

import (
	"context"
	"io"
)

// Content is a file as readers of committed state see it (the HTTP server):
// never a write in progress, never a mix of two versions.
type Content struct {
	Attr Attr
	// ETag identifies the content: equal for equal bytes. It is derived
	// from the content's hash, quoted as HTTP wants it.
	ETag string
	// Data is the whole content, for files of at most the size asked.
	Data []byte
	// Reader reads larger files. Their blocks were fixed when the content
	// was resolved; if the file is replaced meanwhile and its old blocks
	// are collected, a read fails.
	Reader io.ReaderAt
	// Walked are the inodes met on the way (directories, links, the file):
	// a change to any of them may change what the path resolves to.
	Walked []uint64
}

// Publisher is implemented by file systems that serve committed state to
// readers without waiting for writers.
type Publisher interface {
	// Publish resolves rel, a clean path relative to the root without a
	// leading slash, and returns what is there. at is the namespace path
	// of the file system's root ("/fs"): symbolic links resolve as the
	// namespace's walk resolves them (absolute targets from the namespace
	// root; a target outside this file system does not exist), and every
	// path reached is checked as walk checks it: what the caller of ctx
	// may not see does not exist, and the file needs Read. A directory
	// comes back with its Attr only; a file with Data if it has at most
	// inline bytes, else Reader.
	Publish(ctx context.Context, at, rel string, inline int64) (*Content, error)
}

// Publish resolves path (absolute, in the namespace) for readers of
// committed state, as the caller of ctx may see it; see Publisher. Inode
// numbers come back global.
func (ns *Namespace) Publish(ctx context.Context, path string, inline int64) (*Content, error) {
	p, err := CleanPath(path)
	if err != nil {
		return nil, err
	}
	comps := splitPath(p)
	if len(comps) == 0 {
		return nil, E(IsDir, "the namespace root")
	}
	ns.mu.RLock()
	b := ns.byName[comps[0]]
	ns.mu.RUnlock()
	if b == nil {
		return nil, E(NotExist, "no such file or directory")
	}
	pub, ok := b.fs.(Publisher)
	if !ok {
		return nil, E(NotSupported, "/"+comps[0]+" does not publish")
	}
	rel := ""
	if len(comps) > 1 {
		rel = p[len(comps[0])+2:]
	}
	c, err := pub.Publish(ctx, "/"+comps[0], rel, inline)
	if err != nil {
		return nil, err
	}
	c.Attr.Ino = b.global(c.Attr.Ino)
	for i := range c.Walked {
		c.Walked[i] = b.global(c.Walked[i])
	}
	return c, nil
}

// Visible is the check a Publisher makes at each path it reaches: the
// caller of ctx may see the namespace path p.
func Visible(ctx context.Context, p string) error {
	if LevelAt(ctx, p) == None {
		return E(NotExist, "no such file or directory")
	}
	return nil
}

// Readable is the check a Publisher makes at the file it ends at.
func Readable(ctx context.Context, p string) error { return need(ctx, p, Read) }
