package store

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// Memory is an in-memory Backend for tests and ephemeral (--dev) servers.
// Nothing is persisted. Update transactions are serialized by a write lock and
// View transactions share a read lock, so every transaction sees a consistent
// snapshot. Do not start a transaction from inside another one on the same
// Memory: it deadlocks.
type Memory struct {
	mu     sync.RWMutex
	closed bool
	data   map[string][]byte
	keys   []string // sorted keys of data
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty in-memory Backend.
func NewMemory() *Memory {
	return &Memory{data: make(map[string][]byte)}
}

// View runs fn in a read-only transaction.
func (m *Memory) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx := &memTx{m: m}
	defer func() { tx.done = true }()
	return fn(tx)
}

// Update runs fn in a read-write transaction. The writes of fn are kept only
// if fn returns nil (and does not panic).
func (m *Memory) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx := &memTx{m: m, writable: true, undo: make(map[string]undoEntry)}
	committed := false
	defer func() {
		tx.done = true
		if !committed {
			tx.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	return nil
}

// Close releases the data. Every later call returns ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	m.data, m.keys = nil, nil
	return nil
}

func (m *Memory) set(key string, value []byte) {
	if _, ok := m.data[key]; !ok {
		i := sort.SearchStrings(m.keys, key)
		m.keys = append(m.keys, "")
		copy(m.keys[i+1:], m.keys[i:])
		m.keys[i] = key
	}
	m.data[key] = value
}

func (m *Memory) del(key string) {
	if _, ok := m.data[key]; !ok {
		return
	}
	delete(m.data, key)
	i := sort.SearchStrings(m.keys, key)
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
}

type undoEntry struct {
	value   []byte
	existed bool
}

// memTx applies writes in place (the writer holds the exclusive lock) and
// records the original state of every touched key, so a failed fn is undone.
type memTx struct {
	m        *Memory
	writable bool
	done     bool
	undo     map[string]undoEntry // original state of each key written
}

func (t *memTx) Get(key string) ([]byte, error) {
	if t.done {
		return nil, ErrTxDone
	}
	v, ok := t.m.data[key]
	if !ok {
		return nil, ErrNotFound
	}
	return CloneBytes(v), nil
}

func (t *memTx) remember(key string) {
	if _, ok := t.undo[key]; ok {
		return
	}
	v, ok := t.m.data[key]
	t.undo[key] = undoEntry{value: v, existed: ok}
}

func (t *memTx) Put(key string, value []byte) error {
	if t.done {
		return ErrTxDone
	}
	if !t.writable {
		return ErrReadOnly
	}
	if key == "" {
		return ErrEmptyKey
	}
	t.remember(key)
	t.m.set(key, CloneBytes(value))
	return nil
}

func (t *memTx) Delete(key string) error {
	if t.done {
		return ErrTxDone
	}
	if !t.writable {
		return ErrReadOnly
	}
	t.remember(key)
	t.m.del(key)
	return nil
}

func (t *memTx) List(prefix, after string, limit int) ([]KV, error) {
	if t.done {
		return nil, ErrTxDone
	}
	keys := t.m.keys
	i := sort.SearchStrings(keys, prefix)
	if after != "" && after >= prefix {
		i = sort.SearchStrings(keys, after)
		if i < len(keys) && keys[i] == after {
			i++
		}
	}
	var out []KV
	for ; i < len(keys) && strings.HasPrefix(keys[i], prefix); i++ {
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, KV{Key: keys[i], Value: CloneBytes(t.m.data[keys[i]])})
	}
	return out, nil
}

func (t *memTx) rollback() {
	for k, u := range t.undo {
		if u.existed {
			t.m.set(k, u.value)
		} else {
			t.m.del(k)
		}
	}
}
