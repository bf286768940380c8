package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultBoltTimeout is how long OpenBolt waits for the database file lock
// before failing (another process holds it).
const DefaultBoltTimeout = 5 * time.Second

// boltBucket is the single bucket all keys live in.
var boltBucket = []byte("mhsm")

// BoltOptions tunes OpenBoltWithOptions.
type BoltOptions struct {
	// Timeout is how long to wait for the exclusive file lock; 0 means
	// DefaultBoltTimeout. It never waits forever.
	Timeout time.Duration
}

// Bolt is the embedded default Backend: one bbolt file holding one bucket.
// Every Update commit is fsync'd before it returns (NoSync is never set).
// Read transactions run concurrently with each other and with the single
// writer. Do not start an Update from inside a View or Update on the same
// Bolt: it deadlocks (bbolt allows one writer).
type Bolt struct {
	db     *bolt.DB
	path   string
	closed atomic.Bool
}

var _ Backend = (*Bolt)(nil)

// OpenBolt opens (creating with mode 0600 if missing) the bbolt database at
// path, waiting at most DefaultBoltTimeout for its file lock.
func OpenBolt(path string) (*Bolt, error) {
	return OpenBoltWithOptions(path, BoltOptions{})
}

// OpenBoltWithOptions is OpenBolt with options.
func OpenBoltWithOptions(path string, opts BoltOptions) (*Bolt, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultBoltTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		// NoSync, NoGrowSync and NoFreelistSync stay false: durability first.
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: the data dir is in use by another process (database lock not acquired within %s): %w", path, timeout, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: create bucket: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// Path returns the database file path.
func (b *Bolt) Path() string { return b.path }

// View runs fn in a read-only bbolt transaction.
func (b *Bolt) View(ctx context.Context, fn func(Tx) error) error {
	return b.run(ctx, false, fn)
}

// Update runs fn in a read-write bbolt transaction, committed (and fsync'd)
// only if fn returns nil.
func (b *Bolt) Update(ctx context.Context, fn func(Tx) error) error {
	return b.run(ctx, true, fn)
}

func (b *Bolt) run(ctx context.Context, writable bool, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	started := false
	body := func(btx *bolt.Tx) error {
		started = true
		// The writer lock may have been contended; do not start late work
		// for a caller that has given up.
		if err := ctx.Err(); err != nil {
			return err
		}
		bk := btx.Bucket(boltBucket)
		if bk == nil {
			return fmt.Errorf("store: bucket %q missing", boltBucket)
		}
		tx := &boltTx{b: bk, writable: writable}
		defer func() { tx.done = true }()
		return fn(tx)
	}
	var err error
	if writable {
		err = b.db.Update(body)
	} else {
		err = b.db.View(body)
	}
	if !started && errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Close waits for running transactions and closes the file. Every later call
// returns ErrClosed.
func (b *Bolt) Close() error {
	if b.closed.Swap(true) {
		return ErrClosed
	}
	return b.db.Close()
}

// Check runs bbolt's consistency check over the whole file and returns the
// first problem found, or nil.
func (b *Bolt) Check() error {
	if b.closed.Load() {
		return ErrClosed
	}
	var first error
	err := b.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() { // drain the channel so the checker exits
			if first == nil {
				first = e
			}
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	if first != nil {
		return fmt.Errorf("store: consistency check of %s: %w", b.path, first)
	}
	return nil
}

type boltTx struct {
	b        *bolt.Bucket
	writable bool
	done     bool
}

func (t *boltTx) Get(key string) ([]byte, error) {
	if t.done {
		return nil, ErrTxDone
	}
	// Use a cursor rather than Bucket.Get so an empty value is never
	// confused with a missing key.
	k, v := t.b.Cursor().Seek([]byte(key))
	if k == nil || !bytes.Equal(k, []byte(key)) {
		return nil, ErrNotFound
	}
	return CloneBytes(v), nil // bbolt memory is only valid inside the tx
}

func (t *boltTx) Put(key string, value []byte) error {
	if t.done {
		return ErrTxDone
	}
	if !t.writable {
		return ErrReadOnly
	}
	if key == "" {
		return ErrEmptyKey
	}
	// bbolt requires value to stay unchanged until commit: copy it.
	return t.b.Put([]byte(key), CloneBytes(value))
}

func (t *boltTx) Delete(key string) error {
	if t.done {
		return ErrTxDone
	}
	if !t.writable {
		return ErrReadOnly
	}
	if key == "" {
		return nil
	}
	return t.b.Delete([]byte(key))
}

func (t *boltTx) List(prefix, after string, limit int) ([]KV, error) {
	if t.done {
		return nil, ErrTxDone
	}
	c := t.b.Cursor()
	var k, v []byte
	if after != "" && after >= prefix {
		k, v = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek([]byte(prefix))
	}
	p := []byte(prefix)
	var out []KV
	for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, KV{Key: string(k), Value: CloneBytes(v)})
	}
	return out, nil
}
