package directory

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// Shared lockout counters (lockshared.go) are read with their expiry
// applied but were never deleted: every (principal, source) pair that ever
// failed stayed in the store. A guesser spraying from many addresses could
// so grow etcd without bound, up to its space quota, past which etcd
// refuses every write of the cluster. SweepLockouts deletes the counters
// no rule can use any more.
//
// A stored counter's key is a hash, so the sweep does not know whether it
// is a pair's or a principal's; it waits for the longer of the two
// expiries, max(Window, MaxDelay) after the last failure, which is never
// before either (a pair's is max(Window, its back-off ≤ MaxDelay)). A
// counter that does not decode is deleted too: no check could read it.

// lockSweepPage is how many counters one round lists and deletes.
const lockSweepPage = 256

// SweepLockouts deletes the expired lockout counters from the store and
// returns how many; without SharedLockout there are none (the in-memory
// counters are dropped as they are read and bounded by maxTracked).
func (d *Directory) SweepLockouts(ctx context.Context) (int, error) {
	if d.lock.shared == nil {
		return 0, nil
	}
	return d.lock.shared.sweep(ctx)
}

// RunLockoutSweeper calls SweepLockouts every interval until ctx ends.
// Every node may run it: concurrent sweeps delete the same counters, and a
// counter that failed again since it was listed is kept (sweep re-reads
// it in the deleting transaction).
func (d *Directory) RunLockoutSweeper(ctx context.Context, every time.Duration) {
	if d.lock.shared == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := d.SweepLockouts(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("directory: sweeping expired lockout counters", "deleted", n, "err", err)
		}
	}
}

// sweep lists lock/… a page at a time and deletes what has expired.
func (s *sharedLockout) sweep(ctx context.Context) (int, error) {
	keep := max(s.l.p.Window, s.l.p.MaxDelay)
	stale := func(b []byte, now time.Time) bool {
		var r lockRecord
		return json.Unmarshal(b, &r) != nil || now.Sub(r.Last) >= keep
	}
	deleted := 0
	for after := ""; ; {
		var page []store.KV
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			page, err = tx.List("lock/", after, lockSweepPage)
			return err
		})
		if err != nil {
			return deleted, err
		}
		now := s.l.now()
		var old []string
		for _, kv := range page {
			if stale(kv.Value, now) {
				old = append(old, kv.Key)
			}
		}
		if len(old) > 0 {
			n := 0
			err := s.st.Update(ctx, func(tx store.Tx) error {
				n = 0
				now := s.l.now()
				for _, k := range old {
					b, err := tx.Get(k)
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					if err != nil {
						return err
					}
					if !stale(b, now) {
						continue // failed again since it was listed
					}
					if err := tx.Delete(k); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return deleted, err
			}
			deleted += n
		}
		if len(page) < lockSweepPage {
			return deleted, nil
		}
		after = page[len(page)-1].Key
	}
}
