package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/store/etcd"
	"github.com/mhsm/mhsm/internal/store/etcdtest"
	"github.com/mhsm/mhsm/internal/store/storetest"
)

var prefixes atomic.Int64

// openEtcd opens a backend on a fresh key prefix of cluster c.
func openEtcd(t *testing.T, c *etcdtest.Cluster, mod func(*etcd.EtcdOptions)) *etcd.Etcd {
	t.Helper()
	o := etcd.EtcdOptions{Endpoints: c.Endpoints(), Prefix: fmt.Sprintf("t%d/", prefixes.Add(1))}
	if mod != nil {
		mod(&o)
	}
	b, err := etcd.OpenEtcd(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEtcd runs the conformance suite against a real 3-member cluster.
func TestEtcd(t *testing.T) {
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	storetest.Run(t, func(t *testing.T) store.Backend { return openEtcd(t, c, nil) })
	// Small pages: List must page through long ranges.
	t.Run("Paged", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Backend {
			return openEtcd(t, c, func(o *etcd.EtcdOptions) { o.PageSize = 3 })
		})
	})
}

func TestEtcdRefusesTooLarge(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	b := openEtcd(t, c, nil)
	defer b.Close()
	ctx := context.Background()
	big := make([]byte, etcd.DefaultEtcdMaxTxnBytes)
	err := b.Update(ctx, func(tx store.Tx) error { return tx.Put("big", big) })
	if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "max-request-bytes") {
		t.Fatalf("Put of %d bytes = %v, want ErrTooLarge naming the limit", len(big), err)
	}
	err = b.Update(ctx, func(tx store.Tx) error {
		for i := range etcd.DefaultEtcdMaxTxnOps + 1 {
			if err := tx.Put(fmt.Sprintf("k/%d", i), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("%d puts = %v, want ErrTooLarge", etcd.DefaultEtcdMaxTxnOps+1, err)
	}
	if err := b.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("", "", 0)
		if err == nil && len(kvs) != 0 {
			err = fmt.Errorf("refused transactions left %d keys", len(kvs))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestEtcdServerLimitNamed: a member running with etcd's default
// --max-txn-ops (128) refuses a bigger transaction; the error says which
// flags disagree.
func TestEtcdServerLimitNamed(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128})
	b := openEtcd(t, c, nil)
	defer b.Close()
	err := b.Update(context.Background(), func(tx store.Tx) error {
		for i := range 200 {
			if err := tx.Put(fmt.Sprintf("k/%d", i), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), "--max-txn-ops") {
		t.Fatalf("200 puts on a 128-op member = %v, want ErrTooLarge naming --max-txn-ops", err)
	}
}

// TestEtcdFeed checks that a write by one process reaches another's feed,
// and that a compaction past what a process applied resets it.
func TestEtcdFeed(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	a := openEtcd(t, c, nil)
	defer a.Close()
	prefix := fmt.Sprintf("t%d/", prefixes.Load())
	bo, err := etcd.OpenEtcd(context.Background(), etcd.EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer bo.Close()
	got := make(chan store.Change, 16)
	bo.Feed().Subscribe(func(ch store.Change) { got <- ch })
	ctx := context.Background()
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Put("hsm/x/ra/1", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-got:
		if ch.Reset || len(ch.Keys) != 1 || ch.Keys[0] != "hsm/x/ra/1" || ch.Revision == 0 {
			t.Fatalf("change = %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	if err := bo.Feed().Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
}

// TestEtcdUnavailable: with 2 of 3 members down an Update fails with
// ErrUnavailable (it may still be applied once the quorum is back: it was
// not acknowledged); with the quorum back, writes work again.
func TestEtcdUnavailable(t *testing.T) {
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	b := openEtcd(t, c, func(o *etcd.EtcdOptions) { o.OpTimeout = 2 * time.Second })
	defer b.Close()
	ctx := context.Background()
	c.Stop(1)
	c.Stop(2)
	err := b.Update(ctx, func(tx store.Tx) error { return tx.Put("unacked", []byte("x")) })
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Update without quorum = %v, want ErrUnavailable", err)
	}
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Put("acked", []byte("y")) }); err != nil {
		t.Fatalf("Update with quorum back = %v", err)
	}
	if err := b.View(ctx, func(tx store.Tx) error { _, err := tx.Get("acked"); return err }); err != nil {
		t.Fatal(err)
	}
}
