package hsm

import (
	"container/list"
	"strings"
	"sync"

	"github.com/mhsm/mhsm/internal/keys"
)

// materialCache keeps decrypted key versions in memory, at most size of
// them, least recently used out first. Entries are reference counted so
// that evicted material is zeroed as soon as the last request using it is
// done, never while in use. Hand-rolled: the LRU libraries in reach have no
// notion of "zero on eviction once unreferenced".
type materialCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recent; values are *cacheEntry
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key     string
	m       *keys.Material
	refs    int
	evicted bool
}

func newMaterialCache(size int) *materialCache {
	return &materialCache{size: size, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the material for key, loading it with load on a miss, and a
// release function the caller must call when done with it.
func (c *materialCache) get(key string, load func() (*keys.Material, error)) (*keys.Material, func(), error) {
	c.mu.Lock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		ce := e.Value.(*cacheEntry)
		ce.refs++
		c.mu.Unlock()
		return ce.m, c.releaser(ce), nil
	}
	c.mu.Unlock()
	m, err := load()
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok { // loaded concurrently: keep the first
		m.Zero()
		c.order.MoveToFront(e)
		ce := e.Value.(*cacheEntry)
		ce.refs++
		return ce.m, c.releaser(ce), nil
	}
	ce := &cacheEntry{key: key, m: m, refs: 1}
	c.byKey[key] = c.order.PushFront(ce)
	for c.order.Len() > c.size {
		c.remove(c.order.Back())
	}
	return m, c.releaser(ce), nil
}

func (c *materialCache) releaser(ce *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			ce.refs--
			if ce.evicted && ce.refs == 0 {
				ce.m.Zero()
			}
		})
	}
}

// evictPrefix drops every entry whose key starts with prefix.
func (c *materialCache) evictPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.byKey {
		if strings.HasPrefix(k, prefix) {
			c.remove(e)
		}
	}
}

func (c *materialCache) remove(e *list.Element) {
	ce := c.order.Remove(e).(*cacheEntry)
	delete(c.byKey, ce.key)
	ce.evicted = true
	if ce.refs == 0 {
		ce.m.Zero()
	}
}

// len returns the number of cached entries.
func (c *materialCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
