package httpd

import (
	"container/list"
	"net/http"
	"sync"
	"time"
)

// entry is what answers one site path: the file's metadata, and where
// each form's body is (in memory, or in the store). It is read-only once
// made, shared by every response.
type entry struct {
	key     string
	etag    string
	modtime time.Time
	ctype   string
	size    int64
	walked  []uint64
	dir     bool // a directory: nothing to serve, its index.html is

	mem    [numForms][]byte // bodies held in memory (small files)
	stored [numForms]int64  // sizes of bodies in the store, 0 where not there

	// hdr are the complete headers of each form's 200 response, built
	// once.
	hdr [numForms]http.Header
}

// has says whether a form can be sent without reading the database.
func (e *entry) has(form int) bool { return e.mem[form] != nil || e.stored[form] > 0 }

// encoded says whether the entry has a compressed form.
func (e *entry) encoded() bool { return e.has(gzipped) || e.has(brotlied) }

// The forms of an entry.
const (
	identity = iota
	gzipped
	brotlied
	numForms
)

func (e *entry) bytes() int64 {
	return int64(len(e.mem[identity])+len(e.mem[gzipped])+len(e.mem[brotlied])+8*len(e.walked)) + 512
}

// cache keeps entries, bounded in bytes, and drops those that went
// through an inode when it changes, or whose content got new forms.
type cache struct {
	max int64

	mu     sync.Mutex // guards the fields below
	bytes  int64
	lru    *list.List // of *entry, most recent first
	byKey  map[string]*list.Element
	byIno  index[uint64]
	byETag index[string]
	gen    uint64 // bumped by every invalidation
}

// index files the cache's elements under keys (an inode, an ETag).
type index[K comparable] map[K]map[*list.Element]bool

func (x index[K]) add(k K, el *list.Element) {
	if x[k] == nil {
		x[k] = map[*list.Element]bool{}
	}
	x[k][el] = true
}

func (x index[K]) remove(k K, el *list.Element) {
	if m := x[k]; m != nil {
		delete(m, el)
		if len(m) == 0 {
			delete(x, k)
		}
	}
}

func newCache(max int64) *cache {
	return &cache{max: max, lru: list.New(), byKey: map[string]*list.Element{}, byIno: index[uint64]{}, byETag: index[string]{}}
}

func (c *cache) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*entry)
	}
	return nil
}

// generation is read before resolving a path whose result will be put.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e, unless something was invalidated since generation g (it
// may have been read before a change it would then outlive).
func (c *cache) put(e *entry, g uint64) {
	if e.bytes() > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != g {
		return
	}
	if el, ok := c.byKey[e.key]; ok {
		c.removeLocked(el)
	}
	el := c.lru.PushFront(e)
	c.byKey[e.key] = el
	for _, ino := range e.walked {
		c.byIno.add(ino, el)
	}
	if e.etag != "" {
		c.byETag.add(e.etag, el)
	}
	c.bytes += e.bytes()
	for c.bytes > c.max {
		c.removeLocked(c.lru.Back())
	}
}

func (c *cache) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.byKey, e.key)
	for _, ino := range e.walked {
		c.byIno.remove(ino, el)
	}
	c.byETag.remove(e.etag, el)
	c.bytes -= e.bytes()
}

// invalidateETag drops the entries of a content, which has new forms in
// the store.
func (c *cache) invalidateETag(etag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := range c.byETag[etag] {
		c.removeLocked(el)
	}
}

// remove drops the entry of key (a stored body it named is gone).
func (c *cache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.byKey[key]; ok {
		c.removeLocked(el)
	}
}

// invalidate drops the entries that went through ino.
func (c *cache) invalidate(ino uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := range c.byIno[ino] {
		c.removeLocked(el)
	}
}

// usage returns the entries and bytes held.
func (c *cache) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// clear drops every entry.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.lru.Init()
	clear(c.byKey)
	clear(c.byIno)
	clear(c.byETag)
	c.bytes = 0
}
