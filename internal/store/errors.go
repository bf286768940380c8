package store

import "errors"

// Errors returned by the backends in this package in addition to ErrNotFound
// and ErrClosed (store.go).
var (
	// ErrReadOnly is returned by Put and Delete on a Tx obtained from View.
	ErrReadOnly = errors.New("store: read-only transaction")
	// ErrEmptyKey is returned by Put when the key is empty.
	ErrEmptyKey = errors.New("store: empty key")
	// ErrTxDone is returned when a Tx is used after its View or Update
	// function has returned.
	ErrTxDone = errors.New("store: transaction already finished")
)

// CloneBytes copies b; the copy is never nil, so an empty stored value is
// distinguishable from "no value" (backends return values through it).
func CloneBytes(b []byte) []byte {
	// Always non-nil, so an empty stored value is distinguishable from "no value".
	return append(make([]byte, 0, len(b)), b...)
}

// ErrTooLarge is returned by Update when a transaction would exceed the
// backend's request limits (bytes or operations): it is refused before it
// reaches the store, never half-applied.
var ErrTooLarge = errors.New("store: transaction too large for the backend")

// ErrUnavailable wraps a failure to reach a quorum of the store (no leader,
// too few members, timeout). A write that failed with it may or may not
// have been applied; it was not acknowledged.
var ErrUnavailable = errors.New("store: unavailable")

// ErrConflict is returned by Update when its optimistic transaction kept
// conflicting with concurrent writers after every retry.
var ErrConflict = errors.New("store: too many conflicting concurrent transactions")
