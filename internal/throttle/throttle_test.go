package throttle

import (
	"math"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestDebtAndRecovery(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(10, 20) // 10 units/s, burst 20
	l.now = c.now
	if ok, _ := l.Admit("a"); !ok {
		t.Fatal("fresh key refused")
	}
	l.Charge("a", 25) // 20 - 25 = -5
	ok, wait := l.Admit("a")
	if ok || wait != time.Second {
		t.Fatalf("in debt: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if ok, _ := l.Admit("b"); !ok {
		t.Fatal("another key was refused: buckets are not independent")
	}
	c.t = c.t.Add(600 * time.Millisecond) // -5 + 6 = 1
	if ok, _ := l.Admit("a"); !ok {
		t.Fatal("not admitted after recovery")
	}
	l.Charge("a", 1000) // debt is capped at -burst
	ok, wait = l.Admit("a")
	if ok || wait != 2*time.Second {
		t.Fatalf("capped debt: ok=%v wait=%v, want 2s", ok, wait)
	}
}

func TestDisabled(t *testing.T) {
	var l *Limiter
	l.Charge("x", 1e9)
	if ok, _ := l.Admit("x"); !ok {
		t.Fatal("nil limiter refused")
	}
	z := New(0, 0)
	z.Charge("x", 1e9)
	if ok, _ := z.Admit("x"); !ok {
		t.Fatal("zero-rate limiter refused")
	}
}

func TestIdleBucketsAreCollected(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(100, 10)
	l.now = c.now
	for i := 0; i < 100; i++ {
		k := string(rune('a'+i%26)) + string(rune('a'+i/26))
		l.Admit(k)
		l.Charge(k, 1)
	}
	c.t = c.t.Add(2 * time.Minute)
	l.Admit("z")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after idling, want 1", n)
	}
}

func TestCalibrateScalesCosts(t *testing.T) {
	defer SetScale(0)
	ref := CryptoCost("RSA-HSM", 2048, true, false)
	if ref != referenceRSA2048SignMs {
		t.Fatalf("uncalibrated RSA-2048 sign cost %v, want %v", ref, referenceRSA2048SignMs)
	}
	ms, scale := Calibrate()
	if ms <= 0 || scale < 0.1 || scale > 10 || Scale() != scale {
		t.Fatalf("Calibrate = %v ms, scale %v (Scale() %v)", ms, scale, Scale())
	}
	if got := CryptoCost("RSA-HSM", 2048, true, false); math.Abs(got-ref*scale) > 1e-9 {
		t.Fatalf("calibrated cost %v, want %v", got, ref*scale)
	}
	if got := Base(); math.Abs(got-BaseCost*scale) > 1e-12 {
		t.Fatalf("Base() = %v, want %v", got, BaseCost*scale)
	}
	SetScale(1000)
	if Scale() != 1000 {
		t.Fatal("SetScale")
	}
}
