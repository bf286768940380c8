package hsm

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// BenchmarkFullBackupHeap backs up HSMs of 1,000 keys x 2 versions, 5,000
// keys (the most an HSM holds, MaxKeys) x 2 versions = 10,000 key
// versions, and 5,000 keys x 4 versions, EC P-256 and AES-256 alternating,
// from a bbolt store (the server's default, whose data is mmap'd, not Go
// heap, so the Go heap before the backup is small) into a local folder.
// It reports the archive size and the peak live heap during the backup
// above the live heap before it: a sampler forces a GC and reads HeapAlloc
// every millisecond, so the figure is memory held, not garbage the GC has
// not collected yet (HeapInuse without forced GCs follows the GC pacer,
// not the backup). A backup streams parts, so the peak should not grow
// with the number of keys.
//
//	go test ./internal/hsm/ -run '^$' -bench BenchmarkFullBackupHeap -benchtime 1x
func BenchmarkFullBackupHeap(b *testing.B) {
	for _, size := range []struct{ keys, versions int }{{1000, 2}, {MaxKeys, 2}, {MaxKeys, 4}} {
		b.Run(fmt.Sprintf("keys=%d/versions=%d", size.keys, size.keys*size.versions), func(b *testing.B) {
			ctx := context.Background()
			s, h := bboltService(b, size.keys, size.versions)
			dir := backup.Dir(b.TempDir())
			var peak, restorePeak, archive uint64
			b.ResetTimer()
			for i := range b.N {
				folder := dir.Folder(fmt.Sprintf("b%d", i))
				var m *backup.Manifest
				p, err := peakLiveHeap(func() (err error) {
					m, err = s.WriteBackup(ctx, h, folder)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, p)
				archive = 0
				for _, part := range m.Parts {
					archive += uint64(part.Size)
				}
				p, err = peakLiveHeap(func() error {
					_, err := s.RestoreBackup(ctx, h, folder, fmt.Sprintf("j%d", i))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				restorePeak = max(restorePeak, p)
			}
			b.ReportMetric(float64(restorePeak)/(1<<20), "restore-peak-live-heap-MiB")
			b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MiB")
			b.ReportMetric(float64(archive)/(1<<20), "archive-MiB")
		})
	}
}

// peakLiveHeap runs fn and returns the peak live heap above the live heap
// before it: a sampler forces a GC and reads HeapAlloc every millisecond.
func peakLiveHeap(fn func() error) (uint64, error) {
	for range 3 { // objects with finalizers need more than one GC
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var hi atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.GC()
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > hi.Load() {
				hi.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	err := fn()
	close(stop)
	wg.Wait()
	return hi.Load() - min(hi.Load(), base), err
}

// bboltService makes an HSM of keys x versions keys in a memory store,
// copies the store into a bbolt file in one transaction (one fsync, not
// one per key), and opens a Service on that file.
func bboltService(b *testing.B, keys, versions int) (*Service, *HSM) {
	ctx := context.Background()
	root := make([]byte, 32)
	_, _ = rand.Read(root)
	ring, _ := barrier.NewKeyring(root)
	mem := store.NewMemory()
	opts := Options{BaseURL: func(n string) string { return "https://" + n + ".managedhsm.test" }}
	s, err := NewService(ctx, mem, ring, opts)
	if err != nil {
		b.Fatal(err)
	}
	h, err := s.Create(ctx, CreateParams{Name: "h", TenantID: "00000000-0000-0000-0000-000000000001", Activated: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := range keys {
		p := &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}
		if i%2 == 1 {
			p = &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: sdInt(256)}
		}
		for range versions {
			if _, err := s.CreateKey(ctx, h, fmt.Sprintf("key%05d", i), p); err != nil {
				b.Fatal(err)
			}
		}
	}
	bolt, err := store.OpenBolt(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bolt.Close() })
	err = mem.View(ctx, func(src store.Tx) error {
		kvs, err := src.List("", "", 0)
		if err != nil {
			return err
		}
		return bolt.Update(ctx, func(dst store.Tx) error {
			for _, kv := range kvs {
				if err := dst.Put(kv.Key, kv.Value); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err = NewService(ctx, bolt, ring, opts)
	if err != nil {
		b.Fatal(err)
	}
	h, _ = s.Get("h")
	return s, h
}
