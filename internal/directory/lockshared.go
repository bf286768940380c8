package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// sharedLockout keeps the retry budget in the store, so that every node
// sharing it (etcd) counts the same failures: a guesser spreading attempts
// over the nodes gets one budget, not one per node. Counters are stored
// under "lock/<sha256 of the principal name>", outside "dir/", so a
// failure does not invalidate the directory caches of every node.
type sharedLockout struct {
	st  store.Backend
	p   LockoutPolicy
	now func() time.Time
}

type lockRecord struct {
	N    int       `json:"n"`
	Last time.Time `json:"last"`
}

const lockTimeout = 5 * time.Second

func lockKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "lock/" + hex.EncodeToString(sum[:])
}

// read returns key's record, or a zero one.
func readLock(tx store.Tx, key string) (lockRecord, error) {
	var r lockRecord
	b, err := tx.Get(lockKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// locked reports whether key's budget is spent. A store that cannot be
// read counts as locked: no credential is checked without a verdict.
func (l *sharedLockout) locked(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	var r lockRecord
	err := l.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = readLock(tx, key)
		return err
	})
	if err != nil {
		return true
	}
	return r.N >= l.p.MaxFailures && l.now().Sub(r.Last) < l.p.Window
}

// fail counts one failure for key (a read-modify-write: concurrent
// failures on several nodes all count).
func (l *sharedLockout) fail(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	_ = l.st.Update(ctx, func(tx store.Tx) error {
		r, err := readLock(tx, key)
		if err != nil {
			return err
		}
		now := l.now()
		if now.Sub(r.Last) >= l.p.Window {
			r = lockRecord{}
		}
		r.N++
		r.Last = now
		b, _ := json.Marshal(&r)
		return tx.Put(lockKey(key), b)
	})
}

// succeed clears key's failures (a read only, when there are none).
func (l *sharedLockout) succeed(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	var r lockRecord
	if err := l.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = readLock(tx, key)
		return err
	}); err != nil || r.N == 0 {
		return
	}
	_ = l.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(lockKey(key)) })
}
