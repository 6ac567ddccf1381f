package vfs

import (
	"container/list"
	"sync"
)

// chunkCache keeps recently read chunks, bounded in bytes. Chunk ids are
// never reused, so an entry can never go stale.
type chunkCache struct {
	max int64

	mu    sync.Mutex // guards the fields below
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

func (c *chunkCache) put(id int64, data []byte) {
	size := int64(len(data))
	if size > c.max/4 {
		return // one chunk must not flush the whole cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
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
	c.lru.Init()
	clear(c.m)
	c.bytes = 0
}
