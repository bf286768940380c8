package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// testListGuardsDeletes is write skew through a listed range: tx1 lists
// r/ and writes x; tx2 reads x and deletes a key tx1 listed, committing
// while tx1 runs. In any serial order either tx1 did not see the deleted
// key or tx2 saw x; seeing the key and no x both is the anomaly an
// optimistic backend must catch (the deletion of a listed key has to fail
// tx1's commit). Backends with one writer block tx2 until tx1 is done.
func testListGuardsDeletes(t *testing.T, b store.Backend) {
	put(t, b, "r/1", "", "r/2", "", "r/3", "")
	var sawKey, sawX bool
	var tx2err error
	var wg sync.WaitGroup
	first := true
	err := b.Update(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("r/", "", 0)
		if err != nil {
			return err
		}
		sawKey = false
		for _, kv := range kvs {
			sawKey = sawKey || kv.Key == "r/2"
		}
		if first { // tx2 runs now, once
			first = false
			done := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(done)
				tx2err = b.Update(ctx, func(tx store.Tx) error {
					_, err := tx.Get("x")
					sawX = err == nil
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					return tx.Delete("r/2")
				})
			}()
			select {
			case <-done:
			case <-time.After(100 * time.Millisecond): // blocked by this writer
			}
		}
		return tx.Put("x", []byte("1"))
	})
	wg.Wait()
	if err != nil || tx2err != nil {
		t.Fatalf("Update errors: %v, %v", err, tx2err)
	}
	if sawKey && !sawX {
		t.Fatal("write skew: tx1 committed having listed r/2, and tx2 committed its deletion without seeing tx1's write")
	}
	wantMissing(t, b, "r/2")
	wantValue(t, b, "x", "1")
}
