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

// sharedLockout keeps the lockout counters in the store, so that every
// node sharing it (etcd) counts the same failures: each (principal, source)
// pair backs off after the same failures wherever they were made, and the
// principal's ceiling counts the failures of every source on every node —
// a guesser spreading attempts over the nodes gets one budget, not one per
// node. The rules (back-off, ceiling, expiry) are the lockout's own
// (lockout.go); only the counters move. Each counter is stored under
// "lock/<sha256 of its key>" (the key names the principal and the source,
// which stay out of etcd's key space), outside "dir/", so a failure does
// not invalidate the directory caches of every node.
type sharedLockout struct {
	st store.Backend
	l  *lockout // policy, clock and rules
}

// lockRecord is one counter as stored.
type lockRecord struct {
	N    int       `json:"n"`
	Last time.Time `json:"last"`
}

// lockTimeout bounds each store round of a credential check. The context
// is not the request's: a client hanging up must not cancel the counting
// of its failure.
const lockTimeout = 5 * time.Second

func lockKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return "lock/" + hex.EncodeToString(sum[:])
}

// readLock returns counter k if it is stored and not expired at now, or nil.
func (s *sharedLockout) readLock(tx store.Tx, k string, now time.Time) (*failures, error) {
	b, err := tx.Get(lockKey(k))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r lockRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	f := &failures{n: r.N, last: r.Last}
	if s.l.expired(k, f, now) {
		return nil, nil
	}
	return f, nil
}

// locked reports whether source src must be refused for principal key by
// the counters in the store (one snapshot of both).
func (s *sharedLockout) locked(key, src string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	var locked bool
	err := s.st.View(ctx, func(tx store.Tx) error {
		now := s.l.now()
		pair, err := s.readLock(tx, pairKey(key, src), now)
		if err != nil || pair == nil {
			return err
		}
		prin, err := s.readLock(tx, principalKey(key), now)
		if err != nil {
			return err
		}
		locked = s.l.refuses(pair, prin, now)
		return nil
	})
	return locked, err
}

// fail counts one failure of src for key in the pair's and the principal's
// counters (one read-modify-write transaction: concurrent failures on
// several nodes all count). A store error leaves the failure counted in
// memory only.
func (s *sharedLockout) fail(key, src string) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	_ = s.st.Update(ctx, func(tx store.Tx) error {
		now := s.l.now()
		for _, k := range []string{pairKey(key, src), principalKey(key)} {
			f, err := s.readLock(tx, k, now)
			if err != nil {
				return err
			}
			r := lockRecord{N: 1, Last: now}
			if f != nil {
				r.N = f.n + 1
			}
			b, err := json.Marshal(&r)
			if err != nil {
				return err
			}
			if err := tx.Put(lockKey(k), b); err != nil {
				return err
			}
		}
		return nil
	})
}

// succeed clears src's counter for key (a read only, when there is none);
// the principal's total is kept, as in memory.
func (s *sharedLockout) succeed(key, src string) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	k := lockKey(pairKey(key, src))
	var present bool
	if err := s.st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get(k)
		present = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil || !present {
		return
	}
	_ = s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(k) })
}
