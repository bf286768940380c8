// Package store is mhsm's storage abstraction: a transactional, ordered key/value
// Backend with one interface and one conformance suite (storetest) that every
// implementation passes. The embedded default is bbolt (bbolt.go); several
// mhsm nodes share an etcd v3 cluster instead (package store/etcd, its own
// package so that only the composition root links the etcd client and its
// gRPC stack). Every backend reports committed writes through a Feed
// (feed.go; notify.go for single-process backends), which the caches of
// each node follow.
//
// Values are opaque bytes; callers encrypt secrets before they reach a Backend
// (see package barrier). Read store.go first, then bbolt.go, then etcd/etcd.go.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Tx.Get when the key does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("store: closed")

// KV is one key/value pair returned by a scan.
type KV struct {
	Key   string
	Value []byte
}

// Tx is a transaction. A Tx from View is read-only: Put and Delete return an
// error. Values returned by Get and List are copies the caller may keep.
type Tx interface {
	// Get returns the value of key or ErrNotFound.
	Get(key string) ([]byte, error)
	// Put sets key to value. Keys must be non-empty.
	Put(key string, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key string) error
	// List returns the pairs whose key starts with prefix, in ascending key
	// order, starting after the key 'after' (exclusive; "" starts at the
	// beginning). limit <= 0 means no limit.
	List(prefix, after string, limit int) ([]KV, error)
}

// Backend is a transactional ordered key/value store.
//
// Update runs fn in a serializable read-write transaction: either every write
// of fn is durable (fsync'd) when Update returns nil, or none is applied.
// If fn returns an error the transaction is rolled back and that error is
// returned unchanged. Update may run fn more than once (optimistic backends
// retry on conflict), so fn must not have side effects outside the Tx.
//
// View runs fn in a read-only transaction with a consistent snapshot.
type Backend interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}
