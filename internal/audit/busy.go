package audit

import (
	"bytes"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// busySignal tells the writers whether the CPU is what limits throughput
// (Options.Busy, the condition of the commit interval). Two signals, either
// enough:
//
//   - the machine: its CPUs were at least busyOn busy (user, system, irq…,
//     from /proc/stat) over the last window of at least busyWindow, until
//     they fall under busyOff. This is the one that matters when the load
//     comes from other processes (a load generator, other services on the
//     machine): an fsync's CPU (journal commit, device flush, interrupts,
//     ~130 µs on this kind of VM) is taken from them as much as from us.
//     A server alone at full load trips it too.
//   - this process: a running mean of at least 16 runnable goroutines per
//     P (runtime/metrics), for when /proc/stat is not there (not Linux) or
//     the process is confined to fewer CPUs than the machine has.
//
// Why not the run queue alone (the signal before this one): a separate
// server process serving 16 connections at full load keeps only a few
// goroutines runnable, never 16 per P, so every request paid an fsync of
// its own and durable audit cost 47–56 % of ES256 sign, AES-GCM encrypt
// and key get (std client, 16 connections, docs/performance.md).
type busySignal struct {
	mu       sync.Mutex // held by the one caller taking a sample
	at       time.Time  // when the last sample was taken
	busy     uint64     // its busy and total jiffies
	total    uint64
	on       atomic.Bool   // the machine signal's state
	runQueue atomic.Uint64 // the process signal's running mean (float64 bits)
	// read returns /proc/stat; nil error with ok=false means there is none.
	read func() ([]byte, error)
	now  func() time.Time
}

const (
	busyWindow = 100 * time.Millisecond // /proc/stat counts 10 ms ticks: ≥ 20 per window on 2 CPUs
	busyOn     = 0.90
	busyOff    = 0.75
)

var defaultBusy = &busySignal{read: func() ([]byte, error) { return os.ReadFile("/proc/stat") }, now: time.Now}

// saturated reports whether either signal says the CPU is saturated.
// About 0.1 µs, and a /proc/stat read (~10 µs) at most every busyWindow,
// by whichever caller comes first; called before every commit.
func (s *busySignal) saturated() bool {
	machine := s.machine()
	process := s.process()
	return machine || process
}

// machine updates (at most once per busyWindow) and returns the machine
// signal.
func (s *busySignal) machine() bool {
	if !s.mu.TryLock() {
		return s.on.Load()
	}
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.at) < busyWindow {
		return s.on.Load()
	}
	raw, err := s.read()
	if err != nil {
		return false
	}
	busy, total, err := cpuJiffies(raw)
	if err != nil {
		return false
	}
	if !s.at.IsZero() && total > s.total {
		share := float64(busy-min(busy, s.busy)) / float64(total-s.total)
		switch {
		case share >= busyOn:
			s.on.Store(true)
		case share < busyOff:
			s.on.Store(false)
		}
	}
	s.at, s.busy, s.total = now, busy, total
	return s.on.Load()
}

// process updates and returns the run-queue signal: on average over the
// last commits (an exponentially weighted mean, weight 1/8, so a momentary
// burst does not count) at least 16 goroutines per P waiting to run.
func (s *busySignal) process() bool {
	m := []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return false
	}
	n := float64(m[0].Value.Uint64())
	// Writers of several chains may race here; the mean stays approximate,
	// which is all it needs to be.
	avg := math.Float64frombits(s.runQueue.Load())
	avg += (n - avg) / 8
	s.runQueue.Store(math.Float64bits(avg))
	return avg >= 16*float64(runtime.GOMAXPROCS(0))
}

// cpuJiffies reads the first line of /proc/stat ("cpu  user nice system
// idle iowait irq softirq steal …", summed over all CPUs): busy is all but
// idle and iowait; total is all. Guest time is already in user and nice,
// so only the first eight fields count (proc(5)).
func cpuJiffies(stat []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, errors.New("audit: /proc/stat: no cpu line")
	}
	for i, field := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil {
			return 0, 0, errors.New("audit: /proc/stat: bad cpu line")
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, nil
}
