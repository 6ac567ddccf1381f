package vfs

import (
	"sync"

	"github.com/fazt-sh/fazt/kernel"
)

// attrCache keeps inode attributes and directory entries as the database
// has them, so that stat and lookup, the most frequent requests, cost no
// query. Every change to the tree is announced (FS.changed) after it is
// made, and forgets what it touched; a reader puts what it read only if
// nothing was forgotten since it began to read (the generation), so a
// value read before a change can never be put after it.
//
// The cache holds committed attributes only; an open file's overlay is
// applied on top by FS.finish.
type attrCache struct {
	mu    sync.Mutex // guards the fields below
	gen   uint64     // bumped by every forget
	attrs map[uint64]kernel.Attr
	dents map[dentKey]uint64
	dirs  map[uint64]dirState // directories FS.loadDir read
}

// dirState is what loadDir learned of a directory.
type dirState struct {
	big      bool // too large to read whole: looked up one name at a time
	complete bool // every entry is in dents, until one is added or removed
}

type dentKey struct {
	dir  uint64
	name string
}

// attrCacheMax bounds the entries of each map; past it the cache starts over.
const attrCacheMax = 1 << 17

func newAttrCache() *attrCache {
	return &attrCache{attrs: make(map[uint64]kernel.Attr), dents: make(map[dentKey]uint64), dirs: make(map[uint64]dirState)}
}

// loaded says whether loadDir has read dir already (once is enough: a
// directory being filled one create at a time would be read whole at
// each).
func (c *attrCache) loaded(dir uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.dirs[dir]
	return ok
}

// markLoaded records what loadDir read at generation g: complete only if
// nothing was forgotten since (the listing may predate a change).
func (c *attrCache) markLoaded(dir uint64, big, complete bool, g uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirs) >= attrCacheMax {
		clear(c.dirs)
	}
	c.dirs[dir] = dirState{big: big, complete: complete && !big && c.gen == g}
}

func (c *attrCache) attr(ino uint64) (kernel.Attr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.attrs[ino]
	return a, ok
}

// lookup returns the cached attributes of dir's entry name; absent says,
// on a miss, that dir is known not to have name (its listing is complete).
func (c *attrCache) lookup(dir uint64, name string) (a kernel.Attr, ok, absent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ino, ok := c.dents[dentKey{dir, name}]
	if !ok {
		return kernel.Attr{}, false, c.dirs[dir].complete
	}
	a, ok = c.attrs[ino]
	return a, ok, false
}

// generation is read before a database read whose result will be put.
func (c *attrCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches attributes read at generation g, unless something was
// forgotten since; with a non-nil entry it also caches that name.
func (c *attrCache) put(a kernel.Attr, entry *dentKey, g uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != g {
		return
	}
	if len(c.attrs) >= attrCacheMax || len(c.dents) >= attrCacheMax {
		clear(c.attrs)
		clear(c.dents)
		clear(c.dirs) // complete listings are no more
	}
	c.attrs[a.Ino] = a
	if entry != nil {
		c.dents[*entry] = a.Ino
	}
}

// reset forgets everything: another process may have changed the tree.
func (c *attrCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.attrs)
	clear(c.dents)
	clear(c.dirs)
}

// forget drops what change ch touched and returns the new generation.
func (c *attrCache) forget(ch kernel.Change) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.attrs, ch.Ino)
	if ch.Op == kernel.EntryAdded || ch.Op == kernel.EntryRemoved {
		delete(c.attrs, ch.Dir) // its times and link count changed
		delete(c.dents, dentKey{ch.Dir, ch.Name})
		if d, ok := c.dirs[ch.Dir]; ok && d.complete {
			c.dirs[ch.Dir] = dirState{}
		}
	}
	return c.gen
}
