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
	// P99WindowMedianMs is the median of the p99s of each second of the
	// window: far below P99Ms, it says a few stalls (another process, a
	// GC) made the tail, not the steady state.
	P99WindowMedianMs float64 `json:"p99WindowMedianMs"`
	// P99FromSendMs (paced runs) is the p99 measured from when each
	// request was actually written rather than scheduled: the difference
	// is time the request waited to be sent (a late load generator on the
	// busy shared cores, or a connection still busy with the previous
	// request).
	P99FromSendMs float64 `json:"p99FromSendMs,omitempty"`
	// FirstError describes the first failed request, if any.
	FirstError string  `json:"firstError,omitempty"`
	WallSec    float64 `json:"wallSec"`
}

// worker results, merged after the run.
type tally struct {
	lat      []time.Duration
	sec      []int32         // second of the window each lat completed in
	sent     []time.Duration // paced runs: latency from the actual send
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
func runLoad(ctx context.Context, conns []sender, warmup, d time.Duration, rate float64, window func(open bool)) []tally {
	lr := &loadRun{rate: rate, conns: len(conns)}
	lr.start = time.Now().Add(warmup)
	lr.end = lr.start.Add(d)
	tallies := make([]tally, len(conns))
	windowDone := make(chan struct{})
	go func() {
		defer close(windowDone)
		lr.window(ctx, window)
	}()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) {
			defer wg.Done()
			lr.worker(ctx, i, conns[i], &tallies[i])
		})
	}
	wg.Wait()
	<-windowDone
	return tallies
}

// loadRun is one load phase shared by its workers.
type loadRun struct {
	rate       float64
	conns      int
	start, end time.Time
	stop       atomic.Bool
}

// window calls f when the measured window opens and closes, and stops the
// workers if ctx ends.
func (lr *loadRun) window(ctx context.Context, f func(open bool)) {
	for _, at := range []struct {
		t    time.Time
		open bool
	}{{lr.start, true}, {lr.end, false}} {
		select {
		case <-ctx.Done():
			lr.stop.Store(true)
			return
		case <-time.After(time.Until(at.t)):
		}
		if f != nil {
			f(at.open)
		}
	}
}

// worker is connection i's loop.
func (lr *loadRun) worker(ctx context.Context, i int, c sender, tl *tally) {
	tl.lat = make([]time.Duration, 0, 4096)
	tl.sec = make([]int32, 0, 4096)
	var next time.Time
	var interval time.Duration
	if lr.rate > 0 {
		interval = time.Duration(float64(lr.conns) / lr.rate * float64(time.Second))
		next = time.Now().Add(time.Duration(float64(i) / lr.rate * float64(time.Second)))
	}
	for !lr.stop.Load() {
		var t0 time.Time
		if lr.rate > 0 {
			if next.After(lr.end) {
				return
			}
			if w := time.Until(next); w > 0 {
				time.Sleep(w)
			}
			t0, next = next, next.Add(interval)
		} else if t0 = time.Now(); t0.After(lr.end) {
			return
		}
		ts := time.Now()
		status, detail, err := c.send(ctx)
		t1 := time.Now()
		if t1.Before(lr.start) || t1.After(lr.end) {
			continue
		}
		switch {
		case err != nil:
			tl.fail(err.Error())
		case status/100 != 2:
			tl.fail("HTTP " + itoa(status) + ": " + detail)
		default:
			tl.lat = append(tl.lat, t1.Sub(t0))
			tl.sec = append(tl.sec, int32(t1.Sub(lr.start)/time.Second))
			if lr.rate > 0 {
				tl.sent = append(tl.sent, t1.Sub(ts))
			}
		}
	}
}

func (tl *tally) fail(msg string) {
	tl.errors++
	if tl.firstErr == "" {
		tl.firstErr = msg
	}
}

// summarize merges the workers' tallies of windows totalling d.
func summarize(tallies []tally, rate float64, d time.Duration) Phase {
	var all, sent []time.Duration
	bySec := map[int32][]time.Duration{}
	p := Phase{TargetOpsPerSec: rate, WallSec: d.Seconds()}
	for _, tl := range tallies {
		all = append(all, tl.lat...)
		sent = append(sent, tl.sent...)
		for j, s := range tl.sec {
			bySec[s] = append(bySec[s], tl.lat[j])
		}
		p.Errors += tl.errors
		if p.FirstError == "" {
			p.FirstError = tl.firstErr
		}
	}
	slices.Sort(all)
	p.N = len(all)
	p.OpsPerSec = float64(p.N) / d.Seconds()
	p.P50Ms, p.P90Ms, p.P99Ms = pct(all, 0.50), pct(all, 0.90), pct(all, 0.99)
	if len(sent) > 0 {
		slices.Sort(sent)
		p.P99FromSendMs = pct(sent, 0.99)
	}
	var p99s []float64
	for _, l := range bySec {
		if len(l) >= 10 {
			slices.Sort(l)
			p99s = append(p99s, pct(l, 0.99))
		}
	}
	if len(p99s) > 0 {
		slices.Sort(p99s)
		p.P99WindowMedianMs = p99s[len(p99s)/2]
	}
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

// rawOps is an operation's ceiling workload: one op per GOMAXPROCS
// goroutine, and how many ops to run between clock reads.
type rawOps struct {
	ops   []func() error
	batch int
}

// newRawOps builds (and warms up) one op per GOMAXPROCS goroutine.
func newRawOps(newOp func() (func() error, error)) (*rawOps, error) {
	n := runtime.GOMAXPROCS(0)
	r := &rawOps{ops: make([]func() error, n), batch: 1}
	for i := range r.ops {
		op, err := newOp()
		if err != nil {
			return nil, err
		}
		r.ops[i] = op
	}
	t0 := time.Now()
	for _, op := range r.ops {
		if err := op(); err != nil {
			return nil, err
		}
	}
	if per := time.Since(t0) / time.Duration(n); per < 50*time.Microsecond {
		r.batch = 32 // µs operations: read the clock less often
	}
	return r, nil
}

// run runs the ops concurrently for d and returns how many completed and
// the time they took.
func (r *rawOps) run(ctx context.Context, d time.Duration) (int64, time.Duration, error) {
	var total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := range r.ops {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "raw"), func(context.Context) {
			defer wg.Done()
			var c int64
			for time.Now().Before(end) && ctx.Err() == nil {
				for range r.batch {
					if err := r.ops[i](); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				c += int64(r.batch)
			}
			total.Add(c)
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return total.Load(), time.Since(start), nil
}
