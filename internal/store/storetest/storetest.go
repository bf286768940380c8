// Package storetest is the conformance suite every store.Backend must pass.
// A backend's tests call Run with a constructor for fresh, empty backends.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/mhsm/mhsm/internal/store"
)

// Run runs the conformance suite. open must return a new, empty Backend each
// time it is called; Run closes it when the subtest ends (a Close error of
// store.ErrClosed is ignored).
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	fresh := func(t *testing.T) store.Backend {
		t.Helper()
		b := open(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetOverwriteDelete", testPutGetOverwriteDelete},
		{"DeleteMissing", testDeleteMissing},
		{"EmptyValue", testEmptyValue},
		{"EmptyKey", testEmptyKey},
		{"LargeValue", testLargeValue},
		{"ListOrder", testListOrder},
		{"ListPrefixBoundaries", testListPrefixBoundaries},
		{"ListAfter", testListAfter},
		{"ListPagination", testListPagination},
		{"ListSeesOwnWrites", testListSeesOwnWrites},
		{"ListGuardsDeletes", testListGuardsDeletes},
		{"UpdateRollback", testUpdateRollback},
		{"UpdatePanicRollback", testUpdatePanicRollback},
		{"ViewReadOnly", testViewReadOnly},
		{"ReturnedValuesAreCopies", testReturnedValuesAreCopies},
		{"PutCopiesValue", testPutCopiesValue},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ViewSnapshot", testViewSnapshot},
		{"UncommittedInvisible", testUncommittedInvisible},
		{"ContextCancelled", testContextCancelled},
		{"TxAfterReturn", testTxAfterReturn},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, fresh(t))
		})
	}
}

var ctx = context.Background()

func put(t *testing.T, b store.Backend, kv ...string) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatal("put: odd number of arguments")
	}
	err := b.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(kv[i], []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update(put): %v", err)
	}
}

// get returns the value of key and whether it exists.
func get(t *testing.T, b store.Backend, key string) (string, bool) {
	t.Helper()
	var v []byte
	var found bool
	err := b.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.Get(key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		t.Fatalf("View(get %q): %v", key, err)
	}
	return string(v), found
}

func wantValue(t *testing.T, b store.Backend, key, want string) {
	t.Helper()
	got, ok := get(t, b, key)
	if !ok {
		t.Fatalf("get %q: not found, want %q", key, want)
	}
	if got != want {
		t.Fatalf("get %q = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, b store.Backend, key string) {
	t.Helper()
	if got, ok := get(t, b, key); ok {
		t.Fatalf("get %q = %q, want not found", key, got)
	}
}

func list(t *testing.T, b store.Backend, prefix, after string, limit int) []string {
	t.Helper()
	var keys []string
	err := b.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List(prefix, after, limit)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			keys = append(keys, kv.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", prefix, after, limit, err)
	}
	return keys
}

func wantKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func testGetMissing(t *testing.T, b store.Backend) {
	for _, fn := range []func(context.Context, func(store.Tx) error) error{b.View, b.Update} {
		var gerr error
		err := fn(ctx, func(tx store.Tx) error {
			v, err := tx.Get("missing")
			if v != nil {
				t.Errorf("Get(missing) value = %q, want nil", v)
			}
			gerr = err
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(gerr, store.ErrNotFound) {
			t.Fatalf("Get(missing) error = %v, want ErrNotFound", gerr)
		}
	}
}

func testPutGetOverwriteDelete(t *testing.T, b store.Backend) {
	put(t, b, "k", "v1")
	wantValue(t, b, "k", "v1")
	put(t, b, "k", "v2")
	wantValue(t, b, "k", "v2")
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Delete("k") }); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, b, "k")
	// Get inside the writing transaction sees its own writes.
	err := b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("k", []byte("v3")); err != nil {
			return err
		}
		v, err := tx.Get("k")
		if err != nil || string(v) != "v3" {
			return fmt.Errorf("Get after Put in same tx = %q, %v", v, err)
		}
		if err := tx.Delete("k"); err != nil {
			return err
		}
		if _, err := tx.Get("k"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("Get after Delete in same tx: %v, want ErrNotFound", err)
		}
		return tx.Put("k", []byte("v4"))
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, b, "k", "v4")
}

func testDeleteMissing(t *testing.T, b store.Backend) {
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Delete("nope") }); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func testEmptyValue(t *testing.T, b store.Backend) {
	put(t, b, "empty", "")
	var v []byte
	err := b.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = tx.Get("empty")
		return err
	})
	if err != nil {
		t.Fatalf("Get(empty value) = %v, want found", err)
	}
	if len(v) != 0 {
		t.Fatalf("Get(empty value) = %q", v)
	}
	wantKeys(t, "List", list(t, b, "", "", 0), []string{"empty"})
}

func testEmptyKey(t *testing.T, b store.Backend) {
	err := b.Update(ctx, func(tx store.Tx) error { return tx.Put("", []byte("x")) })
	if err == nil {
		t.Fatal(`Put("") succeeded, want error`)
	}
	wantKeys(t, "List", list(t, b, "", "", 0), nil)
}

func testLargeValue(t *testing.T, b store.Backend) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	put(t, b, "big", string(big))
	got, _ := get(t, b, "big")
	if got != string(big) {
		t.Fatal("1 MiB value did not round-trip")
	}
}

func testListOrder(t *testing.T, b store.Backend) {
	want := make([]string, 200)
	for i := range want {
		want[i] = fmt.Sprintf("k/%04d", i)
	}
	shuffled := append([]string(nil), want...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// Several transactions, random order.
	for len(shuffled) > 0 {
		n := min(len(shuffled), 37)
		var kv []string
		for _, k := range shuffled[:n] {
			kv = append(kv, k, "v"+k)
		}
		put(t, b, kv...)
		shuffled = shuffled[n:]
	}
	wantKeys(t, "List(all)", list(t, b, "", "", 0), want)
	wantKeys(t, "List(limit -1)", list(t, b, "", "", -1), want)
	wantKeys(t, "List(limit 3)", list(t, b, "k/", "", 3), want[:3])
	// Values come with their keys.
	err := b.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("k/", "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if string(kv.Value) != "v"+kv.Key {
				return fmt.Errorf("List value of %q = %q", kv.Key, kv.Value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListPrefixBoundaries(t *testing.T, b store.Backend) {
	put(t, b,
		"a", "", "a.", "", "a/", "", "a/1", "", "a/2", "", "a/b/c", "", "a/\xff", "",
		"a0", "", "a00", "", "b", "", "b/", "", "b/x", "", "`", "")
	wantKeys(t, `List("a/")`, list(t, b, "a/", "", 0), []string{"a/", "a/1", "a/2", "a/b/c", "a/\xff"})
	wantKeys(t, `List("a/b/")`, list(t, b, "a/b/", "", 0), []string{"a/b/c"})
	wantKeys(t, `List("b/")`, list(t, b, "b/", "", 0), []string{"b/", "b/x"})
	wantKeys(t, `List("c")`, list(t, b, "c", "", 0), nil)
	wantKeys(t, `List("a/zz")`, list(t, b, "a/zz", "", 0), nil)
	wantKeys(t, `List("a")`, list(t, b, "a", "", 0),
		[]string{"a", "a.", "a/", "a/1", "a/2", "a/b/c", "a/\xff", "a0", "a00"})
}

func testListAfter(t *testing.T, b store.Backend) {
	put(t, b, "a/1", "", "a/2", "", "a/3", "", "a0", "", "b/1", "", "0", "")
	wantKeys(t, "after existing", list(t, b, "a/", "a/1", 0), []string{"a/2", "a/3"})
	wantKeys(t, "after absent", list(t, b, "a/", "a/15", 0), []string{"a/2", "a/3"})
	wantKeys(t, "after last", list(t, b, "a/", "a/3", 0), nil)
	wantKeys(t, "after beyond prefix", list(t, b, "a/", "a1", 0), nil)
	wantKeys(t, "after before prefix", list(t, b, "a/", "0", 0), []string{"a/1", "a/2", "a/3"})
	wantKeys(t, "after == prefix", list(t, b, "a/", "a/", 0), []string{"a/1", "a/2", "a/3"})
	wantKeys(t, "after with limit", list(t, b, "a/", "a/1", 1), []string{"a/2"})
	wantKeys(t, "no prefix, after", list(t, b, "", "a0", 0), []string{"b/1"})
}

func testListPagination(t *testing.T, b store.Backend) {
	var want []string
	var kv []string
	for i := range 53 {
		k := fmt.Sprintf("p/%02d", i)
		want = append(want, k)
		kv = append(kv, k, strconv.Itoa(i))
	}
	put(t, b, append(kv, "p", "", "p0", "", "o/9", "", "q/0", "")...)
	for _, limit := range []int{1, 2, 7, 10, 52, 53, 54, 1000} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("limit %d: pagination does not terminate", limit)
			}
			page := list(t, b, "p/", after, limit)
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			after = page[len(page)-1]
		}
		wantKeys(t, fmt.Sprintf("pages of %d", limit), got, want)
	}
}

func testListSeesOwnWrites(t *testing.T, b store.Backend) {
	put(t, b, "l/1", "", "l/3", "")
	err := b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("l/2", nil); err != nil {
			return err
		}
		if err := tx.Delete("l/3"); err != nil {
			return err
		}
		kvs, err := tx.List("l/", "", 0)
		if err != nil {
			return err
		}
		var keys []string
		for _, kv := range kvs {
			keys = append(keys, kv.Key)
		}
		if fmt.Sprint(keys) != "[l/1 l/2]" {
			return fmt.Errorf("List inside Update = %q, want [l/1 l/2]", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
