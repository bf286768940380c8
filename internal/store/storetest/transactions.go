package storetest

// The transaction half of the suite: rollback, read-only views, copies,
// concurrency, snapshots, cancellation and use after close.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

func testUpdateRollback(t *testing.T, b store.Backend) {
	put(t, b, "keep", "old", "gone", "still here")
	sentinel := errors.New("fn failed")
	err := b.Update(ctx, func(tx store.Tx) error {
		for _, op := range []error{
			tx.Put("keep", []byte("new")),
			tx.Put("added", []byte("x")),
			tx.Delete("gone"),
			tx.Put("added2", []byte("y")),
			tx.Put("keep", []byte("newer")),
		} {
			if op != nil {
				return op
			}
		}
		return sentinel
	})
	if err != sentinel {
		t.Fatalf("Update error = %v, want the fn's error returned unchanged", err)
	}
	wantValue(t, b, "keep", "old")
	wantValue(t, b, "gone", "still here")
	wantMissing(t, b, "added")
	wantMissing(t, b, "added2")
	wantKeys(t, "List", list(t, b, "", "", 0), []string{"gone", "keep"})
	// Wrapped errors are returned unchanged too.
	wrapped := fmt.Errorf("wrap: %w", sentinel)
	if err := b.Update(ctx, func(tx store.Tx) error { return wrapped }); err != wrapped {
		t.Fatalf("Update error = %v, want %v", err, wrapped)
	}
	if err := b.View(ctx, func(tx store.Tx) error { return wrapped }); err != wrapped {
		t.Fatalf("View error = %v, want %v", err, wrapped)
	}
}

func testUpdatePanicRollback(t *testing.T, b store.Backend) {
	put(t, b, "k", "old")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		_ = b.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put("k", []byte("new")); err != nil {
				return err
			}
			if err := tx.Put("k2", []byte("new")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	// The backend is still usable (no lock left held) and nothing was applied.
	wantValue(t, b, "k", "old")
	wantMissing(t, b, "k2")
	put(t, b, "k", "after")
	wantValue(t, b, "k", "after")
}

func testViewReadOnly(t *testing.T, b store.Backend) {
	put(t, b, "k", "v")
	err := b.View(ctx, func(tx store.Tx) error {
		if err := tx.Put("k", []byte("x")); err == nil {
			t.Error("Put in View succeeded")
		}
		if err := tx.Put("new", []byte("x")); err == nil {
			t.Error("Put(new) in View succeeded")
		}
		if err := tx.Delete("k"); err == nil {
			t.Error("Delete in View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, b, "k", "v")
	wantMissing(t, b, "new")
}

func testReturnedValuesAreCopies(t *testing.T, b store.Backend) {
	put(t, b, "k", "value")
	var fromGet, fromList []byte
	err := b.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		v[0] = 'X'
		fromGet = v
		kvs, err := tx.List("k", "", 0)
		if err != nil {
			return err
		}
		if len(kvs) != 1 || string(kvs[0].Value) != "value" {
			return fmt.Errorf("List after mutating Get result = %q", kvs)
		}
		kvs[0].Value[1] = 'Y'
		fromList = kvs[0].Value
		v2, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(v2) != "value" {
			return fmt.Errorf("Get after mutating results = %q", v2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Same inside a write transaction.
	err = b.Update(ctx, func(tx store.Tx) error {
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		v[0] = 'Z'
		v2, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(v2) != "value" {
			return fmt.Errorf("Get in Update after mutating result = %q", v2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, b, "k", "value")
	// Values stay valid after the transaction, even after more writes.
	put(t, b, "k", "other", "k2", "more")
	if string(fromGet) != "Xalue" || string(fromList) != "vYlue" {
		t.Fatalf("returned values changed after the tx: %q %q", fromGet, fromList)
	}
}

func testPutCopiesValue(t *testing.T, b store.Backend) {
	buf := []byte("original")
	err := b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("k", buf); err != nil {
			return err
		}
		copy(buf, "MUTATED!")
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(v) != "original" {
			return fmt.Errorf("Get in same tx after mutating the Put buffer = %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "mutated2")
	wantValue(t, b, "k", "original")
}

func testConcurrentUpdates(t *testing.T, b store.Backend) {
	const workers, each = 50, 4
	put(t, b, "counter", "0")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- b.Update(ctx, func(tx store.Tx) error {
					v, err := tx.Get("counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(v))
					if err != nil {
						return err
					}
					runtime.Gosched() // widen the read-modify-write window
					return tx.Put("counter", []byte(strconv.Itoa(n+1)))
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	wantValue(t, b, "counter", strconv.Itoa(workers*each))
}

func testViewSnapshot(t *testing.T, b store.Backend) {
	// The writer keeps x and y equal in every committed state; a reader that
	// sees them differ saw a torn (non-snapshot) state.
	put(t, b, "s/x", "0", "s/y", "0")
	const rounds = 100
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 1; i <= rounds; i++ {
			v := []byte(strconv.Itoa(i))
			err := b.Update(ctx, func(tx store.Tx) error {
				if err := tx.Put("s/x", v); err != nil {
					return err
				}
				runtime.Gosched()
				return tx.Put("s/y", v)
			})
			if err != nil {
				t.Errorf("Update: %v", err)
				return
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				err := b.View(ctx, func(tx store.Tx) error {
					x, err := tx.Get("s/x")
					if err != nil {
						return err
					}
					runtime.Gosched()
					time.Sleep(50 * time.Microsecond)
					y, err := tx.Get("s/y")
					if err != nil {
						return err
					}
					kvs, err := tx.List("s/", "", 0)
					if err != nil {
						return err
					}
					if !bytes.Equal(x, y) || len(kvs) != 2 ||
						!bytes.Equal(kvs[0].Value, x) || !bytes.Equal(kvs[1].Value, x) {
						return fmt.Errorf("torn read: x=%q y=%q list=%q", x, y, kvs)
					}
					return nil
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wantValue(t, b, "s/x", strconv.Itoa(rounds))
}

func testUncommittedInvisible(t *testing.T, b store.Backend) {
	put(t, b, "u", "old")
	type result struct {
		v   string
		err error
	}
	res := make(chan result, 1)
	err := b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("u", []byte("uncommitted")); err != nil {
			return err
		}
		go func() {
			var r result
			r.err = b.View(ctx, func(rtx store.Tx) error {
				v, err := rtx.Get("u")
				r.v = string(v)
				return err
			})
			res <- r
		}()
		// A backend may block readers while a writer runs; if the reader
		// completes now, it must not have seen the uncommitted write.
		select {
		case r := <-res:
			if r.err != nil || r.v != "old" {
				return fmt.Errorf("concurrent View during Update saw %q, %v; want \"old\"", r.v, r.err)
			}
			res <- r
		case <-time.After(50 * time.Millisecond):
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || r.v != "old" {
		t.Fatalf("View after rolled-back Update saw %q, %v; want \"old\"", r.v, r.err)
	}
}

func testContextCancelled(t *testing.T, b store.Backend) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	fn := func(tx store.Tx) error { called = true; return tx.Put("k", []byte("v")) }
	if err := b.Update(cctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update(cancelled ctx) = %v, want context.Canceled", err)
	}
	if err := b.View(cctx, func(tx store.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("View(cancelled ctx) = %v, want context.Canceled", err)
	}
	if called {
		t.Error("fn was called with a cancelled context")
	}
	wantMissing(t, b, "k")
}

func testTxAfterReturn(t *testing.T, b store.Backend) {
	put(t, b, "k", "v")
	var leaked store.Tx
	if err := b.Update(ctx, func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.Put("k", []byte("late")); err == nil {
		t.Error("Put on a finished Tx succeeded")
	}
	wantValue(t, b, "k", "v")
}

func testClosed(t *testing.T, b store.Backend) {
	put(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	fn := func(store.Tx) error { called = true; return nil }
	if err := b.View(ctx, fn); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
	if err := b.Update(ctx, fn); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if called {
		t.Error("fn was called after Close")
	}
}
