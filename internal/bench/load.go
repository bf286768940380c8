package bench

import (
	"context"
	"math"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Phase is the outcome of one load run of one operation.
type Phase struct {
	// OpsPerSec counts successful (2xx) responses completed in the window.
	OpsPerSec float64 `json:"opsPerSec"`
	// TargetOpsPerSec is the paced rate (rate-limited runs only).
	TargetOpsPerSec float64 `json:"targetOpsPerSec,omitempty"`
	N               int     `json:"n"`
	Errors          int     `json:"errors"`
	P50Ms           float64 `json:"p50Ms"`
	P90Ms           float64 `json:"p90Ms"`
	P99Ms           float64 `json:"p99Ms"`
	MaxMs           float64 `json:"maxMs"`
	// FirstError describes the first failed request, if any.
	FirstError string  `json:"firstError,omitempty"`
	WallSec    float64 `json:"wallSec"`
}

// worker results, merged after the run.
type tally struct {
	lat      []time.Duration
	errors   int
	firstErr string
}

// runLoad sends req on conns for warmup+d. rate 0 is closed loop (each
// connection sends its next request as soon as the last one answers);
// rate > 0 paces the connections together at rate requests/s, and latency
// is measured from each request's scheduled time, so a stall is charged to
// every request it delays (no coordinated omission).
//
// window, if not nil, is called when the measured window opens (true) and
// closes (false), e.g. to profile exactly the window.
func runLoad(ctx context.Context, t *Target, conns []*conn, req []byte, warmup, d time.Duration, rate float64, window func(open bool)) Phase {
	start := time.Now().Add(warmup)
	end := start.Add(d)
	tallies := make([]tally, len(conns))
	var wg sync.WaitGroup
	var stop atomic.Bool
	windowDone := make(chan struct{})
	go func() {
		defer close(windowDone)
		select {
		case <-ctx.Done():
			stop.Store(true)
			return
		case <-time.After(time.Until(start)):
		}
		if window != nil {
			window(true)
		}
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-time.After(time.Until(end)):
		}
		if window != nil {
			window(false)
		}
	}()
	for i := range conns {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) {
			defer wg.Done()
			tl := &tallies[i]
			tl.lat = make([]time.Duration, 0, 4096)
			var next time.Time
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(len(conns)) / rate * float64(time.Second))
				next = time.Now().Add(time.Duration(float64(i) / rate * float64(time.Second)))
			}
			for !stop.Load() {
				var t0 time.Time
				if rate > 0 {
					if next.After(end) {
						return
					}
					if w := time.Until(next); w > 0 {
						time.Sleep(w)
					}
					t0 = next
					next = next.Add(interval)
				} else {
					t0 = time.Now()
					if t0.After(end) {
						return
					}
				}
				status, _, err := conns[i].do(req)
				t1 := time.Now()
				if err != nil {
					conns[i].Close()
					if nc, derr := t.dial(ctx, t.tlsConfig()); derr == nil {
						conns[i] = nc
					} else {
						stop.Store(true)
					}
					if err == errClosed && status/100 == 2 {
						err = nil
					}
				}
				if t1.Before(start) || t1.After(end) {
					continue
				}
				switch {
				case err != nil:
					tl.errors++
					if tl.firstErr == "" {
						tl.firstErr = err.Error()
					}
				case status/100 != 2:
					tl.errors++
					if tl.firstErr == "" {
						tl.firstErr = "HTTP " + itoa(status) + ": " + truncate(conns[i].body)
					}
				default:
					tl.lat = append(tl.lat, t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	<-windowDone
	var all []time.Duration
	p := Phase{TargetOpsPerSec: rate, WallSec: d.Seconds()}
	for _, tl := range tallies {
		all = append(all, tl.lat...)
		p.Errors += tl.errors
		if p.FirstError == "" {
			p.FirstError = tl.firstErr
		}
	}
	slices.Sort(all)
	p.N = len(all)
	p.OpsPerSec = float64(p.N) / d.Seconds()
	p.P50Ms, p.P90Ms, p.P99Ms = pct(all, 0.50), pct(all, 0.90), pct(all, 0.99)
	if len(all) > 0 {
		p.MaxMs = ms(all[len(all)-1])
	}
	return p
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return ms(sorted[max(i, 0)])
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// runRaw runs op on GOMAXPROCS goroutines for d and returns ops/s.
func runRaw(ctx context.Context, newOp func() (func() error, error), d time.Duration) (float64, error) {
	n := runtime.GOMAXPROCS(0)
	ops := make([]func() error, n)
	for i := range ops {
		op, err := newOp()
		if err != nil {
			return 0, err
		}
		ops[i] = op
	}
	t0 := time.Now()
	for _, op := range ops { // warm up, and time one op
		if err := op(); err != nil {
			return 0, err
		}
	}
	batch := 1 // ops between clock reads: 1 for slow ops, more for µs ones
	if per := time.Since(t0) / time.Duration(n); per < 50*time.Microsecond {
		batch = 32
	}
	var total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := range ops {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "raw"), func(context.Context) {
			defer wg.Done()
			var c int64
			for time.Now().Before(end) && ctx.Err() == nil {
				for range batch {
					if err := ops[i](); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				c += int64(batch)
			}
			total.Add(c)
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
