package hsm

import (
	"container/list"
	"context"
	"strings"
	"sync"

	"github.com/mhsm/mhsm/internal/store"
)

// recordCache keeps decoded key and version records (*keyRecord,
// *versionRecord) in memory, keyed by their store key (keyKey, verKey), at
// most size of them, least recently used out first. It sits beside the
// material cache (cache.go): that one holds decrypted material, this one
// the records that say which material, and whether and how it may be used.
//
// Why it exists (issue #9): a CPU profile of key GET at 64 connections
// showed getJSON/loadVersion costing ~19–25 µs per request — a store read
// transaction and the JSON decoding of the key and version records, the
// latter including the sealed material, which is not needed once the
// material cache holds the decrypted key. With both records cached, key
// GET and the crypto operations open no store transaction at all.
//
// It caches data, never decisions: deletion state, enabled, nbf and exp
// are checked on every request against the current time (readRecords,
// usable, ReleaseKey).
//
// Cached records are shared and immutable: nothing may modify a record the
// cache returned, and whatever leaves the package is a copy (bundle,
// attributes and policyOut copy every slice, map and pointer). Version
// records are cached without their sealed material (Sealed is nil), so no
// key material is held here at all; usable reads the sealed bytes from the
// store on a material-cache miss.
//
// Invalidation is by store key, in one place: the Service's store is an
// invalidatingStore, whose write transactions hold every key they put or
// delete — the cached record is dropped and no fill of that key is
// accepted — until the Update is over, committed or not. No write path has
// to remember to invalidate. While a write is in flight its keys are read
// from the store, so readers never see the new record and then the old
// one. The material cache's eviction points (forgetKey, forgetHSM) drop
// records too, for good measure. Fills race writes safely thanks to seq
// and held (see add). Reads inside a write transaction never come here:
// they use the transaction (loadKey, loadVersion), because write paths
// modify what they read.
//
// Other writers: with a store shared by several nodes (store/etcd), records
// change behind this cache's back. Every committed write, from any node,
// reaches Service.ApplyChange through the store's change feed (feed.go),
// which invalidates the keys it names — bumping seq, so a fill racing it
// refuses itself — and drops everything on a feed Reset.
type recordCache struct {
	mu    sync.Mutex
	size  int
	seq   uint64         // bumped by every invalidation, hold and release
	held  map[string]int // keys written by transactions in flight, and how many times
	order *list.List     // front = most recent; values are *recordEntry
	byKey map[string]*list.Element
}

// recordEntry is one cached record under its store key.
type recordEntry struct {
	key string
	rec any // *keyRecord or *versionRecord, never modified
}

// newRecordCache returns an empty cache of at most size records.
func newRecordCache(size int) *recordCache {
	return &recordCache{size: size, held: map[string]int{}, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the record cached under the store key key, or nil.
func (c *recordCache) get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*recordEntry).rec
}

// begin returns the token a fill passes to add. Call it before the store
// read whose result will be added.
func (c *recordCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// add caches rec under key, unless key is held by a write in flight or the
// cache changed (an invalidation, hold or release) since begin returned
// seq. That rule is what makes fills safe: a write holds its keys before
// it commits, so a reader whose store snapshot predates the commit either
// added before the hold (which removed the entry) or adds after it, and is
// refused, the hold being either still there or released, which bumped
// seq. A refused fill only costs a later miss.
func (c *recordCache) add(seq uint64, key string, rec any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != c.seq || c.held[key] > 0 {
		return
	}
	if e, ok := c.byKey[key]; ok {
		e.Value.(*recordEntry).rec = rec
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&recordEntry{key: key, rec: rec})
	for c.order.Len() > c.size {
		e := c.order.Back()
		delete(c.byKey, c.order.Remove(e).(*recordEntry).key)
	}
}

// invalidate drops the records cached under keys.
func (c *recordCache) invalidate(keys []string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for _, k := range keys {
		c.drop(k)
	}
}

// hold drops the record cached under key and refuses fills of it until
// release: a write transaction is about to change it.
func (c *recordCache) hold(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.held[key]++
	c.drop(key)
}

// release ends one hold of each of keys (the write is over: committed or
// not) and drops their records once more.
func (c *recordCache) release(keys []string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for _, k := range keys {
		if c.held[k]--; c.held[k] <= 0 {
			delete(c.held, k)
		}
		c.drop(k)
	}
}

// drop removes the record cached under key; c.mu is held.
func (c *recordCache) drop(key string) {
	if e, ok := c.byKey[key]; ok {
		c.order.Remove(e)
		delete(c.byKey, key)
	}
}

// invalidatePrefix drops every record whose store key starts with prefix.
func (c *recordCache) invalidatePrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for k := range c.byKey {
		if strings.HasPrefix(k, prefix) {
			c.drop(k)
		}
	}
}

// len returns the number of cached records.
func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// invalidatingStore is the Service's view of its store: reads pass
// through, and every write transaction holds in the record cache each key
// it puts or deletes (recordCache.hold) until its Update returns, committed
// or not (a rolled-back write changed nothing, and dropping costs only a
// miss). Backends may run an Update's fn more than once; every attempt's
// holds are released.
type invalidatingStore struct {
	store.Backend
	records *recordCache
}

// Update runs fn in a read-write transaction of the wrapped Backend and
// releases the keys it held before returning: a caller that sees the write
// succeed can no longer read the old record from the cache.
func (b invalidatingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var touched []string
	defer func() { b.records.release(touched) }()
	return b.Backend.Update(ctx, func(tx store.Tx) error {
		return fn(recordingTx{Tx: tx, records: b.records, touched: &touched})
	})
}

// recordingTx is a write transaction that holds the keys it changes.
type recordingTx struct {
	store.Tx
	records *recordCache
	touched *[]string // every hold, for the release
}

// Put holds key and sets it.
func (t recordingTx) Put(key string, value []byte) error {
	t.records.hold(key)
	*t.touched = append(*t.touched, key)
	return t.Tx.Put(key, value)
}

// Delete holds key and removes it.
func (t recordingTx) Delete(key string) error {
	t.records.hold(key)
	*t.touched = append(*t.touched, key)
	return t.Tx.Delete(key)
}

// forgetKey drops everything cached about key lname of HSM hsm: its
// decrypted material and its records.
func (s *Service) forgetKey(hsm, lname string) {
	s.cache.evictPrefix(hsm + "/" + lname + "/")
	s.records.invalidate([]string{keyKey(hsm, lname)})
	s.records.invalidatePrefix(verPrefix(hsm, lname))
}

// forgetHSM drops everything cached about HSM name.
func (s *Service) forgetHSM(name string) {
	s.cache.evictPrefix(name + "/")
	s.records.invalidatePrefix(hsmDataPrefix(name))
}
