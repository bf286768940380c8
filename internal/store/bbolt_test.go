package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/store/storetest"
)

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		b, err := store.OpenBolt(filepath.Join(t.TempDir(), "mhsm.db"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mhsm.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("a/1", []byte("one")); err != nil {
			return err
		}
		if err := tx.Put("a/2", []byte("two")); err != nil {
			return err
		}
		return tx.Put("b", []byte("bee"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Delete("a/2") }); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	err = b.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("", "", 0)
		if err != nil {
			return err
		}
		if len(kvs) != 2 || kvs[0].Key != "a/1" || string(kvs[0].Value) != "one" ||
			kvs[1].Key != "b" || string(kvs[1].Value) != "bee" {
			t.Errorf("after reopen: %q", kvs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBoltFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mhsm.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("file mode = %04o, want 0600", m)
	}
}

func TestBoltSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mhsm.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	start := time.Now()
	b2, err := store.OpenBoltWithOptions(path, store.BoltOptions{Timeout: 200 * time.Millisecond})
	if err == nil {
		b2.Close()
		t.Fatal("second open of a locked database succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("second open took %v, want about the 200ms timeout", d)
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error %q does not say the data dir is in use", err)
	}

	// Once the first is closed the file opens again.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b3, err := store.OpenBoltWithOptions(path, store.BoltOptions{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b3.Close()
}

func TestBoltCheck(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "mhsm.db"))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 10000) // values up to this size need overflow pages
	for i := range 200 {
		err := b.Update(ctx, func(tx store.Tx) error {
			for j := range 10 {
				if err := tx.Put(fmt.Sprintf("k/%d/%03d", j, i), big[:(i*j*37)%len(big)]); err != nil {
					return err
				}
			}
			if i%3 == 0 && i > 0 {
				return tx.Delete(fmt.Sprintf("k/%d/%03d", i%10, i-1))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Check after Close = %v, want ErrClosed", err)
	}
}

func TestBoltOpenBadPath(t *testing.T) {
	_, err := store.OpenBolt(filepath.Join(t.TempDir(), "missing-dir", "mhsm.db"))
	if err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}
