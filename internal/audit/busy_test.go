package audit

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestCPUJiffies: the first line of /proc/stat as proc(5) lays it out
// (user nice system idle iowait irq softirq steal guest guest_nice); guest
// time is already counted in user and nice, so it is not added again.
func TestCPUJiffies(t *testing.T) {
	stat := "cpu  100 2 30 500 8 1 4 5 7 9\ncpu0 50 1 15 250 4 0 2 2 3 4\nintr 12345\n"
	busy, total, err := cpuJiffies([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	// busy = 100+2+30+1+4+5 = 142; total = busy + 500 + 8 = 650.
	if busy != 142 || total != 650 {
		t.Fatalf("busy %d total %d, want 142 and 650", busy, total)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 x 4 5\n", "cpu 1 2\n"} {
		if _, _, err := cpuJiffies([]byte(bad)); err == nil {
			t.Errorf("cpuJiffies(%q) gave no error", bad)
		}
	}
}

// TestMachineBusyHysteresis drives the machine signal with made-up
// /proc/stat samples: on at ≥ 90 % busy over a window, off only below
// 75 %, unchanged in between, and never resampled within 100 ms.
func TestMachineBusyHysteresis(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var busy, total uint64
	s := &busySignal{
		now:  func() time.Time { return now },
		read: func() ([]byte, error) { return fmt.Appendf(nil, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, total-busy), nil },
	}
	step := func(d time.Duration, share float64) bool {
		now = now.Add(d)
		busy += uint64(share * 100)
		total += 100
		return s.machine()
	}
	if s.machine() {
		t.Fatal("busy before any window")
	}
	for i, c := range []struct {
		share float64
		want  bool
	}{
		{0.50, false}, {0.95, true}, {0.80, true}, {0.76, true}, {0.70, false}, {0.85, false}, {0.90, true}, {1.0, true}, {0.10, false},
	} {
		if got := step(100*time.Millisecond, c.share); got != c.want {
			t.Fatalf("window %d at %.0f %% busy: signal %v, want %v", i, c.share*100, got, c.want)
		}
	}
	// Within a window the last state stands, whatever the counters say.
	step(100*time.Millisecond, 1.0)
	if got := step(10*time.Millisecond, 0.0); !got {
		t.Fatal("resampled within 100 ms")
	}
	// No /proc/stat: the machine signal says nothing.
	s2 := &busySignal{now: time.Now, read: func() ([]byte, error) { return nil, errors.New("no such file") }}
	if s2.machine() {
		t.Fatal("busy without /proc/stat")
	}
}
