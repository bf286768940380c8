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

func cloneBytes(b []byte) []byte {
	// Always non-nil, so an empty stored value is distinguishable from "no value".
	return append(make([]byte, 0, len(b)), b...)
}
