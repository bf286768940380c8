package etcd_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/store/etcd"
	"github.com/mhsm/mhsm/internal/store/etcdtest"
)

// The etcd benchmarks run against a real 3-member cluster on loopback
// (every member fsyncs its WAL on this machine's disk). docs/scale.md
// reports and extrapolates them.

// BenchmarkEtcdUpdate is a read-modify-write of a distinct key per
// operation (no conflicts): the cluster's write rate for mhsm's shape of
// transaction, at the parallelism -cpu × GOMAXPROCS goroutines.
func BenchmarkEtcdUpdate(b *testing.B) {
	c := etcdtest.Start(b, 3, etcdtest.Options{})
	st := benchEtcd(b, c)
	val := make([]byte, 1024) // about a key version record
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := "bench/" + strconv.FormatInt(n.Add(1), 10)
			if err := st.Update(context.Background(), func(tx store.Tx) error {
				if _, err := tx.Get(k); err != store.ErrNotFound {
					return fmt.Errorf("get: %v", err)
				}
				return tx.Put(k, val)
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEtcdUpdateHot is the same read-modify-write on one key from 8
// goroutines per CPU: every commit but one per round conflicts and
// retries. It reports the conflict retries per committed update.
func BenchmarkEtcdUpdateHot(b *testing.B) {
	c := etcdtest.Start(b, 3, etcdtest.Options{})
	st := benchEtcd(b, c)
	var attempts atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Update(context.Background(), func(tx store.Tx) error {
				attempts.Add(1)
				v, err := tx.Get("hot")
				if err != nil && err != store.ErrNotFound {
					return err
				}
				n, _ := strconv.Atoi(string(v))
				return tx.Put("hot", []byte(strconv.Itoa(n+1)))
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(attempts.Load()-int64(b.N))/float64(b.N), "retries/op")
}

// BenchmarkEtcdFeedFanout measures, for 1, 4 and 16 watching processes
// (each its own client and watch, as mhsm nodes are), the time from a
// committed write to its delivery on every one of them.
func BenchmarkEtcdFeedFanout(b *testing.B) {
	c := etcdtest.Start(b, 3, etcdtest.Options{})
	for _, watchers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("nodes=%d", watchers), func(b *testing.B) {
			prefix := fmt.Sprintf("fan%d/", prefixes.Add(1))
			writer, err := etcd.OpenEtcd(context.Background(), etcd.EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix})
			if err != nil {
				b.Fatal(err)
			}
			defer writer.Close()
			seen := make(chan string, watchers*4)
			for range watchers {
				w, err := etcd.OpenEtcd(context.Background(), etcd.EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				w.Feed().Subscribe(func(ch store.Change) {
					for _, k := range ch.Keys {
						seen <- k
					}
				})
			}
			b.ResetTimer()
			for i := range b.N {
				k := "k/" + strconv.Itoa(i)
				if err := writer.Update(context.Background(), func(tx store.Tx) error { return tx.Put(k, nil) }); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < watchers; {
					select {
					case s := <-seen:
						if s == k {
							got++
						}
					case <-time.After(10 * time.Second):
						b.Fatal("a watcher did not see the write in 10 s")
					}
				}
			}
		})
	}
}

func benchEtcd(b *testing.B, c *etcdtest.Cluster) *etcd.Etcd {
	b.Helper()
	st, err := etcd.OpenEtcd(context.Background(), etcd.EtcdOptions{Endpoints: c.Endpoints(), Prefix: fmt.Sprintf("b%d/", prefixes.Add(1))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}
