package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends from 64 concurrent writers,
// sharing fsyncs (group commit) and with one fsync per record:
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3s ./internal/audit/
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []struct {
		name string
		each bool
	}{{"group-commit", false}, {"fsync-per-record", true}} {
		b.Run(mode.name, func(b *testing.B) {
			l := openTest(b, b.TempDir(), func(o *Options) { o.SyncEachRecord = mode.each })
			ctx := context.Background()
			if err := l.Record(ctx, event("dev", 0)); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(64 / max(1, runtimeProcs()))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				e := event("dev", 1)
				for pb.Next() {
					if err := l.Record(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkSyncCPU measures what one fsync of an appended record costs the
// whole machine in CPU (all cores, kernel threads included, from
// /proc/stat), besides its latency: the figure behind CommitInterval.
//
//	go test -run '^$' -bench BenchmarkSyncCPU ./internal/audit/
func BenchmarkSyncCPU(b *testing.B) {
	if _, _, err := machineCPU(); err != nil {
		b.Skip("no /proc/stat:", err)
	}
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "seg"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	busy0, total0, _ := machineCPU()
	for b.Loop() {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	busy1, total1, _ := machineCPU()
	if total1 > total0 {
		share := float64(busy1-busy0) / float64(total1-total0) // of all cores
		perOp := share * float64(runtime.NumCPU()) * float64(b.Elapsed().Microseconds()) / float64(b.N)
		b.ReportMetric(perOp, "cpu-µs/op")
	}
}

// machineCPU returns the busy and total jiffies of all CPUs (busy.go's
// reading of /proc/stat).
func machineCPU() (busy, total uint64, err error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return cpuJiffies(raw)
}
