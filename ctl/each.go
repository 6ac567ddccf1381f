package ctl

import (
	"context"
	"fmt"
	"slices"
	"syscall"

	"github.com/fazt-sh/fazt/kernel"
)

// KeyRender produces a file's current content for one key of an Each
// directory.
type KeyRender func(ctx context.Context, key string) ([]byte, error)

// Each adds a read-only directory with one subdirectory per key that keys
// returns (certificates by host), each holding the files of files, rendered
// for its key when read. The keys are asked on every lookup and listing, so
// the directory follows what it shows without being told.
func (d Dir) Each(name string, keys func(ctx context.Context) ([]string, error), files map[string]KeyRender) {
	for f := range files {
		if err := kernel.ValidName(f); err != nil {
			panic(fmt.Sprintf("ctl: %v", err))
		}
	}
	n := d.add(name, kEach, syscall.S_IFDIR|0o555)
	n.keys, n.files, n.entries = keys, files, map[string]*node{}
}

// eachLookup returns the directory of key name, or nil when there is no
// such key.
func (t *Tree) eachLookup(ctx context.Context, d *node, name string) (*node, error) {
	keys, err := d.keys(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(keys, name) {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eachDirLocked(d, name), nil
}

// eachDirLocked returns key's directory, making it the first time; t.mu
// must be held. A key that goes away keeps its (small) nodes, so that a
// handle still open on them stays valid; a lookup no longer finds them.
func (t *Tree) eachDirLocked(d *node, key string) *node {
	if e := d.entries[key]; e != nil {
		return e
	}
	e := t.newNode(d, key, kDir, syscall.S_IFDIR|0o555)
	e.children = map[string]*node{}
	for name, r := range d.files {
		f := t.newNode(e, name, kStatus, syscall.S_IFREG|0o444)
		f.render = func(ctx context.Context) ([]byte, error) { return r(ctx, key) }
		e.children[name] = f
	}
	d.entries[key] = e
	return e
}

func (t *Tree) eachList(ctx context.Context, d *node) ([]kernel.DirEntry, error) {
	keys, err := d.keys(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]kernel.DirEntry, 0, len(keys))
	for _, k := range keys {
		if kernel.ValidName(k) != nil {
			continue
		}
		out = append(out, kernel.DirEntry{Name: k, Ino: t.eachDirLocked(d, k).ino, Mode: syscall.S_IFDIR})
	}
	return out, nil
}
