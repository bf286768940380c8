package throttle

import (
	"math"
	"testing"
	"time"
)

// fakeFair returns a Fair on a clock the test moves.
func fakeFair(capacity float64) (*Fair, *time.Time) {
	f := NewFair(capacity)
	t0 := time.Unix(1_700_000_000, 0)
	f.now = func() time.Time { return t0 }
	return f, &t0
}

// drive simulates callers sending work for d in steps of 1 ms: each step,
// every caller whose request is admitted does cost[caller] units of work.
// It returns the units each caller got done.
func drive(f *Fair, now *time.Time, d time.Duration, cost map[string]float64) map[string]float64 {
	done := map[string]float64{}
	for t := time.Duration(0); t < d; t += time.Millisecond {
		*now = now.Add(time.Millisecond)
		for k, c := range cost {
			if ok, _ := f.Admit(k); ok {
				f.Charge(k, c)
				done[k] += c
			}
		}
	}
	return done
}

func TestFairLoneCallerIsNeverRefused(t *testing.T) {
	// 2 units per ms = 2,000 units/s: twice the machine. A lone caller is
	// the whole capacity's only claimant and must never be refused.
	f, now := fakeFair(1000)
	for i := 0; i < 5000; i++ {
		*now = now.Add(time.Millisecond)
		if ok, _ := f.Admit("alone"); !ok {
			t.Fatalf("lone caller refused after %d ms", i)
		}
		f.Charge("alone", 2)
	}
}

func TestFairQuietCallerKeepsItsShareBesideAFlood(t *testing.T) {
	f, now := fakeFair(1000)
	// noisy wants 3,000 units/s, quiet 100: quiet is under an equal split
	// (500), so it is never refused; noisy is cut back to about what is left.
	drive(f, now, time.Second, map[string]float64{"noisy": 3})
	done := drive(f, now, 5*time.Second, map[string]float64{"noisy": 3, "quiet": 0.1})
	if want := 0.1 * 5000; math.Abs(done["quiet"]-want) > 1e-6 {
		t.Fatalf("quiet caller got %.1f units, want all %.1f", done["quiet"], want)
	}
	if got := done["noisy"] / 5; got > 1000 || got < 700 {
		t.Fatalf("noisy caller got %.0f units/s, want about the 900 left (≤ capacity)", got)
	}
}

func TestFairTwoFloodsSplitEvenlyByCost(t *testing.T) {
	// Two callers both above their share: each gets about half the machine
	// in cost units, whatever their request sizes (weighted by cost).
	f, now := fakeFair(1000)
	done := drive(f, now, 10*time.Second, map[string]float64{"rsa": 4, "aes": 1})
	rsa, aes := done["rsa"]/10, done["aes"]/10
	if rsa < 350 || aes < 350 || rsa > 650 || aes > 650 {
		t.Fatalf("shares rsa=%.0f aes=%.0f units/s, want about 500 each", rsa, aes)
	}
}

func TestFairRetryAfterIsTheDecayTime(t *testing.T) {
	f, now := fakeFair(1000)
	f.Charge("a", 3000) // rate 3,000/s against a share of 1,000 (alone)…
	f.Charge("b", 10)   // …b active: share = 1000-10 = 990
	f.shared = time.Time{}
	ok, wait := f.Admit("a")
	if ok {
		t.Fatal("a above its share was admitted")
	}
	// ln(3000/990) ≈ 1.11 s → rounds to 1 s.
	if wait != time.Second {
		t.Fatalf("Retry-After %v, want 1s", wait)
	}
	*now = now.Add(2 * time.Second)
	if ok, _ := f.Admit("a"); !ok {
		t.Fatal("a still refused after its usage decayed below the share")
	}
}

func TestWaterLevel(t *testing.T) {
	for _, c := range []struct {
		rates    []float64
		capacity float64
		want     float64
	}{
		{nil, 1000, 1000},
		{[]float64{2000}, 1000, 1000},
		{[]float64{100, 2000}, 1000, 900},
		{[]float64{600, 600}, 1000, 500},
		{[]float64{100, 200, 3000}, 1000, 700},
		{[]float64{100, 200}, 1000, 200}, // nobody above an equal split
	} {
		if got := waterLevel(append([]float64(nil), c.rates...), c.capacity); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("waterLevel(%v, %v) = %v, want %v", c.rates, c.capacity, got, c.want)
		}
	}
}

func TestFairDisabled(t *testing.T) {
	var f *Fair
	if ok, _ := f.Admit("x"); !ok {
		t.Fatal("nil Fair refused")
	}
	f.Charge("x", 1)
	z := NewFair(0)
	z.Charge("x", 1e9)
	if ok, _ := z.Admit("x"); !ok {
		t.Fatal("zero-capacity Fair refused")
	}
}
