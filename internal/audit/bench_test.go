package audit

import (
	"context"
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
