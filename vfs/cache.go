package vfs

import (
	"container/list"
	"sync"
)

// chunkCache keeps recently read chunks, bounded in bytes. This process
// never reuses a chunk id, so an entry cannot go stale through its own
// writes; a follower's database takes the primary's, whose ids a restart
// of the primary can reuse, so it clears the cache at each apply, and a
// chunk read before a clear is not put after it (the generation).
type chunkCache struct {
	max int64

	mu    sync.Mutex // guards the fields below
	gen   uint64     // bumped by clear
	bytes int64
	lru   *list.List // of *cacheEntry, most recent first
	m     map[int64]*list.Element
}

type cacheEntry struct {
	id   int64
	data []byte
}

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{max: max, lru: list.New(), m: make(map[int64]*list.Element)}
}

func (c *chunkCache) get(id int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).data, true
	}
	return nil, false
}

// generation is read before a chunk is read from the database.
func (c *chunkCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches a chunk read at generation g, unless the cache was cleared
// since.
func (c *chunkCache) put(id int64, data []byte, g uint64) {
	size := int64(len(data))
	if size > c.max/4 {
		return // one chunk must not flush the whole cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok || c.gen != g {
		return
	}
	c.m[id] = c.lru.PushFront(&cacheEntry{id: id, data: data})
	c.bytes += size
	for c.bytes > c.max {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.m, ce.id)
		c.bytes -= int64(len(ce.data))
	}
}

// Bytes is how much the cache holds.
func (c *chunkCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// clear drops every entry.
func (c *chunkCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.lru.Init()
	clear(c.m)
	c.bytes = 0
}
